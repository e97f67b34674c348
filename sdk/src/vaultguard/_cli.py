"""`vaultguard`: the command line for VaultGuard operators and tenant admins.

    vaultguard pending [list] [--tenant natsupply] [--json]
    vaultguard approve|reject <delegation_id|auth_req_id> [--reason TEXT]
               (also `vaultguard pending approve|reject ...`)
    vaultguard tenants list | create NAME [--audience URI]              (platform operator)
    vaultguard agents list | create NAME [--description TEXT] | rotate AGENT_ID
               | add-key AGENT_ID --jwks-file FILE | --jwks-uri URL   (moves it to keys)
    vaultguard policies list | set ACTION EFFECT [--requester TENANT_ID] [--ttl N]
               [--stepup-expiry N] [--require-dpop] [--require-private-key-jwt]
               | delete POLICY_ID
    vaultguard delegations list [--direction inbound|outbound] [--status S] | revoke ID
    vaultguard audit tail [--limit N] [--type T] | export [--output FILE] [--type T]
    vaultguard users list | invite EMAIL --role ROLE | set-role USER_ID ROLE
               | remove USER_ID [--yes]      (admin; --as platform for the platform's operators)
    vaultguard vault list | connect PROVIDER [--scope S] [--label L] [--agent ID] [--wait]
               | show ID | check ID | delete ID [--yes]     (admin: the token vault)

Every listing prints a table, or JSON with --json. Client secrets are printed only by
`tenants create`, `agents create` and `agents rotate`, invitation links only by
`users invite` (the API shows them once).

It talks to VaultGuard only over its public HTTP API: client credentials
(client_secret_basic) at `/oauth/token`, then the admin (or, for `tenants`, the platform)
endpoints.

Where the settings come from (first match wins):
  API URL        --api-url, $VAULTGUARD_API_URL, "api_url" of the state file
  credentials    --client-id/--client-secret, $VAULTGUARD_CLIENT_ID/$VAULTGUARD_CLIENT_SECRET,
                 the admin of --tenant in the state file, or its "platform" block with
                 --as platform (the default for `tenants`)
  state file     --state, ${VAULTGUARD_STATE_DIR:-.vaultguard}/local.json (written by `make run`)

Hints name the command as it was started (`vaultguard`, `.venv/bin/vaultguard`, with
--state when the state file is not the default); VAULTGUARD_CLI_HINTS=make (set by the
repository's Makefile) names `make approve ID=...` instead.

Exit status: 0 on success, 1 when the API or the configuration refuses, 2 on bad usage.
Installed with the SDK as the `vaultguard` console script (in the repository, `make` installs
it as .venv/bin/vaultguard, which `make pending`/`approve`/`reject` run).
Only the standard library and `requests`; never imports the server's code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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
    role = getattr(args, "as_role", None) or getattr(args, "role", "admin")
    label = "the platform" if role == "platform" else args.tenant
    if api_url is None or client_id is None:
        path = Path(args.state) if args.state else default_state_path(environ)
        state = _load_state(path)
        if api_url is None:
            api_url = state.get("api_url")
            if not isinstance(api_url, str) or not api_url:
                raise CliError(f"the state file {path} has no api_url; pass --api-url.")
        if client_id is None and role == "platform":
            platform = state.get("platform")
            if (
                not isinstance(platform, dict)
                or not platform.get("client_id")
                or not platform.get("client_secret")
            ):
                raise CliError(f"the state file {path} has no platform credentials.")
            client_id, client_secret = str(platform["client_id"]), str(platform["client_secret"])
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

    def invite_user(self, email: str, role: str) -> dict[str, Any]:
        """An invitation; its one-time `invitation_url` is in this answer only."""
        body = {"email": email, "role": role}
        return self.call("POST", "/users/invitations", f"inviting {email!r}", json=body)

    def list_users(self) -> list[dict[str, Any]]:
        users = self.call("GET", "/users", "listing users").get("users") or []
        return [u for u in users if isinstance(u, dict)]

    def set_user_role(self, user_id: str, role: str) -> dict[str, Any]:
        what = f"changing the role of {user_id}"
        return self.call("PATCH", f"/users/{quote(user_id, safe='')}", what, json={"role": role})

    def remove_user(self, user_id: str) -> dict[str, Any]:
        """Remove the person; their sessions end at once."""
        return self.call("DELETE", f"/users/{quote(user_id, safe='')}", f"removing {user_id}")

    def pages(
        self, path: str, key: str, what: str, params: Mapping[str, Any], want: int | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a paginated listing (`limit`/`next_cursor`), or the first `want`."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            limit = PAGE_LIMIT if want is None else min(PAGE_LIMIT, want - len(items))
            query: dict[str, Any] = {**params, "limit": limit}
            if cursor:
                query["cursor"] = cursor
            page = self.call("GET", path, what, params=query)
            items.extend(i for i in page.get(key) or [] if isinstance(i, dict))
            cursor = page.get("next_cursor")
            if not cursor or (want is not None and len(items) >= want):
                break
        return items if want is None else items[:want]

    def export_csv(self, params: Mapping[str, Any]) -> tuple[bytes, str | None]:
        """The audit CSV and its row count; a large export answers 303 with a short-lived
        presigned URL, fetched without our bearer token (it is not VaultGuard's)."""
        what = "exporting the audit log"
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": "text/csv, application/json"}
        reply = self._send("GET", "/audit/export.csv", headers=headers, params=params, allow_redirects=False)
        if reply.status_code == 200:
            return reply.content, reply.headers.get("X-Row-Count")
        if reply.status_code in (302, 303, 307):
            location = reply.headers.get("Location")
            rows: Any = None
            if not location:
                body = self._json(reply, what) if reply.ok else {}
                location, rows = body.get("download_url"), body.get("rows")
            else:
                try:
                    rows = reply.json().get("rows")
                except (ValueError, AttributeError):
                    rows = None
            if not location or urlsplit(location).scheme not in ("http", "https"):
                raise CliError(f"{what} failed: the redirect has no usable download URL.")
            try:
                # No Authorization header: the session carries none, and the URL is signed.
                download = self._session.get(location, timeout=self._settings.timeout)
            except requests.RequestException as exc:
                raise CliError(f"{what} failed: cannot download the export ({type(exc).__name__}).") from None
            if not download.ok:
                raise CliError(
                    f"{what} failed: HTTP {download.status_code} downloading the export "
                    "(the presigned URL expires after a few minutes; try again)."
                )
            return download.content, None if rows is None else str(rows)
        self._json(reply, what)  # raises the API's error
        raise CliError(f"{what} failed: unexpected HTTP {reply.status_code} answer.")


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


def cmd_pending(api: Api, settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    items = api.pending()
    if getattr(args, "json", False):
        emit_json(items, out)
        return 0
    if not items:
        print(f"No pending step-up requests for {clean(settings.tenant_label)}.", file=out)
        return 0
    print(pending_table(items), file=out)
    approve, reject = getattr(args, "decide_hints", None) or decide_hints(args, {}, PROG)
    print(
        f"\n{len(items)} pending for {clean(settings.tenant_label)}. Decide with `{approve}` or `{reject}`.",
        file=out,
    )
    return 0


def invoked_as(argv0: str) -> str:
    """How to start this CLI again: `vaultguard` when that is what PATH finds, else the path it
    was started by (e.g. `.venv/bin/vaultguard` from the repository root)."""
    if os.path.basename(argv0) != PROG or os.sep not in argv0:
        return PROG
    on_path = shutil.which(PROG)
    if on_path and os.path.realpath(on_path) == os.path.realpath(argv0):
        return PROG
    return shlex.quote(argv0)


def decide_hints(args: argparse.Namespace, environ: Mapping[str, str], prog: str) -> tuple[str, str]:
    """The approve and reject commands to suggest, with what it takes to find the same
    credentials again (state file, tenant) from the same directory."""
    tenant = getattr(args, "tenant", DEFAULT_TENANT)
    if environ.get("VAULTGUARD_CLI_HINTS") == "make":  # `make pending` in the repository
        extra = ""
        state_dir = environ.get("VAULTGUARD_STATE_DIR") or ".vaultguard"
        if Path(state_dir) != Path(".vaultguard"):
            extra += f" VAULTGUARD_STATE_DIR={shlex.quote(state_dir)}"
        if tenant != DEFAULT_TENANT:
            extra += f" TENANT={shlex.quote(tenant)}"
        return f"make approve ID=<ID>{extra}", f"make reject ID=<ID> REASON=...{extra}"
    options = ""
    if tenant != DEFAULT_TENANT:
        options += f" --tenant {shlex.quote(tenant)}"
    state = Path(args.state) if getattr(args, "state", None) else default_state_path(environ)
    if state != default_state_path({}):
        options += f" --state {shlex.quote(str(state))}"
    return f"{prog} approve <ID>{options}", f"{prog} reject <ID> --reason ...{options}"


def cmd_decide(api: Api, settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    identifier = args.id.strip()
    if not HANDLE.fullmatch(identifier):
        raise CliError(f"{identifier!r} is neither a delegation id (dlg_...) nor an auth_req_id.")
    approve = args.verb == "approve"
    view = api.decide(identifier, approve, args.reason)
    print(decision_line(view, approve, args.reason), file=out)
    return 0


def emit_json(value: Any, out: TextIO) -> None:
    json.dump(value, out, indent=2, sort_keys=True)
    out.write("\n")


def listing(
    items: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, Any]],
    args: argparse.Namespace,
    out: TextIO,
    empty: str,
) -> int:
    """A table (a header per column, each column a function of one item), or JSON."""
    if args.json:
        emit_json(list(items), out)
        return 0
    if not items:
        print(empty, file=out)
        return 0
    rows = [tuple(str(render(item)) for _, render in columns) for item in items]
    print(table([h for h, _ in columns], rows), file=out)
    return 0


def show_record(
    view: Mapping[str, Any], fields: Sequence[str], args: argparse.Namespace, out: TextIO
) -> None:
    if args.json:
        emit_json(view, out)
        return
    width = max(len(f) for f in fields)
    for name in fields:
        print(f"{name.ljust(width)}  {clean(view.get(name))}", file=out)


def show_secret(
    view: Mapping[str, Any],
    fields: Sequence[str],
    client: Mapping[str, Any],
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
) -> None:
    """A record with a client secret the API shows only this once."""
    show_record(view, fields, args, out)
    if not args.json:
        print(f"client_id{' ' * 5}  {clean(client.get('client_id'))}", file=out)
        print(f"client_secret  {clean(client.get('client_secret'))}", file=out)
    print(
        f"{PROG}: warning: store the client secret now (e.g. in a secrets manager); "
        "VaultGuard keeps only its hash and will not show it again.",
        file=err,
    )


def _epoch(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return clean(value)


def cmd_tenants(api: Api, settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.action == "create":
        body: dict[str, Any] = {"name": args.name}
        if args.audience:
            body["audience"] = args.audience
        view = api.call("POST", "/tenants", f"creating tenant {args.name!r}", json=body)
        admin: Mapping[str, Any] = view["admin"] if isinstance(view.get("admin"), dict) else {}
        shown = {k: v for k, v in view.items() if k != "admin"} if not args.json else view
        show_secret(shown, ("tenant_id", "name", "status", "audience"), admin, args, out, err)
        return 0
    tenants = api.call("GET", "/tenants", "listing tenants").get("tenants") or []
    columns = (
        ("TENANT ID", lambda t: clean(t.get("tenant_id"))),
        ("NAME", lambda t: clean(t.get("name"), 40)),
        ("STATUS", lambda t: clean(t.get("status"))),
        ("CREATED", lambda t: _epoch(t.get("created_at"))),
    )
    return listing(tenants, columns, args, out, "No tenants.")


AGENT_FIELDS = ("agent_id", "name", "description", "status", "created_at", "secret_rotated_at")
AUTH_METHODS = {"client_secret_basic": "secret", "private_key_jwt": "keys", "none": "federated"}


def cmd_agents(api: Api, settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.action in ("create", "rotate"):
        if args.action == "create":
            body: dict[str, Any] = {"name": args.name}
            if args.description:
                body["description"] = args.description
            view = api.call("POST", "/agents", f"creating agent {args.name!r}", json=body)
        else:
            agent_id = args.agent_id.strip()
            if not HANDLE.fullmatch(agent_id):
                raise CliError(f"{agent_id!r} is not an agent id (agt_...).")
            view = api.call("POST", f"/agents/{agent_id}/rotate-secret", f"rotating the secret of {agent_id}")
        shown = (
            view if args.json else {k: v for k, v in view.items() if k not in ("client_id", "client_secret")}
        )
        show_secret(shown, AGENT_FIELDS, view, args, out, err)
        return 0
    agents = api.call("GET", "/agents", "listing agents").get("agents") or []
    columns = (
        ("AGENT ID", lambda a: clean(a.get("agent_id"))),
        ("NAME", lambda a: clean(a.get("name"), 40)),
        ("CLIENT ID", lambda a: clean(a.get("client_id"))),
        ("STATUS", lambda a: clean(a.get("status"))),
        ("AUTH", lambda a: AUTH_METHODS.get(str(a.get("token_endpoint_auth_method")), "secret")),
        ("CREATED", lambda a: _epoch(a.get("created_at"))),
        ("SECRET ROTATED", lambda a: _epoch(a.get("secret_rotated_at"))),
    )
    return listing(agents, columns, args, out, f"No agents in {clean(settings.tenant_label)}.")


def cmd_policies(api: Api, settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.action == "set":
        body: dict[str, Any] = {"action": args.policy_action, "effect": args.effect.upper()}
        if args.requester:
            body["requesting_tenant_id"] = args.requester
        if args.ttl is not None:
            body["ttl_seconds"] = args.ttl
        if args.stepup_expiry is not None:
            body["stepup_expiry_seconds"] = args.stepup_expiry
        if args.require_dpop:
            body["require_dpop"] = True
        if args.require_private_key_jwt:
            body["require_private_key_jwt"] = True
        view = api.call("PUT", "/policies", f"setting the policy for {args.policy_action!r}", json=body)
        if args.json:
            emit_json(view, out)
        else:
            print(
                f"Policy {clean(view.get('policy_id'))}: {clean(view.get('action'))} from "
                f"{clean(view.get('requesting_tenant_id') or 'any tenant')} -> {clean(view.get('effect'))} "
                f"(max token TTL {duration(view.get('ttl_seconds'))}, "
                f"step-up expiry {duration(view.get('stepup_expiry_seconds'))}{_requirements(view)}).",
                file=out,
            )
        return 0
    if args.action == "delete":
        policy_id = args.policy_id.strip()
        view = api.call("DELETE", f"/policies/{quote(policy_id, safe='')}", f"deleting policy {policy_id}")
        if args.json:
            emit_json(view, out)
        else:
            print(f"Deleted policy {clean(view.get('policy_id') or policy_id)}.", file=out)
        return 0
    policies = api.call("GET", "/policies", "listing policies").get("policies") or []
    columns = (
        ("POLICY ID", lambda p: clean(p.get("policy_id"))),
        ("ACTION", lambda p: clean(p.get("action"))),
        ("REQUESTER", lambda p: clean(p.get("requesting_tenant_id") or "*")),
        ("EFFECT", lambda p: clean(p.get("effect"))),
        ("MAX TTL", lambda p: duration(p.get("ttl_seconds"))),
        ("STEP-UP EXPIRY", lambda p: duration(p.get("stepup_expiry_seconds"))),
        ("DPOP", lambda p: "required" if p.get("require_dpop") else "-"),
        ("KEYS ONLY", lambda p: "required" if p.get("require_private_key_jwt") else "-"),
    )
    return listing(policies, columns, args, out, f"No policies in {clean(settings.tenant_label)}.")


def _requirements(view: Mapping[str, Any]) -> str:
    named = (("require_dpop", "DPoP-bound"), ("require_private_key_jwt", "key-authenticated agents"))
    wanted = [text for field, text in named if view.get(field)]
    return f"; requires {' and '.join(wanted)}" if wanted else ""


def cmd_delegations(api: Api, settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.action == "revoke":
        identifier = args.id.strip()
        if not DELEGATION_ID.fullmatch(identifier):
            raise CliError(f"{identifier!r} is not a delegation id (dlg_...).")
        body = {"reason": args.reason} if args.reason else None
        view = api.call("POST", f"/delegations/{identifier}/revoke", f"revoking {identifier}", json=body)
        if args.json:
            emit_json(view, out)
        else:
            print(
                f"Revoked {clean(view.get('delegation_id') or identifier)}: {clean(view.get('action'))} "
                f"(status {clean(view.get('status'))}).",
                file=out,
            )
        return 0
    params: dict[str, Any] = {"direction": args.direction}
    if args.status:
        params["status"] = args.status.upper()
    items = api.pages("/delegations", "delegations", "listing delegations", params)
    counterpart = "FROM" if args.direction == "inbound" else "TO"
    columns = (
        ("ID", lambda d: clean(d.get("delegation_id"))),
        (
            counterpart,
            lambda d: clean(
                d.get("requesting_tenant_name") or d.get("requesting_tenant_id")
                if args.direction == "inbound"
                else d.get("receiving_tenant_id")
            ),
        ),
        ("AGENT", lambda d: clean(d.get("agent_name") or d.get("agent_id"))),
        ("ACTION", lambda d: clean(d.get("action"))),
        ("STATUS", lambda d: clean(d.get("status"))),
        ("TTL", lambda d: duration(d.get("ttl_seconds"))),
        ("TIME LEFT", lambda d: duration(d.get("expires_in"))),
    )
    empty = f"No {args.direction} delegations{' with status ' + args.status.upper() if args.status else ''}."
    return listing(items, columns, args, out, empty)


def _types(args: argparse.Namespace) -> list[str]:
    return [t for value in args.type or [] for t in value.split(",") if t]


def cmd_audit(api: Api, settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    params: dict[str, Any] = {}
    if _types(args):
        params["type"] = ",".join(_types(args))
    if args.action == "export":
        content, rows = api.export_csv(params)
        if args.output in (None, "-"):
            out.write(content.decode("utf-8"))
            return 0
        target = Path(args.output)
        partial = target.with_name(f".{target.name}.partial")
        try:
            partial.write_bytes(content)
            partial.replace(target)
        except OSError as exc:
            raise CliError(f"cannot write {target}: {exc.strerror or exc}.") from None
        count = rows if rows is not None else str(max(0, content.count(b"\n") - 1))
        if args.json:
            emit_json({"output": str(target), "rows": int(count) if count.isdigit() else count}, out)
        else:
            print(f"Wrote {count} audit events to {target}.", file=out)
        return 0
    events = api.pages("/audit", "events", "reading the audit log", params, want=args.limit)
    events.reverse()  # like tail(1): oldest of the window first, newest last
    columns = (
        ("TIME", lambda e: clean(e.get("occurred_at"))),
        ("TYPE", lambda e: clean(e.get("type"))),
        (
            "ACTOR",
            lambda e: clean(f"{(e.get('actor') or {}).get('type')}:{(e.get('actor') or {}).get('id')}"),
        ),
        ("ACTION", lambda e: clean(e.get("action"))),
        ("DECISION", lambda e: clean(e.get("decision"))),
        ("DELEGATION", lambda e: clean(e.get("delegation_id"))),
    )
    return listing(events, columns, args, out, f"No audit events for {clean(settings.tenant_label)}.")


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
        "--as",
        dest="as_role",
        choices=("admin", "platform"),
        default=default(None),
        help="whose credentials to take from the state file: the tenant's admin, or the platform "
        "operator (default: platform for `tenants`, admin otherwise)",
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


def _leaf(
    commands: Any, name: str, help_text: str, *, json_flag: bool = True, **defaults: Any
) -> argparse.ArgumentParser:
    sub: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=help_text)
    if json_flag:
        sub.add_argument("--json", action="store_true", help="machine-readable JSON output")
    _common(sub, suppress=True)
    sub.set_defaults(**defaults)
    return sub


def _group(commands: Any, name: str, help_text: str, **defaults: Any) -> Any:
    sub = commands.add_parser(name, help=help_text, description=help_text)
    _common(sub, suppress=True)
    sub.set_defaults(**defaults)
    return sub.add_subparsers(dest="action", metavar="ACTION", required=True)


def _decide_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("id", help="the delegation id (dlg_...) or the auth_req_id")
    sub.add_argument("--reason", default=None, help="why (kept in both tenants' audit logs)")


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Administer VaultGuard: tenants, agents, policies, step-up requests, "
        "delegations, the audit log and the tenant's people.",
        epilog="Environment: VAULTGUARD_STATE_DIR, VAULTGUARD_API_URL, VAULTGUARD_CLIENT_ID, "
        "VAULTGUARD_CLIENT_SECRET.",
    )
    _common(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    pending = commands.add_parser("pending", help="list (or decide) pending inbound step-up requests")
    pending.add_argument("--json", action="store_true", help="print the requests as JSON")
    _common(pending, suppress=True)
    pending.set_defaults(func=cmd_pending)
    pending_actions = pending.add_subparsers(dest="action", metavar="ACTION", required=False)
    _leaf(pending_actions, "list", "list pending inbound step-up requests (the default)", func=cmd_pending)
    for name in ("approve", "reject"):
        _decide_args(
            _leaf(
                pending_actions,
                name,
                f"{name} a pending request",
                json_flag=False,
                func=cmd_decide,
                verb=name,
            )
        )
        _decide_args(
            _leaf(commands, name, f"{name} a pending request", json_flag=False, func=cmd_decide, verb=name)
        )

    tenants = _group(commands, "tenants", "tenants (platform operator)", func=cmd_tenants, role="platform")
    _leaf(tenants, "list", "list tenants")
    created = _leaf(tenants, "create", "register a tenant and its first admin (secret shown once)")
    created.add_argument("name", help="the organisation's display name")
    created.add_argument("--audience", default=None, help="audience of its delegation tokens (default a URN)")

    agents = _group(commands, "agents", "the tenant's agents (admin)", func=cmd_agents)
    _leaf(agents, "list", "list agents")
    created = _leaf(agents, "create", "register an agent (its client secret is shown once)")
    created.add_argument("name", help="the agent's display name")
    created.add_argument("--description", default=None, help="what the agent is for")
    _leaf(agents, "rotate", "issue a new client secret; the old one stops working").add_argument(
        "agent_id", help="the agent id (agt_...)"
    )
    from ._cli_keys import add_key_command  # it builds on this module's helpers

    add_key_command(agents)

    policies = _group(commands, "policies", "the tenant's receiving-side policies (admin)", func=cmd_policies)
    _leaf(policies, "list", "list policies")
    put = _leaf(policies, "set", "create or replace the policy for an action (and requester)")
    put.add_argument("policy_action", metavar="ACTION", help="action or pattern, e.g. requisition.submit")
    put.add_argument("effect", metavar="EFFECT", type=str.upper, choices=("ALLOW", "STEP_UP", "BLOCK"))
    put.add_argument("--requester", default=None, help="only for this requesting tenant id (default any)")
    put.add_argument(
        "--ttl", type=_positive, default=None, help="maximum token TTL in seconds (asks are capped)"
    )
    put.add_argument(
        "--stepup-expiry", type=_positive, default=None, help="seconds an approver has to decide"
    )
    put.add_argument("--require-dpop", action="store_true", help="delegations must be DPoP-bound (RFC 9449)")
    put.add_argument(
        "--require-private-key-jwt",
        action="store_true",
        help="refuse (as a BLOCK) agents that authenticated with a client secret",
    )
    _leaf(policies, "delete", "delete a policy").add_argument("policy_id", help="the policy id (pol_...)")

    delegations = _group(commands, "delegations", "delegations to or from the tenant", func=cmd_delegations)
    listed = _leaf(delegations, "list", "list delegations")
    listed.add_argument("--direction", choices=("inbound", "outbound"), default="inbound")
    listed.add_argument(
        "--status",
        type=str.upper,
        default=None,
        help="PENDING, ACTIVE, REJECTED, BLOCKED, REVOKED or EXPIRED",
    )
    revoke = _leaf(delegations, "revoke", "revoke a delegation: its token stops verifying at once")
    revoke.add_argument("id", help="the delegation id (dlg_...)")
    revoke.add_argument("--reason", default=None, help="why (kept in the audit log)")

    audit = _group(commands, "audit", "the tenant's audit log (admin)", func=cmd_audit)
    tail = _leaf(audit, "tail", "the most recent events, newest last")
    tail.add_argument("--limit", type=_positive, default=20, help="how many events (default 20)")
    tail.add_argument("--type", action="append", help="only these event types (repeat or comma-separate)")
    export = _leaf(audit, "export", "the whole log as CSV (RFC 4180), oldest first")
    export.add_argument("--output", "-o", default=None, help="file to write (default standard output)")
    export.add_argument("--type", action="append", help="only these event types (repeat or comma-separate)")

    from ._cli_users import add_users_commands  # it builds on this module's helpers

    add_users_commands(commands)
    from ._cli_vault import add_vault_commands

    add_vault_commands(commands)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
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
    args.decide_hints = decide_hints(args, env, invoked_as(sys.argv[0]) if argv is None else PROG)
    args.stdin = stdin or sys.stdin  # where a confirmation is read
    api: Api | None = None
    try:
        settings = resolve_settings(args, env)
        host = urlsplit(settings.api_url).hostname or ""
        if settings.api_url.startswith("http://") and host not in LOOPBACK_HOSTS:
            print(f"{PROG}: warning: {settings.api_url} is plain HTTP; credentials go unencrypted.", file=err)
        api = Api(settings)
        return int(args.func(api, settings, args, out, err))
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
