"""`vaultguard vault`: the token vault's connections of the admin's tenant: connect a provider
account, list, show, check and delete connections.

`connect` starts the connection and prints the provider's authorization URL: an admin of the
tenant opens it in a browser signed in to the dashboard (the provider sends that browser back
to VaultGuard, which needs the admin's session), and `--wait` follows the connection until it
is active or failed. No command ever prints a token: the API answers none. Deleting asks first
unless --yes: it revokes the grant at the provider and the agents lose access at once.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO
from urllib.parse import quote

from ._cli import PROG, Api, CliError, Settings, _group, _leaf, _positive, clean, emit_json, listing
from ._cli_users import _confirm, _when

CONNECTION_ID = re.compile(r"^con_[0-9a-f]{20}$")
AGENT_ID = re.compile(r"^agt_[0-9a-f]{20}$")
POLL_SECONDS = 2.0
WAITING = ("pending",)
REASONS = {
    "invalid_grant": "the account's access was revoked or expired at the provider; reconnect it",
    "invalid_rapt": "the provider wants the person to sign in again; reconnect it",
    "admin_policy_enforced": "the provider's administrator blocked this app for the account",
    "provider_unavailable": "the provider is unavailable or throttling; VaultGuard keeps retrying",
    "access_denied": "consent was declined or cancelled at the provider",
    "iss_mismatch": "the answer did not come from the expected provider",
    "iss_missing": "the provider's answer did not name its issuer",
    "id_token_invalid": "the provider's identity token did not verify",
    "token_error": "the provider refused to exchange the authorization code",
    "no_refresh_token": "the provider granted no offline access (no refresh token)",
    "no_code": "the provider sent no authorization code",
    "disabled_by_admin": "an admin disabled it",
    "revoked_by_admin": "an admin deleted it",
    "connect_expired": "consent was not given at the provider within 10 minutes; connect again",
    "no_federated_identity": "Auth0's Token Vault holds no account for this connection; reconnect it",
    "reconnected": "another connect of the same account replaced it",
}
REVOCATION = {
    "revoked": "its grant was revoked at the provider",
    "nothing_to_revoke": "it held no grant to revoke",
    "not_supported": "the provider offers no revocation: also remove the access in the account's settings",
    "failed": "revoking at the provider failed: also remove the access in the account's settings",
}
SHOW_FIELDS = (
    "connection_id",
    "provider",
    "label",
    "status",
    "status_reason",
    "account",
    "requested_scopes",
    "granted_scopes",
    "missing_scopes",
    "allowed_scopes",
    "agents",
    "created_at",
    "connected_at",
    "last_refresh_at",
    "last_used_at",
)


def _connection_id(value: str) -> str:
    connection_id = value.strip()
    if not CONNECTION_ID.fullmatch(connection_id):
        raise CliError(f"{connection_id!r} is not a connection id (con_...; `{PROG} vault list` shows them).")
    return connection_id


def _path(connection_id: str, tail: str = "") -> str:
    return f"/vault/connections/{quote(connection_id, safe='')}{tail}"


def _get(api: Api, connection_id: str) -> dict[str, Any]:
    return api.call("GET", _path(connection_id), f"reading {connection_id}")


def _account(view: Mapping[str, Any]) -> str:
    account = view.get("provider_account")
    if not isinstance(account, dict):
        return "-"
    return clean(account.get("email") or account.get("sub"))


def _words(values: Any) -> str:
    return " ".join(clean(v) for v in values) if isinstance(values, list) and values else "-"


def _reason(view: Mapping[str, Any]) -> str:
    """The status reason and what it means ("invalid_grant: the account's access was ...")."""
    reason = view.get("status_reason")
    if not reason:
        return "-"
    meaning = REASONS.get(str(reason))
    return f"{clean(reason)}: {meaning}" if meaning else clean(reason)


def _agents(view: Mapping[str, Any], names: Mapping[str, str]) -> str:
    ids = view.get("agent_ids")
    if not isinstance(ids, list) or not ids:
        return "none"
    return ", ".join(f"{clean(names[i])} ({clean(i)})" if i in names else clean(i) for i in ids)


def _agent_names(api: Api) -> dict[str, str]:
    agents = api.call("GET", "/agents", "listing agents").get("agents") or []
    return {str(a["agent_id"]): str(a.get("name") or a["agent_id"]) for a in agents if isinstance(a, dict)}


def _agent_ids(api: Api, given: list[str]) -> list[str]:
    """Agent ids for `--agent` values: ids as they are, names looked up among the tenant's agents."""
    wanted = [a.strip() for a in given if a.strip()]
    names = {} if all(AGENT_ID.fullmatch(a) for a in wanted) else _agent_names(api)
    by_name = {name: agent_id for agent_id, name in names.items()}
    ids = []
    for agent in wanted:
        if not AGENT_ID.fullmatch(agent) and agent not in by_name:
            raise CliError(
                f"no agent {agent!r} in the tenant (give an id or a name from `{PROG} agents list`)."
            )
        ids.append(agent if AGENT_ID.fullmatch(agent) else by_name[agent])
    return ids


