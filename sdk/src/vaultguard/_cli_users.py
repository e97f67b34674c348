"""`vaultguard users`: the people of the admin's tenant (or, with `--as platform`, the
platform's operators): invite, list, change a role, remove.

The invitation link is printed once (the API shows it once); removing someone asks first
unless --yes, and ends their sessions at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from ._cli import (
    HANDLE,
    PROG,
    Api,
    CliError,
    Settings,
    _group,
    _leaf,
    clean,
    emit_json,
    listing,
    show_record,
)

ROLES = ("admin", "approver", "auditor", "platform")
INVITATION_FIELDS = ("invitation_id", "email", "role", "expires_at", "invitation_url")
USER_FIELDS = ("user_id", "email", "name", "role", "created_at", "last_sign_in_at")


def _user_id(value: str) -> str:
    user_id = value.strip()
    if not HANDLE.fullmatch(user_id):
        raise CliError(f"{user_id!r} is not a user id (usr_...; `{PROG} users list` shows them).")
    return user_id


def _when(value: Any) -> str:
    """An API timestamp to the second, as the other listings show them."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return clean(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _who(user: Mapping[str, Any]) -> str:
    return f"{clean(user.get('user_id'))} ({clean(user.get('email'))})"


def _confirm(question: str, args: argparse.Namespace, err: TextIO) -> bool:
    """Ask on standard error, read one line from standard input; only y/yes agrees (end of
    input, as from a script without --yes, is a no)."""
    print(f"{question} [y/N] ", end="", file=err, flush=True)
    stdin: TextIO | None = getattr(args, "stdin", None)
    try:
        answer = stdin.readline() if stdin is not None else ""
    except (OSError, ValueError):  # no usable standard input (closed, detached)
        answer = ""
    if not answer.endswith("\n"):
        print(file=err)  # end the prompt's line when nothing was typed
    return answer.strip().lower() in ("y", "yes")


def cmd_users(api: Api, settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.action == "invite":
        try:
            view = api.invite_user(args.email.strip(), args.new_role)
        except CliError as exc:
            if args.new_role == "platform" and settings.tenant_label != "the platform":
                raise CliError(f"{exc}. Platform operators are invited with --as platform.") from None
            raise
        show_record(view, INVITATION_FIELDS, args, out)
        print(
            f"{PROG}: warning: send the invitation link to {clean(view.get('email'))} now; it works "
            f"once, until {clean(view.get('expires_at'))}, and VaultGuard will not show it again.",
            file=err,
        )
        return 0
    if args.action == "set-role":
        view = api.set_user_role(_user_id(args.user_id), args.new_role)
        if args.json:
            emit_json(view, out)
        else:
            print(f"{_who(view)} is now {clean(view.get('role'))}.", file=out)
        return 0
    if args.action == "remove":
        user_id = _user_id(args.user_id)
        if not args.yes:
            known = {u.get("user_id"): u for u in api.list_users()}
            if user_id in known:  # else the API answers not_found, with nothing to confirm
                user = known[user_id]
                question = (
                    f"Remove {_who(user)}, {clean(user.get('role'))} of {clean(settings.tenant_label)}? "
                    "Their sessions end at once."
                )
                if not _confirm(question, args, err):
                    raise CliError(f"{user_id} was not removed (answer y, or pass --yes).")
        view = api.remove_user(user_id)
        if args.json:
            emit_json(view, out)
        else:
            print(f"Removed {_who(view)}; their sessions have ended.", file=out)
        return 0
    columns = (
        ("USER ID", lambda u: clean(u.get("user_id"))),
        ("EMAIL", lambda u: clean(u.get("email"), 40)),
        ("NAME", lambda u: clean(u.get("name"), 30)),
        ("ROLE", lambda u: clean(u.get("role"))),
        ("CREATED", lambda u: _when(u.get("created_at"))),
        ("LAST SIGN-IN", lambda u: _when(u.get("last_sign_in_at")) if u.get("last_sign_in_at") else "never"),
    )
    return listing(api.list_users(), columns, args, out, f"No users in {clean(settings.tenant_label)}.")


def add_users_commands(commands: Any) -> None:
    """`users list|invite|set-role|remove` under the top-level subcommands."""
    users = _group(commands, "users", "the tenant's people and their roles (admin)", func=cmd_users)
    _leaf(users, "list", "list the people who can sign in")
    invite = _leaf(users, "invite", "invite a person (the one-time sign-in link is shown once)")
    invite.add_argument("email", help="the address their identity provider will vouch for")
    invite.add_argument(
        "--role",
        dest="new_role",
        required=True,
        type=str.lower,
        choices=ROLES,
        help="admin, approver or auditor (platform, with --as platform, for an operator)",
    )
    set_role = _leaf(users, "set-role", "give a person another role")
    set_role.add_argument("user_id", help="the user id (usr_...)")
    set_role.add_argument("new_role", metavar="ROLE", type=str.lower, choices=ROLES)
    remove = _leaf(users, "remove", "remove a person; their sessions end at once")
    remove.add_argument("user_id", help="the user id (usr_...)")
    remove.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
