"""`vault_token` and `with_vault_token` (sync and async) against a scripted API: what is sent,
what comes back, reuse while fresh, each refusal as its typed error, the token kept out of
reprs, strings and logs. No sockets, no sleeps."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import vaultguard
from vaultguard import (
    ConnectionNeedsReauth,
    ConnectionNotFound,
    DelegationBlocked,
    ServiceUnavailable,
    VaultAccessDenied,
    VaultGuardError,
    VaultScopeError,
    VaultToken,
    VaultUnavailable,
)

from tests.sdk.fake_api import (
    CALENDAR,
    CONN,
    GMAIL,
    GOOGLE_TOKEN,
    FakeApi,
    FakeTime,
    async_client,
    exchanged,
    oauth_error,
    sync_client,
)

EXCHANGE = ("POST", "/vault/exchange")
UTC = timezone.utc  # noqa: UP017 (as in the SDK)


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def exchanges(api: FakeApi) -> list[Any]:
    return [seen.json for seen in api.calls(*EXCHANGE)]


# -- what is sent and what comes back ---------------------------------------------------------


def test_vault_token_sends_the_connection_with_the_agents_bearer_token(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, exchanged())
    before = datetime.now(UTC)
    token = sync_client(api, clock).vault_token(CONN)

    assert isinstance(token, VaultToken)
    assert token.access_token == GOOGLE_TOKEN
    assert (token.token_type, token.expires_in, token.provider) == ("Bearer", 3599, "google")
    assert token.scope == [CALENDAR] and token.connection_id == CONN
    assert before + timedelta(seconds=3599) <= token.expires_at <= datetime.now(UTC) + timedelta(seconds=3599)
    assert token.authorization_header == f"Bearer {GOOGLE_TOKEN}"
    [sent] = api.calls(*EXCHANGE)
    assert sent.json == {"connection_id": CONN}  # no scopes: all the connection allows
    [sign_in] = api.token_requests()
    assert sent.bearer and sent.bearer != GOOGLE_TOKEN and sign_in.basic_auth is not None


def test_scopes_are_sent_as_a_list_and_a_space_separated_string_is_split(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, exchanged(scope=f"{CALENDAR} {GMAIL}"))
    client = sync_client(api, clock)
    token = client.vault_token(CONN, [GMAIL, CALENDAR, GMAIL])
    assert token.scope == [CALENDAR, GMAIL]
    client.vault_token("conn_other", f"{CALENDAR} {GMAIL}")
    assert exchanges(api) == [
        {"connection_id": CONN, "scopes": [GMAIL, CALENDAR]},
        {"connection_id": "conn_other", "scopes": [CALENDAR, GMAIL]},
    ]


# -- reuse ------------------------------------------------------------------------------------


def test_a_token_is_reused_while_it_has_more_than_a_minute_left(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, exchanged(token="first", expires_in=600), exchanged(token="second"))
    client = sync_client(api, clock)
    assert client.vault_token(CONN).access_token == "first"

    clock.now += 539  # 61 s left
    again = client.vault_token(CONN)
    assert again.access_token == "first" and again.expires_in == 61
    assert len(api.calls(*EXCHANGE)) == 1

    clock.now += 1  # 60 s left: not enough
    assert client.vault_token(CONN).access_token == "second"
    assert len(api.calls(*EXCHANGE)) == 2


def test_the_cache_key_is_the_connection_and_the_sorted_scopes(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, exchanged(token="a"), exchanged(token="b"), exchanged(token="c"))
    client = sync_client(api, clock)
    assert client.vault_token(CONN, [CALENDAR, GMAIL]).access_token == "a"
    assert client.vault_token(CONN, [GMAIL, CALENDAR]).access_token == "a"  # same set, other order
    assert client.vault_token(CONN, [CALENDAR]).access_token == "b"  # narrower: its own token
    assert client.vault_token(CONN).access_token == "c"  # no scopes: all allowed, its own token
    assert len(api.calls(*EXCHANGE)) == 3


def test_each_client_has_its_own_cache(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, exchanged(token="one"), exchanged(token="two"))
    assert sync_client(api, clock).vault_token(CONN).access_token == "one"
    assert sync_client(api, clock).vault_token(CONN).access_token == "two"


def test_a_short_lived_token_is_never_reused(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, exchanged(token="brief", expires_in=60))
    client = sync_client(api, clock)
    client.vault_token(CONN)
    client.vault_token(CONN)
    assert len(api.calls(*EXCHANGE)) == 2


def test_a_refused_connection_forgets_its_cached_tokens(clock: FakeTime) -> None:
    api = FakeApi().on(
        *EXCHANGE,
        exchanged(token="old"),
        oauth_error("connection_needs_reauthorization", 409, connection_id=CONN, reason="invalid_grant"),
        exchanged(token="after-reconnect"),
    )
    client = sync_client(api, clock)
    assert client.vault_token(CONN, [CALENDAR]).access_token == "old"
    with pytest.raises(ConnectionNeedsReauth):
        client.vault_token(CONN, [GMAIL])
    assert client.vault_token(CONN, [CALENDAR]).access_token == "after-reconnect"


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected", "error"),
    [
        (oauth_error("not_found", 404), ConnectionNotFound, "not_found"),
        (oauth_error("forbidden", 403), VaultAccessDenied, "forbidden"),
        (oauth_error("access_denied", 403), VaultAccessDenied, "access_denied"),
        (oauth_error("invalid_scope", 400, missing_scopes=[GMAIL]), VaultScopeError, "invalid_scope"),
        (
            oauth_error("connection_needs_reauthorization", 409, connection_id=CONN, reason="invalid_grant"),
            ConnectionNeedsReauth,
            "connection_needs_reauthorization",
        ),
        (
            (503, {"error": "temporarily_unavailable", "request_id": "req-1"}, {"Retry-After": "30"}),
            VaultUnavailable,
            "temporarily_unavailable",
        ),
    ],
)
def test_each_vault_refusal_is_its_typed_error(
    clock: FakeTime, answer: Any, expected: type[VaultGuardError], error: str
) -> None:
    api = FakeApi().on(*EXCHANGE, answer)
    with pytest.raises(VaultGuardError) as caught:
        sync_client(api, clock, max_retries=0).vault_token(CONN, [CALENDAR, GMAIL])
    exc = caught.value
    assert type(exc) is expected and not isinstance(exc, DelegationBlocked)
    assert (exc.error, exc.status_code, exc.request_id) == (error, answer[0], "req-1")
    assert expected.__name__ in vaultguard.__all__
    if isinstance(exc, VaultScopeError):
        assert exc.missing_scopes == [GMAIL]
    if isinstance(exc, ConnectionNeedsReauth):
        assert (exc.connection_id, exc.reason) == (CONN, "invalid_grant")
    if isinstance(exc, VaultUnavailable):
        assert exc.retry_after == 30 and isinstance(exc, ServiceUnavailable)


def test_refusals_are_not_retried(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, oauth_error("not_found", 404))
    with pytest.raises(ConnectionNotFound):
        sync_client(api, clock).vault_token(CONN)
    assert len(api.calls(*EXCHANGE)) == 1 and clock.sleeps == []


def test_a_503_is_retried_no_sooner_than_its_retry_after(clock: FakeTime) -> None:
    unavailable = (503, {"error": "temporarily_unavailable"}, {"Retry-After": "5"})
    api = FakeApi().on(*EXCHANGE, unavailable, exchanged())
    assert sync_client(api, clock).vault_token(CONN).access_token == GOOGLE_TOKEN
    assert clock.sleeps == [5.0]


def test_a_503_without_retry_after_backs_off_then_is_vault_unavailable(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, oauth_error("temporarily_unavailable", 503))
    with pytest.raises(VaultUnavailable) as caught:
        sync_client(api, clock, max_retries=2).vault_token(CONN)
    assert clock.sleeps == [0.5, 1.0] and caught.value.retry_after is None


def test_a_long_retry_after_is_raised_at_once(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, (503, {"error": "temporarily_unavailable"}, {"Retry-After": "600"}))
    with pytest.raises(VaultUnavailable) as caught:
        sync_client(api, clock).vault_token(CONN)
    assert clock.sleeps == [] and caught.value.retry_after == 600


def test_an_answer_without_a_token_is_invalid_response(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, (200, {"token_type": "Bearer", "expires_in": 3599}))
    with pytest.raises(VaultGuardError) as caught:
        sync_client(api, clock).vault_token(CONN)
    assert caught.value.error == "invalid_response"


# -- the token stays out of sight -------------------------------------------------------------


def test_the_token_is_in_no_repr_or_str(clock: FakeTime) -> None:
    api = FakeApi().on(
        *EXCHANGE, exchanged(), oauth_error("connection_needs_reauthorization", 409, reason="invalid_grant")
    )
    client = sync_client(api, clock)
    token = client.vault_token(CONN)
    scope = client.with_vault_token(CONN)
    with scope as value:
        assert value == GOOGLE_TOKEN
        shown = [
            repr(token),
            str(token),
            repr(client),
            repr(scope),
            repr(scope.token),
            repr(client._vault_tokens),
        ]
    with pytest.raises(ConnectionNeedsReauth) as caught:
        client.vault_token(CONN, [GMAIL])
    shown += [str(caught.value), repr(caught.value), f"{token} {token!r}"]
    assert not [text for text in shown if GOOGLE_TOKEN in text]
    assert f"connection_id='{CONN}'" in repr(token) and "access_token" not in repr(token)


def test_the_token_is_in_no_log_line(clock: FakeTime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = FakeApi().on(*EXCHANGE, exchanged())

    async def scenario() -> None:
        client = async_client(api, clock)
        token = await client.vault_token(CONN)
        logging.getLogger("vaultguard").info("got %s", token)  # as an agent's own log line might
        async with client.with_vault_token(CONN):
            pass

    asyncio.run(scenario())
    lines = [record.getMessage() for record in caplog.records]
    assert any("/vault/exchange" in line for line in lines)  # httpx logged the call itself
    assert not [line for line in lines if GOOGLE_TOKEN in line]


# -- with_vault_token -------------------------------------------------------------------------


def test_with_vault_token_yields_the_token_string_and_reuses_it(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, exchanged())
    client = sync_client(api, clock)
    scope = client.with_vault_token(CONN, [CALENDAR])
    with scope as token:
        assert token == GOOGLE_TOKEN
        assert scope.token is not None and scope.token.scope == [CALENDAR]
    assert scope.token is None
    with client.with_vault_token(CONN, [CALENDAR]) as token:
        assert token == GOOGLE_TOKEN
    assert exchanges(api) == [{"connection_id": CONN, "scopes": [CALENDAR]}]
    assert {s.path for s in api.seen} == {"/oauth/token", "/vault/exchange"}  # nothing to revoke


def test_with_vault_token_as_a_decorator_passes_token_by_keyword(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, exchanged(token="t1", expires_in=120), exchanged(token="t2"))
    client = sync_client(api, clock)

    @client.with_vault_token(CONN)
    def read_calendar(day: str, *, token: str) -> str:
        return f"{day}:{token}"

    assert read_calendar.__name__ == "read_calendar"
    assert read_calendar("monday") == "monday:t1"
    clock.now += 61  # 59 s left: the next call gets a new token
    assert read_calendar("tuesday") == "tuesday:t2"


def test_with_vault_token_raises_the_refusal_on_entry(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, oauth_error("not_found", 404))
    ran = []
    with pytest.raises(ConnectionNotFound):
        with sync_client(api, clock).with_vault_token(CONN):
            ran.append(True)
    assert ran == []


# -- async ------------------------------------------------------------------------------------


def test_async_vault_token_reuse_and_scopes(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, exchanged(token="a", expires_in=600), exchanged(token="b"))

    async def scenario() -> None:
        async with async_client(api, clock) as client:
            token = await client.vault_token(CONN, [GMAIL, CALENDAR])
            assert token.access_token == "a" and token.provider == "google"
            assert (await client.vault_token(CONN, [CALENDAR, GMAIL])).access_token == "a"
            clock.now += 540
            assert (await client.vault_token(CONN, [CALENDAR, GMAIL])).access_token == "b"

    asyncio.run(scenario())
    assert [e["scopes"] for e in exchanges(api)] == [[GMAIL, CALENDAR], [CALENDAR, GMAIL]]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (oauth_error("not_found", 404), ConnectionNotFound),
        (
            oauth_error("connection_needs_reauthorization", 409, connection_id=CONN, reason="x"),
            ConnectionNeedsReauth,
        ),
        (oauth_error("forbidden", 403), VaultAccessDenied),
        (oauth_error("invalid_scope", 400, missing_scopes=[GMAIL]), VaultScopeError),
        ((503, {"error": "temporarily_unavailable"}, {"Retry-After": "2"}), VaultUnavailable),
    ],
)
def test_async_refusals_are_the_same_typed_errors(
    clock: FakeTime, answer: Any, expected: type[VaultGuardError]
) -> None:
    api = FakeApi().on(*EXCHANGE, answer)

    async def scenario() -> None:
        with pytest.raises(expected):
            await async_client(api, clock, max_retries=1).vault_token(CONN)

    asyncio.run(scenario())
    assert clock.sleeps == ([2.0] if expected is VaultUnavailable else [])


def test_async_with_vault_token_context_manager_and_decorator(clock: FakeTime) -> None:
    api = FakeApi().on(*EXCHANGE, exchanged())

    async def scenario() -> None:
        client = async_client(api, clock)
        scope = client.with_vault_token(CONN, CALENDAR)
        async with scope as token:
            assert token == GOOGLE_TOKEN and scope.token is not None
        assert scope.token is None and GOOGLE_TOKEN not in repr(scope)

        @client.with_vault_token(CONN, [CALENDAR])
        async def read_calendar(day: str, *, token: str) -> str:
            return f"{day}:{token}"

        assert await read_calendar("monday") == f"monday:{GOOGLE_TOKEN}"
        with pytest.raises(TypeError, match="async"):
            client.with_vault_token(CONN)(lambda token: token)

    asyncio.run(scenario())
    assert len(api.calls(*EXCHANGE)) == 1  # the decorator reused the block's token
