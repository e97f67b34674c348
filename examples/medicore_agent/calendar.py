"""The scheduling tool: MediCore's connected calendar, read with a token from VaultGuard's vault.

The agent holds no provider token and no provider secret: inside
`client.with_vault_token(connection_id, scopes=["calendar.readonly"])` VaultGuard hands it a
short-lived access token for the connection a MediCore admin made (Connections -> Connect), and
the tool calls the calendar API with it. Like the NatSupply tools it never raises for a vault
answer: a connection that needs reconnecting, or none at all, is a readable result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from vaultguard import (
    ConnectionNeedsReauth,
    ConnectionNotFound,
    VaultAccessDenied,
    VaultGuardClient,
    VaultGuardError,
    VaultScopeError,
)

from examples.medicore_agent.tools import ToolResult

Say = Callable[[str, str], None]
CALENDAR_SCOPE = "calendar.readonly"
DEFAULT_MAX_EVENTS = 3

CALENDAR_SPECS: list[dict[str, Any]] = [
    {
        "name": "read_calendar",
        "description": (
            "Read the next events of MediCore's connected calendar (the vault connection a MediCore "
            "admin made; VaultGuard hands out a calendar.readonly token for it)."
        ),
        "input_schema": {
            "type": "object",
            "properties": {"max_events": {"type": "integer", "description": "how many events, 1-10"}},
        },
    },
]


def _when(event: Mapping[str, Any]) -> str:
    start = event.get("start") or {}
    value = start.get("dateTime") or start.get("date") or ""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value) or "?"
    return moment.astimezone(UTC).strftime("%a %d %b %H:%M UTC")


class CalendarTools:
    """`read_calendar` over one vault connection (None: nobody has connected a calendar yet)."""

    specs = CALENDAR_SPECS

    def __init__(
        self,
        client: VaultGuardClient,
        connection_id: str | None,
        events_url: str | None,
        *,
        say: Say | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self._client = client
        self._connection = connection_id
        self._url = events_url
        self._say: Say = say or (lambda _speaker, _line: None)
        self._http = http or httpx.Client(timeout=30.0)

    def close(self) -> None:
        self._http.close()

    def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        if name != "read_calendar":
            return ToolResult(name, "FAILED", f"unknown tool {name!r}; use read_calendar")
        try:
            return self.read_calendar(**arguments)
        except (TypeError, ValueError) as exc:
            return ToolResult(name, "FAILED", f"bad arguments for read_calendar: {exc}")

    def read_calendar(self, max_events: int = DEFAULT_MAX_EVENTS) -> ToolResult:
        count = min(max(int(max_events), 1), 10)
        if not self._connection or not self._url:
            self._say("agent", "no calendar connection configured -> cannot read the calendar")
            return ToolResult(
                "read_calendar",
                "FAILED",
                "No calendar is connected for this agent: a MediCore admin must connect one in "
                "VaultGuard's dashboard (Connections -> Connect local-google, calendar.readonly, "
                "allow this agent).",
            )
        self._say("agent", f"asks VaultGuard's vault for {CALENDAR_SCOPE} on connection {self._connection}")
        try:
            with self._client.with_vault_token(self._connection, scopes=[CALENDAR_SCOPE]) as token:
                return self._events(token, count)
        except ConnectionNeedsReauth as exc:
            why = f" ({exc.reason})" if exc.reason else ""
            self._say(
                "vaultguard",
                f"409 connection_needs_reauthorization{why}: a MediCore admin must reconnect "
                f"{self._connection} in the dashboard",
            )
            return ToolResult(
                "read_calendar",
                "NEEDS_REAUTH",
                f"The calendar connection {self._connection} needs a MediCore admin to reconnect it "
                f"(the provider refused the stored grant{why}); the calendar cannot be read until then.",
            )
        except ConnectionNotFound:
            self._say("vaultguard", f"404: no connection {self._connection} for MediCore")
            return ToolResult(
                "read_calendar", "FAILED", f"There is no calendar connection {self._connection} (deleted?)."
            )
        except (VaultAccessDenied, VaultScopeError) as exc:
            self._say("vaultguard", f"{exc.status_code} {exc.error}: {exc}")
            return ToolResult(
                "read_calendar",
                "FAILED",
                f"The calendar connection does not allow this agent {CALENDAR_SCOPE}: {exc}",
            )
        except VaultGuardError as exc:
            self._say("agent", f"VaultGuard error: {exc}")
            return ToolResult(
                "read_calendar", "FAILED", f"VaultGuard could not hand out a calendar token: {exc}"
            )

    def _events(self, token: str, count: int) -> ToolResult:
        """The calendar API call itself, with the vault's access token."""
        params = {
            "maxResults": str(count),
            "singleEvents": "true",
            "orderBy": "startTime",
            "timeMin": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        try:
            reply = self._http.get(
                str(self._url), params=params, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            self._say("agent", f"calendar API unreachable: {type(exc).__name__}")
            return ToolResult(
                "read_calendar", "FAILED", f"The calendar API could not be reached ({type(exc).__name__})."
            )
        try:
            data = reply.json()
        except ValueError:
            data = None
        if not (reply.is_success and isinstance(data, dict)):
            error = data.get("error") if isinstance(data, dict) else None
            message = error.get("message") if isinstance(error, dict) else reply.text[:200]
            self._say("calendar-api", f"refused: HTTP {reply.status_code} {message}")
            hint = (
                " (revoked at the provider? a MediCore admin can press Check now on the connection)"
                if reply.status_code == 401
                else ""
            )
            return ToolResult(
                "read_calendar",
                "FAILED",
                f"The calendar API answered HTTP {reply.status_code}: {message}{hint}",
            )
        items = [i for i in data.get("items") or [] if isinstance(i, dict)]
        items.sort(
            key=lambda i: str((i.get("start") or {}).get("dateTime") or (i.get("start") or {}).get("date"))
        )
        upcoming = items[:count]
        self._say(
            "calendar-api", f"{reply.status_code} {len(items)} event(s) on {data.get('summary')}'s calendar"
        )
        lines = [f"{_when(e)} {e.get('summary') or '(no title)'}" for e in upcoming]
        for line in lines:
            self._say("agent", f"  next: {line}")
        text = f"next {len(upcoming)} event(s): " + "; ".join(lines) if lines else "no upcoming events"
        return ToolResult("read_calendar", "DONE", text, {"events": upcoming})