def _name(view: Mapping[str, Any]) -> str:
    """`con_... (local-google, admin@medicore.example)`."""
    parts = [clean(view.get("provider"))]
    if isinstance(view.get("provider_account"), dict):
        parts.append(_account(view))
    return f"{clean(view.get('connection_id'))} ({', '.join(parts)})"


def show_connection(
    view: Mapping[str, Any], names: Mapping[str, str], args: argparse.Namespace, out: TextIO
) -> None:
    if args.json:
        emit_json(view, out)
        return
    shown = {
        **view,
        "status_reason": _reason(view),
        "account": _account(view),
        "agents": _agents(view, names),
        **{
            k: _words(view.get(k))
            for k in ("requested_scopes", "granted_scopes", "missing_scopes", "allowed_scopes")
        },
        **{k: _when(view[k]) if view.get(k) else "never" for k in ("last_refresh_at", "last_used_at")},
        **{k: _when(view[k]) if view.get(k) else "-" for k in ("created_at", "connected_at")},
    }
    width = max(len(f) for f in SHOW_FIELDS)
    for name in SHOW_FIELDS:
        value = shown.get(name)
        print(f"{name.ljust(width)}  {value if isinstance(value, str) else clean(value)}", file=out)


def wait_for(
    api: Api,
    connection_id: str,
    timeout: float,
    err: TextIO,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll the connection until it leaves `pending`; a superseded attempt (the same account
    was connected already) answers the connection it reconnected."""
    deadline = clock() + timeout
    print(
        f"{PROG}: waiting for the browser to finish (up to {timeout:g} s; Ctrl-C stops waiting)...", file=err
    )
    while True:
        view = _get(api, connection_id)
        status = view.get("status")
        if status == "superseded" and isinstance(view.get("superseded_by"), str):
            return _get(api, _connection_id(view["superseded_by"]))
        if status not in WAITING:
            return view
        if clock() >= deadline:
            raise CliError(
                f"{connection_id} is still pending after {timeout:g} s: nobody finished the consent in a "
                f"browser. `{PROG} vault show {connection_id}` shows it later; the link expires "
                "10 minutes after connect."
            )
        sleep(POLL_SECONDS)


def cmd_vault(api: Api, settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    tenant = clean(settings.tenant_label)
    if args.action == "connect":
        return _connect(api, tenant, args, out, err)
    if args.action == "show":
        connection_id = _connection_id(args.connection_id)
        view = _get(api, connection_id)
        show_connection(view, {} if args.json else _agent_names(api), args, out)
        return 0
    if args.action == "check":
        connection_id = _connection_id(args.connection_id)
        view = api.call("POST", _path(connection_id, "/check"), f"checking {connection_id}")
        if args.json:
            emit_json(view, out)
        elif view.get("status") == "active":
            print(f"{_name(view)} is active: the provider refreshed its access.", file=out)
        else:
            print(f"{_name(view)} is {clean(view.get('status'))}: {_reason(view)}.", file=out)
        return 0 if view.get("status") == "active" else 1
    if args.action == "delete":
        connection_id = _connection_id(args.connection_id)
        if not args.yes:
            view = _get(api, connection_id)  # an unknown id fails here, with nothing to confirm
            agents = _agents(view, _agent_names(api))
            question = (
                f"Delete {_name(view)} of {tenant}? Its grant is revoked at the provider and the "
                f"agents allowed to use it ({agents}) lose access at once."
            )
            if not _confirm(question, args, err):
                raise CliError(f"{connection_id} was not deleted (answer y, or pass --yes).")
        deleted = api.call("DELETE", _path(connection_id), f"deleting {connection_id}")
        if args.json:
            emit_json(deleted, out)
        else:
            outcome = REVOCATION.get(
                str(deleted.get("provider_revocation")), "the provider's answer is unknown"
            )
            print(f"Deleted {clean(deleted.get('connection_id'))}; {outcome}.", file=out)
        return 0
    connections = api.call("GET", "/vault/connections", "listing connections").get("connections") or []
    items = [c for c in connections if isinstance(c, dict)]
    names = _agent_names(api) if items and not args.json else {}
    columns = (
        ("CONNECTION ID", lambda c: clean(c.get("connection_id"))),
        ("PROVIDER", lambda c: clean(c.get("provider"))),
        ("LABEL", lambda c: clean(c.get("label"), 30)),
        ("ACCOUNT", lambda c: clean(_account(c), 40)),
        ("STATUS", lambda c: clean(c.get("status"))),
        ("REASON", lambda c: clean(c.get("status_reason"))),
        ("AGENTS", lambda c: clean(", ".join(names.get(a, a) for a in c.get("agent_ids") or []), 40)),
        ("LAST REFRESH", lambda c: _when(c["last_refresh_at"]) if c.get("last_refresh_at") else "never"),
        ("LAST USED", lambda c: _when(c["last_used_at"]) if c.get("last_used_at") else "never"),
    )
    code = listing(
        items, columns, args, out, f"No connections in {tenant}. Start one with `{PROG} vault connect`."
    )
    explained = [c for c in items if c.get("status_reason") and str(c["status_reason"]) in REASONS]
    if explained and not args.json:
        print("", file=out)
        for c in explained:
            print(f"{clean(c.get('connection_id'))}: {_reason(c)}.", file=out)
    return code


def _connect(api: Api, tenant: str, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    body: dict[str, Any] = {"provider": args.provider}
    scopes = [s for value in args.scope or [] for s in value.replace(",", " ").split()]
    if scopes:
        body["scopes"] = scopes
    if args.label:
        body["label"] = args.label
    body["agent_ids"] = _agent_ids(api, args.agent or [])
    started = api.call("POST", "/vault/connect", f"connecting {args.provider!r}", json=body)
    connection_id = str(started.get("connection_id"))
    if args.json and not args.wait:
        emit_json(started, out)
    elif not args.json:
        started = {**started, "expires_at": _when(started.get("expires_at"))}
        for name in ("connection_id", "authorize_url", "expires_at"):
            print(f"{name.ljust(13)}  {clean(started.get(name))}", file=out)
    print(
        f"{PROG}: open the authorize_url in a browser signed in to the VaultGuard dashboard as an admin "
        f"of {tenant}, and consent at the provider; it works once, until {clean(started.get('expires_at'))}.",
        file=err,
    )
    if not args.wait:
        print(f"{PROG}: then `{PROG} vault show {clean(connection_id)}` shows the connection.", file=err)
        return 0
    view = wait_for(api, _connection_id(connection_id), args.wait_timeout, err)
    if args.json:
        emit_json(view, out)
    status = view.get("status")
    if status == "active":
        if not args.json:
            print(f"Connected {_name(view)}.", file=out)
        return 0
    if not args.json:
        print(f"{_name(view)} is {clean(status)}: {_reason(view)}.", file=out)
    return 1


def add_vault_commands(commands: Any) -> None:
    """`vault connect|list|show|check|delete` under the top-level subcommands."""
    vault = _group(commands, "vault", "the token vault's connected accounts (admin)", func=cmd_vault)
    _leaf(vault, "list", "list the connections, their status and why")
    connect = _leaf(vault, "connect", "start connecting a provider account (prints the URL to open)")
    connect.add_argument("provider", help="google, local-google, oidc or oauth2 (as offered to the tenant)")
    connect.add_argument(
        "--scope", action="append", help="a scope to ask for (repeat or comma-separate; default all offered)"
    )
    connect.add_argument("--label", default=None, help="a name for the connection")
    connect.add_argument(
        "--agent",
        action="append",
        help="an agent allowed to use it, by id (agt_...) or name (repeat for more)",
    )
    connect.add_argument("--wait", action="store_true", help="wait until the connection is active or failed")
    connect.add_argument(
        "--wait-timeout", type=_positive, default=600, help="seconds to wait with --wait (default 600)"
    )
    _leaf(vault, "show", "a connection: status and why, account, scopes, agents").add_argument(
        "connection_id", help="the connection id (con_...)"
    )
    _leaf(vault, "check", "refresh the connection's access now and report its health").add_argument(
        "connection_id", help="the connection id (con_...)"
    )
    delete = _leaf(vault, "delete", "revoke at the provider and delete; agents lose access at once")
    delete.add_argument("connection_id", help="the connection id (con_...)")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
