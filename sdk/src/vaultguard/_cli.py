"""`vaultguard`: the approver's command line for step-up (CIBA) requests.

    vaultguard pending [--tenant natsupply] [--json]
    vaultguard approve <delegation_id|auth_req_id> [--reason TEXT]
    vaultguard reject  <delegation_id|auth_req_id> [--reason TEXT]

It talks to VaultGuard only over its public HTTP API, as an admin of the receiving tenant:
client credentials (client_secret_basic) at `/oauth/token`, then `GET /delegations`,
`POST /delegations/{id}/approve|reject` or `POST /stepup/{auth_req_id}/complete`.

Where the settings come from (first match wins):
  API URL        --api-url, $VAULTGUARD_API_URL, "api_url" of the state file
  credentials    --client-id/--client-secret, $VAULTGUARD_CLIENT_ID/$VAULTGUARD_CLIENT_SECRET,
                 the admin of --tenant in the state file
  state file     --state, ${VAULTGUARD_STATE_DIR:-.vaultguard}/local.json (written by `make run`)

Exit status: 0 on success, 1 when the API or the configuration refuses, 2 on bad usage.
Installed with the SDK as the `vaultguard` console script; `bin/vaultguard` and
`tools/vaultguard_cli.py` in the repository are thin wrappers around `main`.
Only the standard library and `requests`; never imports the server's code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

import requests

PROG = "vaultguard"
DEFAULT_TENANT = "natsupply"
DEFAULT_TIMEOUT = 30.0
DELEGATION_ID = re.compile(r"^dlg_[0-9a-f]{44}$")
HANDLE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
PAGE_LIMIT = 200
MAX_PAGES = 100
PURPOSE_WIDTH = 40
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class CliError(Exception):
    """A failure to report in one line (no traceback) with exit status 1."""


@dataclass(frozen=True)
class Settings:
    api_url: str
    client_id: str
    client_secret: str
    tenant_label: str
    timeout: float


# -- configuration -------------------------------------------------------------------------


def default_state_path(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("VAULTGUARD_STATE_DIR") or ".vaultguard") / "local.json"


def _load_state(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(
            f"no state file at {path}. Start VaultGuard with `make run` (it writes local.json), "
            "pass --state, or give --api-url, --client-id and --client-secret "
            "(or VAULTGUARD_API_URL, VAULTGUARD_CLIENT_ID, VAULTGUARD_CLIENT_SECRET)."
        ) from None
    except OSError as exc:
        raise CliError(f"cannot read the state file {path}: {exc.strerror or exc}.") from None
    try:
        state = json.loads(raw)
    except ValueError:
        raise CliError(f"the state file {path} is not valid JSON.") from None
    if not isinstance(state, dict):
        raise CliError(f"the state file {path} does not describe a VaultGuard stack.")
    return state


def _tenant_entry(state: Mapping[str, Any], wanted: str, path: Path) -> tuple[str, Mapping[str, Any]]:
    tenants = state.get("tenants")
    if not isinstance(tenants, dict) or not tenants:
        raise CliError(f"the state file {path} lists no tenants.")
    needle = wanted.strip().lower()
    for key, entry in tenants.items():
        if not isinstance(entry, dict):
            continue
        names = {str(key), str(entry.get("name", "")), str(entry.get("tenant_id", ""))}
        if needle in {n.lower() for n in names}:
            return str(entry.get("name") or key), entry
    known = ", ".join(sorted(str(k) for k in tenants))
    raise CliError(f"no tenant {wanted!r} in {path} (known: {known}).")


def resolve_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    api_url = args.api_url or environ.get("VAULTGUARD_API_URL") or None
    client_id = args.client_id or environ.get("VAULTGUARD_CLIENT_ID") or None
    client_secret = args.client_secret or environ.get("VAULTGUARD_CLIENT_SECRET") or None
    if (client_id is None) != (client_secret is None):
        raise CliError(
            "give the client id and the client secret together "
            "(--client-id/--client-secret or VAULTGUARD_CLIENT_ID/VAULTGUARD_CLIENT_SECRET)."
        )
    label = args.tenant
    if api_url is None or client_id is None:
        path = Path(args.state) if args.state else default_state_path(environ)
        state = _load_state(path)
        if api_url is None:
            api_url = state.get("api_url")
            if not isinstance(api_url, str) or not api_url:
                raise CliError(f"the state file {path} has no api_url; pass --api-url.")
        if client_id is None:
            label, entry = _tenant_entry(state, args.tenant, path)
            admin = entry.get("admin")
            if not isinstance(admin, dict) or not admin.get("client_id") or not admin.get("client_secret"):
                raise CliError(f"the state file {path} has no admin credentials for {label}.")
            client_id, client_secret = str(admin["client_id"]), str(admin["client_secret"])
    assert client_id is not None and client_secret is not None
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"the API URL {api_url!r} is not an http(s) URL.")
    return Settings(api_url.rstrip("/"), client_id, client_secret, label, args.timeout)


# -- HTTP ----------------------------------------------------------------------------------


class Api:
    """A small client for the admin endpoints; every failure becomes a CliError."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self._settings = settings
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = "vaultguard-cli/1"
        self._token: str | None = None

    def close(self) -> None:
        self._session.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self._settings.api_url}{path}"
        try:
            return self._session.request(method, url, timeout=self._settings.timeout, **kwargs)
        except requests.Timeout:
            raise CliError(
                f"VaultGuard at {self._settings.api_url} did not answer within {self._settings.timeout:g} s."
            ) from None
        except requests.RequestException as exc:
            raise CliError(
                f"cannot reach VaultGuard at {self._settings.api_url} ({type(exc).__name__}). "
                "Is it running (`make run`)?"
            ) from None

    def _json(self, reply: requests.Response, what: str) -> dict[str, Any]:
        try:
            body = reply.json()
        except ValueError:
            body = None
        if reply.ok and isinstance(body, dict):
            return body
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            description = body.get("error_description") or "(no description)"
            message = f"{clean(body['error'], 100)}: {clean(description, 500)}"
            details = [f"HTTP {reply.status_code}"]
            if reply.headers.get("Retry-After"):
                details.append(f"retry after {clean(reply.headers['Retry-After'], 20)} s")
            if body.get("request_id"):
                details.append(f"request_id {clean(body['request_id'], 100)}")
            raise CliError(f"{what} failed: {message} ({', '.join(details)})")
        raise CliError(f"{what} failed: unexpected HTTP {reply.status_code} answer from {clean(reply.url)}")

    def token(self) -> str:
        if self._token is None:
            reply = self._send(
                "POST",
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(self._settings.client_id, self._settings.client_secret),
                headers={"Accept": "application/json"},
            )
            try:
                body = self._json(reply, "signing in")
            except CliError as exc:
                if reply.status_code == 401:
                    raise CliError(f"{exc}. Check the admin client id and secret.") from None
                raise
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise CliError("signing in failed: the token endpoint returned no access_token.")
            self._token = token
        return self._token

    def call(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json"}
        return self._json(self._send(method, path, headers=headers, **kwargs), what)

    def pending(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"direction": "inbound", "status": "PENDING", "limit": PAGE_LIMIT}
            if cursor:
                params["cursor"] = cursor
            page = self.call("GET", "/delegations", "listing pending requests", params=params)
            items.extend(d for d in page.get("delegations") or [] if isinstance(d, dict))
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return items

    def decide(self, identifier: str, approve: bool, reason: str | None) -> dict[str, Any]:
        verb = "approve" if approve else "reject"
        what = f"{'approving' if approve else 'rejecting'} {identifier}"
        if DELEGATION_ID.fullmatch(identifier):
            body = {"reason": reason} if reason else None
            return self.call("POST", f"/delegations/{identifier}/{verb}", what, json=body)
        complete: dict[str, Any] = {"decision": verb}
        if reason:
            complete["reason"] = reason
        return self.call("POST", f"/stepup/{quote(identifier, safe='')}/complete", what, json=complete)


# -- output --------------------------------------------------------------------------------


def clean(value: Any, width: int | None = None) -> str:
    """Text from the API made safe for a terminal (agents write some of it: no escape
    sequences or line breaks get through), optionally cut to `width` characters."""
    if value is None or value == "":
        return "-"
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return "-"
    left = max(0, int(seconds))
    if left == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join(parts[:2])


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    return "\n".join(lines)


def pending_table(items: Sequence[Mapping[str, Any]]) -> str:
    headers = ("ID", "FROM", "AGENT", "ACTION", "BINDING MESSAGE", "PURPOSE", "TTL", "TIME LEFT")
    rows = [
        (
            clean(item.get("delegation_id")),
            clean(item.get("requesting_tenant_name") or item.get("requesting_tenant_id")),
            clean(item.get("agent_name") or item.get("agent_id")),
            clean(item.get("action")),
            clean(item.get("binding_message")),
            clean(item.get("purpose"), PURPOSE_WIDTH),
            duration(item.get("ttl_seconds")),
            duration(item.get("expires_in")),
        )
        for item in items
    ]
    return table(headers, rows)


def decision_line(view: Mapping[str, Any], approve: bool, reason: str | None) -> str:
    who = f"{clean(view.get('requesting_tenant_name'))} / {clean(view.get('agent_name'))}"
    head = f"{'Approved' if approve else 'Rejected'} {clean(view.get('delegation_id'))}: {who}, "
    head += f"{clean(view.get('action'))} (status {clean(view.get('status'))}"
    if approve and view.get("expires_in") is not None:
        head += f", token valid for {duration(view.get('expires_in'))}"
    head += ")"
    if reason:
        head += f"; reason: {clean(reason)}"
    return head + "."


# -- commands ------------------------------------------------------------------------------


def cmd_pending(api: Api, settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    items = api.pending()
    if args.json:
        json.dump(items, out, indent=2, sort_keys=True)
        out.write("\n")
        return 0
    if not items:
        print(f"No pending step-up requests for {clean(settings.tenant_label)}.", file=out)
        return 0
    print(pending_table(items), file=out)
    print(
        f"\n{len(items)} pending for {clean(settings.tenant_label)}. "
        f"Decide with `{PROG} approve <ID>` or `{PROG} reject <ID> --reason ...`.",
        file=out,
    )
    return 0


def cmd_decide(api: Api, settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    identifier = args.id.strip()
    if not HANDLE.fullmatch(identifier):
        raise CliError(f"{identifier!r} is neither a delegation id (dlg_...) nor an auth_req_id.")
    approve = args.command == "approve"
    view = api.decide(identifier, approve, args.reason)
    print(decision_line(view, approve, args.reason), file=out)
    return 0


# -- entry point ---------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Connection options, accepted before and after the subcommand."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection")
    group.add_argument(
        "--tenant",
        default=default(DEFAULT_TENANT),
        help="whose admin credentials to take from the state file (key, name or id; default natsupply)",
    )
    group.add_argument(
        "--state",
        default=default(None),
        help="state file written by `make run` (default ${VAULTGUARD_STATE_DIR:-.vaultguard}/local.json)",
    )
    group.add_argument("--api-url", default=default(None), help="API base URL (or $VAULTGUARD_API_URL)")
    group.add_argument(
        "--client-id", default=default(None), help="admin client id (or $VAULTGUARD_CLIENT_ID)"
    )
    group.add_argument(
        "--client-secret",
        default=default(None),
        help="admin client secret (prefer $VAULTGUARD_CLIENT_SECRET: arguments are visible to other users)",
    )
    group.add_argument(
        "--timeout", type=float, default=default(DEFAULT_TIMEOUT), help="HTTP timeout in seconds (default 30)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Review and decide VaultGuard step-up requests addressed to your tenant.",
        epilog="Environment: VAULTGUARD_STATE_DIR, VAULTGUARD_API_URL, VAULTGUARD_CLIENT_ID, "
        "VAULTGUARD_CLIENT_SECRET.",
    )
    _common(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    pending = commands.add_parser("pending", help="list pending inbound step-up requests")
    pending.add_argument("--json", action="store_true", help="print the requests as JSON")
    _common(pending, suppress=True)
    for name, verb in (("approve", "approve"), ("reject", "reject")):
        sub = commands.add_parser(name, help=f"{verb} a pending request")
        sub.add_argument("id", help="the delegation id (dlg_...) or the auth_req_id")
        sub.add_argument("--reason", default=None, help="why (kept in both tenants' audit logs)")
        _common(sub, suppress=True)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one command and return its exit status; errors are reported in one line, never
    as a traceback (set VAULTGUARD_DEBUG=1 to see one for an unexpected failure)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    env = os.environ if environ is None else environ
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help or a usage error; argparse has printed it
        return exc.code if isinstance(exc.code, int) else 2
    if args.timeout <= 0:
        print(f"{PROG}: error: --timeout must be positive.", file=err)
        return 2
    api: Api | None = None
    try:
        settings = resolve_settings(args, env)
        host = urlsplit(settings.api_url).hostname or ""
        if settings.api_url.startswith("http://") and host not in LOOPBACK_HOSTS:
            print(f"{PROG}: warning: {settings.api_url} is plain HTTP; credentials go unencrypted.", file=err)
        api = Api(settings)
        command = cmd_pending if args.command == "pending" else cmd_decide
        return command(api, settings, args, out)
    except CliError as exc:
        print(f"{PROG}: error: {exc}", file=err)
        return 1
    except BrokenPipeError:  # `vaultguard pending | head`: the reader left; stop quietly
        if out is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted.", file=err)
        return 130
    except Exception as exc:  # a bug of ours: still one clear line unless debugging
        if env.get("VAULTGUARD_DEBUG"):
            raise
        print(
            f"{PROG}: error: unexpected {type(exc).__name__}: {exc} (VAULTGUARD_DEBUG=1 shows it)", file=err
        )
        return 1
    finally:
        if api is not None:
            api.close()


if __name__ == "__main__":
    sys.exit(main())
