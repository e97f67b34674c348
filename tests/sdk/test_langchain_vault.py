"""`vaultguard.integrations.langchain.vault_tool`: a tool that runs with a vault token and
answers the model in sentences when the vault refuses, against the real client over a
scripted API (no server)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field

pytest.importorskip("langchain_core")

from langchain_core.tools import BaseTool  # noqa: E402
from vaultguard import AuthenticationFailed, ServiceUnavailable, VaultGuardClient  # noqa: E402
from vaultguard.integrations.langchain import vault_tool  # noqa: E402

from tests.sdk.fake_api import (  # noqa: E402
    CALENDAR,
    CONN,
    GMAIL,
    GOOGLE_TOKEN,
    FakeApi,
    FakeTime,
    exchanged,
    oauth_error,
    sync_client,
)

EXCHANGE = ("POST", "/vault/exchange")
MEDICORE_GOOGLE = "MediCore's Google connection"


class DayArgs(BaseModel):
    day: str = Field(description="ISO date")


def make_tool(client: VaultGuardClient, calls: list[tuple[str, dict[str, Any]]], **extra: Any) -> BaseTool:
    def read_calendar(token: str, **arguments: Any) -> str:
        calls.append((token, arguments))
        return f"3 events on {arguments['day']}"

    return vault_tool(
        client,
        connection_id=CONN,
        scopes=extra.pop("scopes", [CALENDAR]),
        func=read_calendar,
        name="read_calendar",
        description="Read MediCore's calendar for one day.",
        args_schema=extra.pop("args_schema", DayArgs),
        connection_name=extra.pop("connection_name", MEDICORE_GOOGLE),
        **extra,
    )


def test_a_call_runs_func_with_the_token_and_returns_its_result() -> None:
    api, calls = FakeApi().on(*EXCHANGE, exchanged()), list[tuple[str, dict[str, Any]]]()
    tool = make_tool(sync_client(api, FakeTime()), calls)
    assert tool.invoke({"day": "2030-01-07"}) == "3 events on 2030-01-07"
    assert tool.invoke({"day": "2030-01-08"}) == "3 events on 2030-01-08"
    assert calls == [(GOOGLE_TOKEN, {"day": "2030-01-07"}), (GOOGLE_TOKEN, {"day": "2030-01-08"})]
    assert [s.json for s in api.calls(*EXCHANGE)] == [{"connection_id": CONN, "scopes": [CALENDAR]}]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            oauth_error("connection_needs_reauthorization", 409, connection_id=CONN, reason="invalid_grant"),
            "MediCore's Google connection needs an administrator to reconnect it (reason: invalid_grant)",
        ),
        (oauth_error("not_found", 404), "MediCore's Google connection was not found"),
        (oauth_error("forbidden", 403), "This agent is not allowed to use MediCore's Google connection"),
        (
            oauth_error("invalid_scope", 400, missing_scopes=[GMAIL]),
            f"MediCore's Google connection does not allow {GMAIL} for this agent",
        ),
        (
            (503, {"error": "temporarily_unavailable"}, {"Retry-After": "600"}),
            "MediCore's Google connection is temporarily unavailable (the provider is not answering); "
            "retry in 600 s",
        ),
        (
            (429, {"error": "rate_limited"}, {"Retry-After": "600"}),
            "RATE_LIMITED: VaultGuard is rate limiting requests; retry in 600 s",
        ),
    ],
)
def test_vault_refusals_come_back_as_readable_results(answer: Any, expected: str) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    api = FakeApi().on(*EXCHANGE, answer)
    result = make_tool(sync_client(api, FakeTime()), calls).invoke({"day": "2030-01-07"})
    assert isinstance(result, str)
    assert result.startswith(expected), result
    assert calls == []  # no token, so the tool code never ran


def test_without_a_name_results_name_the_connection_id() -> None:
    api = FakeApi().on(*EXCHANGE, oauth_error("not_found", 404))
    tool = make_tool(sync_client(api, FakeTime()), [], connection_name=None)
    assert tool.invoke({"day": "x"}).startswith(f"the vault connection {CONN} was not found")


@pytest.mark.parametrize(
    ("answer", "raised"),
    [
        (oauth_error("invalid_client", 401), AuthenticationFailed),
        (oauth_error("server_error", 500), ServiceUnavailable),
    ],
)
def test_other_errors_are_raised(answer: Any, raised: type[Exception]) -> None:
    api = FakeApi().on(*EXCHANGE, answer)
    with pytest.raises(raised):
        make_tool(sync_client(api, FakeTime(), max_retries=0), []).invoke({"day": "x"})


def test_an_error_in_func_is_raised_as_it_is() -> None:
    api = FakeApi().on(*EXCHANGE, exchanged())

    def broken(token: str, day: str) -> str:
        raise ValueError("calendar API said 500")

    tool = vault_tool(
        sync_client(api, FakeTime()), connection_id=CONN, func=broken, name="broken", description="d"
    )
    with pytest.raises(ValueError, match="calendar API"):
        tool.invoke({"day": "x"})


def test_without_a_schema_it_is_inferred_from_func_minus_the_token() -> None:
    def read_mail(token: str, query: str, limit: int = 10) -> str:
        return f"{query}:{limit}:{token[:4]}"

    api = FakeApi().on(*EXCHANGE, exchanged())
    tool = vault_tool(
        sync_client(api, FakeTime()), connection_id=CONN, func=read_mail, name="read_mail", description="d"
    )
    assert set(tool.args) == {"query", "limit"}
    assert tool.invoke({"query": "invoices"}) == f"invoices:10:{GOOGLE_TOKEN[:4]}"
    assert [s.json for s in api.calls(*EXCHANGE)] == [{"connection_id": CONN}]
