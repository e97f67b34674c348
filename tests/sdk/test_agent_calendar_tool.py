"""examples/medicore_agent's calendar tool (the demo's fourth task) against a fake VaultGuard
client and a fake calendar API: it reads the calendar with the vault's token for the configured
connection, and a connection that needs reconnecting, or none, is a readable result."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from vaultguard import ConnectionNeedsReauth, VaultAccessDenied

from examples.medicore_agent.agent import plan, run_offline
from examples.medicore_agent.calendar import CalendarTools
from examples.medicore_agent.tools import TOOL_SPECS, NatSupplyTools, Toolbox

CONNECTION = "con_clinic"
URL = "http://calendar.test/google/calendar/v3/calendars/primary/events"
TOKEN = "ya29.opaque-vault-token"


class FakeVault:
    """Just enough of VaultGuardClient for CalendarTools: `with_vault_token` yields TOKEN, or
    raises `error`."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.asked: list[tuple[str, list[str] | None]] = []

    def with_vault_token(self, connection_id: str, scopes: list[str] | None = None) -> Any:
        self.asked.append((connection_id, scopes))
        return self._scope()

    @contextmanager
    def _scope(self) -> Iterator[str]:
        if self.error is not None:
            raise self.error
        yield TOKEN


def event(day: int, hour: int, summary: str) -> dict[str, Any]:
    return {"summary": summary, "start": {"dateTime": f"2030-01-{day:02d}T{hour:02d}:00:00.000Z"}}


@pytest.fixture
def calendar_calls() -> list[httpx.Request]:
    return []


def calendar(
    vault: FakeVault, calls: list[httpx.Request], status: int = 200, connection: str | None = CONNECTION
) -> tuple[CalendarTools, list[tuple[str, str]]]:
    def api(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if status != 200:
            return httpx.Response(
                status,
                json={
                    "error": {"code": status, "message": "Request had invalid authentication credentials."}
                },
            )
        items = [
            event(3, 9, "Ward round"),
            event(2, 14, "Supplier call"),
            event(2, 9, "Stand-up"),
            event(4, 8, "Audit"),
        ]
        return httpx.Response(
            200, json={"kind": "calendar#events", "summary": "admin@medicore.example", "items": items}
        )

    said: list[tuple[str, str]] = []
    http = httpx.Client(transport=httpx.MockTransport(api))
    tools = CalendarTools(vault, connection, URL, say=lambda who, line: said.append((who, line)), http=http)  # type: ignore[arg-type]
    return tools, said


def test_reads_the_next_events_with_the_vault_token_for_the_connection(
    calendar_calls: list[httpx.Request],
) -> None:
    vault = FakeVault()
    tools, said = calendar(vault, calendar_calls)
    result = tools.call("read_calendar", {"max_events": 3})

    assert vault.asked == [(CONNECTION, ["calendar.readonly"])]
    [request] = calendar_calls
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert (result.tool, result.outcome) == ("read_calendar", "DONE")
    assert result.text == (
        "next 3 event(s): Wed 02 Jan 09:00 UTC Stand-up; Wed 02 Jan 14:00 UTC Supplier call; "
        "Thu 03 Jan 09:00 UTC Ward round"
    )
    assert all(TOKEN not in line for _, line in said)


def test_a_connection_that_needs_reauthorization_is_a_readable_result(
    calendar_calls: list[httpx.Request],
) -> None:
    error = ConnectionNeedsReauth(
        "connection_needs_reauthorization", connection_id=CONNECTION, reason="invalid_grant", status_code=409
    )
    tools, said = calendar(FakeVault(error), calendar_calls)
    result = tools.read_calendar()

    assert result.outcome == "NEEDS_REAUTH"
    assert result.text == (
        f"The calendar connection {CONNECTION} needs a MediCore admin to reconnect it (the provider "
        "refused the stored grant (invalid_grant)); the calendar cannot be read until then."
    )
    assert calendar_calls == []
    assert (
        "vaultguard",
        f"409 connection_needs_reauthorization (invalid_grant): a MediCore admin must reconnect {CONNECTION} "
        "in the dashboard",
    ) in said


def test_an_agent_the_connection_does_not_allow_gets_a_readable_failure(
    calendar_calls: list[httpx.Request],
) -> None:
    error = VaultAccessDenied(
        "this connection does not allow the agent", error="access_denied", status_code=403
    )
    tools, _ = calendar(FakeVault(error), calendar_calls)
    result = tools.read_calendar()
    assert (result.outcome, calendar_calls) == ("FAILED", [])
    assert "does not allow this agent calendar.readonly" in result.text


def test_no_connection_configured_says_how_to_connect_one_and_asks_nobody(
    calendar_calls: list[httpx.Request],
) -> None:
    vault = FakeVault()
    tools, _ = calendar(vault, calendar_calls, connection=None)
    result = tools.read_calendar()
    assert result.outcome == "FAILED"
    assert "Connections -> Connect local-google, calendar.readonly, allow this agent" in result.text
    assert (vault.asked, calendar_calls) == ([], [])


def test_a_refused_token_at_the_calendar_api_is_a_failure_with_its_message(
    calendar_calls: list[httpx.Request],
) -> None:
    tools, _ = calendar(FakeVault(), calendar_calls, status=401)
    result = tools.read_calendar()
    assert (result.outcome, result.text) == (
        "FAILED",
        "The calendar API answered HTTP 401: Request had invalid authentication credentials. "
        "(revoked at the provider? a MediCore admin can press Check now on the connection)",
    )


def test_the_offline_planner_reads_the_calendar_fourth_through_the_toolbox(
    calendar_calls: list[httpx.Request],
) -> None:
    tools, _ = calendar(FakeVault(), calendar_calls)
    natsupply = NatSupplyTools(FakeVault(), "tnt_natsupply", "http://natsupply.test")  # type: ignore[arg-type]
    toolbox = Toolbox(natsupply, tools)
    assert [spec["name"] for spec in toolbox.specs] == [*(s["name"] for s in TOOL_SPECS), "read_calendar"]

    tasks = plan("REQ-1234")
    assert [task.tool for task in tasks] == [
        "update_stock",
        "submit_requisition",
        "open_admin",
        "read_calendar",
    ]
    [result] = run_offline(toolbox, tasks[3:], lambda who, line: None)
    assert result.outcome == "DONE" and "Stand-up" in result.text
    natsupply.close()
