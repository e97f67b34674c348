"""VaultGuardClient and AsyncVaultGuardClient against a scripted API: token cache, error
mapping, retries, CIBA polling and the three forms of `with_delegation`. No sockets, no sleeps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from vaultguard import (
    AuthenticationFailed,
    Delegation,
    DelegationBlocked,
    PendingDelegation,
    RateLimited,
    ServiceUnavailable,
    StepUpExpired,
    StepUpRejected,
    StepUpTimeout,
    VaultGuardError,
)

from tests.sdk.fake_api import (
    CLIENT_ID,
    CLIENT_SECRET,
    DELEGATION_TOKEN,
    DLG,
    NATSUPPLY,
    FakeApi,
    FakeTime,
    Unreachable,
    allowed,
    async_client,
    ciba_token,
    oauth_error,
    revoked,
    stepped_up,
    sync_client,
)

REQUEST = ("POST", "/delegations/request")
TOKEN = ("POST", "/oauth/token")
REVOKE = ("POST", f"/delegations/{DLG}/revoke")
CIBA = "urn:openid:params:grant-type:ciba"


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


# -- the API token ---------------------------------------------------------------------------


def test_api_token_is_fetched_once_with_basic_auth_and_reused(clock: FakeTime) -> None:
    api = FakeApi().on("GET", f"/delegations/{DLG}", (200, {"delegation_id": DLG}))
    client = sync_client(api, clock)

    assert client.get_delegation(DLG) == {"delegation_id": DLG}
    assert client.get_delegation(DLG)["delegation_id"] == DLG

    [sign_in] = api.token_requests()
    assert sign_in.basic_auth == (CLIENT_ID, CLIENT_SECRET)
    assert sign_in.form == {"grant_type": "client_credentials"}
    gets = api.calls("GET", f"/delegations/{DLG}")
    assert len(gets) == 2 and gets[0].bearer == gets[1].bearer and gets[0].bearer
    assert gets[0].headers["x-request-id"] != gets[1].headers["x-request-id"]


def test_api_token_is_refreshed_a_minute_before_it_expires(clock: FakeTime) -> None:
    api = FakeApi(token_expires_in=3600).on("GET", f"/delegations/{DLG}", (200, {}))
    client = sync_client(api, clock)
    client.get_delegation(DLG)
    clock.now += 3600 - 61
    client.get_delegation(DLG)
    assert len(api.token_requests()) == 1
    clock.now += 2  # now 59 s before expiry
    client.get_delegation(DLG)
    assert len(api.token_requests()) == 2
    first, _, last = api.calls("GET", f"/delegations/{DLG}")
    assert first.bearer != last.bearer


def test_a_401_on_an_api_call_refreshes_the_token_once(clock: FakeTime) -> None:
    api = FakeApi().on("GET", f"/delegations/{DLG}", oauth_error("invalid_token", 401), (200, {"ok": 1}))
    client = sync_client(api, clock)
    assert client.get_delegation(DLG) == {"ok": 1}
    assert len(api.token_requests()) == 2

    api.on("GET", f"/delegations/{DLG}", oauth_error("invalid_token", 401))
    with pytest.raises(AuthenticationFailed):
        client.get_delegation(DLG)


def test_credentials_of_another_tenant_fail_before_anything_is_requested(clock: FakeTime) -> None:
    api = FakeApi(token_tenant="tnt_someone_else").on(*REQUEST, allowed())
    client = sync_client(api, clock, tenant_id="tnt_medicore")
    with pytest.raises(VaultGuardError) as caught:
        client.request_delegation(NATSUPPLY, "stock.write")
    assert caught.value.error == "tenant_mismatch"
    assert "tnt_someone_else" in str(caught.value)
    assert api.calls(*REQUEST) == []


def test_matching_tenant_id_is_accepted(clock: FakeTime) -> None:
    client = sync_client(FakeApi().on(*REQUEST, allowed()), clock, tenant_id="tnt_medicore")
    assert isinstance(client.request_delegation(NATSUPPLY, "stock.write"), Delegation)


def test_wrong_client_secret_is_authentication_failed(clock: FakeTime) -> None:
    api = FakeApi().on("POST", "client_credentials", oauth_error("invalid_client", 401))
    with pytest.raises(AuthenticationFailed) as caught:
        sync_client(api, clock).list_delegations()
    assert caught.value.error == "invalid_client" and caught.value.status_code == 401


# -- request_delegation and error mapping ----------------------------------------------------


def test_allow_returns_a_delegation_and_sends_the_request_fields(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, allowed())
    outcome = sync_client(api, clock).request_delegation(
        NATSUPPLY, "stock.write", ttl_seconds=600, purpose="restock", idempotency_key="key-12345678"
    )
    assert isinstance(outcome, Delegation)
    assert outcome.access_token == DELEGATION_TOKEN and outcome.scope == "stock.write"
    assert outcome.expires_at.isoformat() == "2030-01-01T01:00:00+00:00"
    assert outcome.authorization_header == f"Bearer {DELEGATION_TOKEN}"
    [sent] = api.calls(*REQUEST)
    assert sent.json == {
        "receiving_tenant_id": NATSUPPLY,
        "action": "stock.write",
        "ttl_seconds": 600,
        "purpose": "restock",
    }
    assert sent.headers["idempotency-key"] == "key-12345678"


def test_step_up_returns_a_pending_delegation(clock: FakeTime) -> None:
    outcome = sync_client(FakeApi().on(*REQUEST, stepped_up()), clock).request_delegation(
        NATSUPPLY, "requisition.submit", binding_message="REQ-1"
    )
    assert isinstance(outcome, PendingDelegation)
    assert (outcome.auth_req_id, outcome.interval, outcome.expires_in) == ("areq-1", 5, 300)
    assert outcome.created == clock.now


@pytest.mark.parametrize(
    ("answer", "expected", "error"),
    [
        (oauth_error("access_denied", 403, decision="BLOCK"), DelegationBlocked, "access_denied"),
        (oauth_error("invalid_token", 401), AuthenticationFailed, "invalid_token"),
        (oauth_error("tenant_mismatch", 403), VaultGuardError, "tenant_mismatch"),
        (oauth_error("invalid_request", 400), VaultGuardError, "invalid_request"),
        (oauth_error("idempotency_key_reused", 422), VaultGuardError, "idempotency_key_reused"),
        (
            (429, {"error": "rate_limited", "request_id": "req-1"}, {"Retry-After": "30"}),
            RateLimited,
            "rate_limited",
        ),
        (oauth_error("temporarily_unavailable", 503), ServiceUnavailable, "temporarily_unavailable"),
        (oauth_error("server_error", 500), ServiceUnavailable, "server_error"),
    ],
)
def test_each_error_status_becomes_its_typed_error(
    clock: FakeTime, answer: Any, expected: type[VaultGuardError], error: str
) -> None:
    client = sync_client(FakeApi().on(*REQUEST, answer), clock, max_retries=0)
    with pytest.raises(VaultGuardError) as caught:
        client.request_delegation(NATSUPPLY, "stock.write")
    assert type(caught.value) is expected
    assert caught.value.error == error
    assert caught.value.status_code == answer[0]
    assert caught.value.request_id == "req-1"
    if expected is RateLimited:
        assert isinstance(caught.value, RateLimited) and caught.value.retry_after == 30


def test_request_id_falls_back_to_the_response_header(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, (400, {"error": "invalid_request"}))
    with pytest.raises(VaultGuardError) as caught:
        sync_client(api, clock).request_delegation(NATSUPPLY, "stock.write")
    [sent] = api.calls(*REQUEST)
    assert caught.value.request_id == sent.headers["x-request-id"]


# -- retries ---------------------------------------------------------------------------------


def test_5xx_is_retried_with_exponential_backoff_and_the_same_idempotency_key(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, oauth_error("server_error", 500), oauth_error("x", 503), allowed())
    outcome = sync_client(api, clock).request_delegation(NATSUPPLY, "stock.write")
    assert isinstance(outcome, Delegation)
    assert clock.sleeps == [0.5, 1.0]
    keys = {s.headers["idempotency-key"] for s in api.calls(*REQUEST)}
    assert len(keys) == 1 and len(api.calls(*REQUEST)) == 3


def test_connection_failures_are_retried_then_service_unavailable(clock: FakeTime) -> None:
    api = FakeApi().on("GET", f"/delegations/{DLG}", Unreachable)
    with pytest.raises(ServiceUnavailable) as caught:
        sync_client(api, clock, max_retries=3, backoff=0.5).get_delegation(DLG)
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert len(api.calls("GET", f"/delegations/{DLG}")) == 4
    assert caught.value.error == "connection_error"


def test_connection_failure_then_success(clock: FakeTime) -> None:
    api = FakeApi().on("GET", f"/delegations/{DLG}", Unreachable, (200, {"delegation_id": DLG}))
    assert sync_client(api, clock).get_delegation(DLG) == {"delegation_id": DLG}
    assert clock.sleeps == [0.5]


def test_429_waits_for_retry_after(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, (429, {"error": "rate_limited"}, {"Retry-After": "7"}), allowed())
    assert isinstance(sync_client(api, clock).request_delegation(NATSUPPLY, "stock.write"), Delegation)
    assert clock.sleeps == [7.0]


def test_429_gives_up_after_max_retries(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, (429, {"error": "rate_limited"}, {"Retry-After": "2"}))
    with pytest.raises(RateLimited) as caught:
        sync_client(api, clock, max_retries=2).request_delegation(NATSUPPLY, "stock.write")
    assert clock.sleeps == [2.0, 2.0] and caught.value.retry_after == 2


def test_a_long_retry_after_is_raised_at_once(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, (429, {"error": "rate_limited"}, {"Retry-After": "600"}))
    with pytest.raises(RateLimited) as caught:
        sync_client(api, clock).request_delegation(NATSUPPLY, "stock.write")
    assert clock.sleeps == [] and caught.value.retry_after == 600


@pytest.mark.parametrize(
    "answer", [oauth_error("access_denied", 403), oauth_error("invalid_request", 400), oauth_error("x", 404)]
)
def test_decisions_are_never_retried(clock: FakeTime, answer: Any) -> None:
    api = FakeApi().on(*REQUEST, answer)
    with pytest.raises(VaultGuardError):
        sync_client(api, clock).request_delegation(NATSUPPLY, "stock.write")
    assert len(api.calls(*REQUEST)) == 1 and clock.sleeps == []


def test_initiate_step_up_is_not_retried_on_5xx(clock: FakeTime) -> None:
    api = FakeApi().on("POST", "/stepup/initiate", oauth_error("server_error", 500))
    with pytest.raises(ServiceUnavailable):
        sync_client(api, clock).initiate_step_up(NATSUPPLY, "requisition.submit")
    assert len(api.calls("POST", "/stepup/initiate")) == 1


def test_initiate_step_up_returns_a_pending_delegation(clock: FakeTime) -> None:
    body = {"auth_req_id": "areq-9", "expires_in": 120, "interval": 5, "delegation_id": DLG}
    api = FakeApi().on("POST", "/stepup/initiate", (200, body))
    pending = sync_client(api, clock).initiate_step_up(
        NATSUPPLY, "requisition.submit", binding_message="REQ-9", requested_expiry=120
    )
    assert pending.auth_req_id == "areq-9" and pending.expires_in == 120
    [sent] = api.calls("POST", "/stepup/initiate")
    assert sent.json == {
        "receiving_tenant_id": NATSUPPLY,
        "action": "requisition.submit",
        "binding_message": "REQ-9",
        "requested_expiry": 120,
    }


# -- polling ---------------------------------------------------------------------------------


def pending_now(clock: FakeTime, expires_in: int = 300, interval: int = 5) -> PendingDelegation:
    return PendingDelegation(DLG, "areq-1", expires_in, interval, created=clock.now)


def test_poll_honours_interval_and_slow_down_then_returns_the_token(clock: FakeTime) -> None:
    api = FakeApi().on(
        *TOKEN,
        oauth_error("authorization_pending", interval=5),
        oauth_error("slow_down", interval=10),
        ciba_token(),
    )
    delegation = sync_client(api, clock).poll_delegation(pending_now(clock))
    assert delegation.access_token == DELEGATION_TOKEN and delegation.delegation_id == DLG
    assert delegation.scope == "requisition.submit"
    # first poll one interval after the request, then 5 s, then 5 + 5 after the slow_down
    assert clock.sleeps == [5.25, 5.25, 10.25]
    polls = [s for s in api.calls(*TOKEN) if s.form.get("grant_type") == CIBA]
    assert len(polls) == 3
    assert all(p.form == {"grant_type": CIBA, "auth_req_id": "areq-1"} for p in polls)
    assert all(p.basic_auth == (CLIENT_ID, CLIENT_SECRET) for p in polls)


def test_slow_down_grows_the_interval_by_5_even_without_an_interval_in_the_body(clock: FakeTime) -> None:
    api = FakeApi().on(*TOKEN, oauth_error("slow_down"), oauth_error("slow_down"), ciba_token())
    sync_client(api, clock).poll_delegation(pending_now(clock))
    assert clock.sleeps == [5.25, 10.25, 15.25]


def test_rejection_is_step_up_rejected(clock: FakeTime) -> None:
    api = FakeApi().on(*TOKEN, oauth_error("authorization_pending"), oauth_error("access_denied"))
    with pytest.raises(StepUpRejected) as caught:
        sync_client(api, clock).poll_delegation(pending_now(clock))
    assert caught.value.status_code == 400 and caught.value.error == "access_denied"


def test_server_expiry_is_step_up_expired(clock: FakeTime) -> None:
    api = FakeApi().on(*TOKEN, oauth_error("expired_token"))
    with pytest.raises(StepUpExpired) as caught:
        sync_client(api, clock).poll_delegation(pending_now(clock))
    assert type(caught.value) is StepUpExpired and caught.value.error == "expired_token"


def test_caller_timeout_is_step_up_timeout_a_timeout_error(clock: FakeTime) -> None:
    api = FakeApi().on(*TOKEN, oauth_error("authorization_pending"))
    pending = pending_now(clock)
    with pytest.raises(TimeoutError) as caught:
        sync_client(api, clock).poll_delegation(pending, timeout=7)
    assert isinstance(caught.value, StepUpTimeout) and isinstance(caught.value, StepUpExpired)
    assert caught.value.pending is pending
    assert clock.sleeps == [5.25, 1.75]  # one poll, then the rest of the 7 s
    assert len(api.calls(*TOKEN)) == 1  # one poll (polling uses client authentication, no API token)


def test_polling_stops_after_expires_in_even_if_the_server_keeps_saying_pending(clock: FakeTime) -> None:
    api = FakeApi().on(*TOKEN, oauth_error("authorization_pending"))
    with pytest.raises(StepUpExpired) as caught:
        sync_client(api, clock).poll_delegation(pending_now(clock, expires_in=12))
    assert not isinstance(caught.value, StepUpTimeout)
    assert clock.now - 1000.0 <= 12 + 10 + 1


def test_a_5xx_while_polling_is_retried(clock: FakeTime) -> None:
    api = FakeApi().on(*TOKEN, oauth_error("server_error", 502), ciba_token())
    assert sync_client(api, clock).poll_delegation(pending_now(clock)).access_token == DELEGATION_TOKEN
    assert clock.sleeps == [5.25, 0.5]


# -- revoke, verify, list --------------------------------------------------------------------


def test_revoke_verify_and_list(clock: FakeTime) -> None:
    api = (
        FakeApi()
        .on(*REVOKE, revoked())
        .on("POST", "/delegations/verify", (200, {"active": False}))
        .on(
            "GET",
            "/delegations",
            (200, {"delegations": [{"delegation_id": "dlg_1"}], "next_cursor": "dlg_1"}),
            (200, {"delegations": [{"delegation_id": "dlg_2"}], "next_cursor": None}),
        )
    )
    client = sync_client(api, clock)
    assert client.revoke(DLG)["status"] == "REVOKED"
    assert client.verify_token("tok") == {"active": False}
    assert api.calls("POST", "/delegations/verify")[0].json == {"token": "tok"}
    assert [d["delegation_id"] for d in client.list_delegations(status="ACTIVE")] == ["dlg_1", "dlg_2"]
    first, second = api.calls("GET", "/delegations")
    assert first.query == {"status": "ACTIVE"} and second.query == {"status": "ACTIVE", "cursor": "dlg_1"}


# -- with_delegation -------------------------------------------------------------------------


def test_context_manager_yields_the_token_and_revokes_on_exit(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, allowed()).on(*REVOKE, revoked())
    client = sync_client(api, clock)
    with client.with_delegation(receiving_tenant_id=NATSUPPLY, action="stock.write") as token:
        assert token == DELEGATION_TOKEN
        assert api.calls(*REVOKE) == []
    assert len(api.calls(*REVOKE)) == 1


def test_revoke_on_exit_false_leaves_the_delegation(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, allowed()).on(*REVOKE, revoked())
    client = sync_client(api, clock)
    with client.with_delegation(receiving_tenant_id=NATSUPPLY, action="stock.write", revoke_on_exit=False):
        pass
    assert api.calls(*REVOKE) == []


def test_context_manager_polls_through_a_step_up(clock: FakeTime) -> None:
    api = (
        FakeApi().on(*REQUEST, stepped_up()).on(*TOKEN, ciba_token("stepped-up-token")).on(*REVOKE, revoked())
    )
    client = sync_client(api, clock)
    with client.with_delegation(
        receiving_tenant_id=NATSUPPLY, action="requisition.submit", binding_message="REQ-7"
    ) as token:
        assert token == "stepped-up-token"
    assert api.calls(*REQUEST)[0].json["binding_message"] == "REQ-7"
    assert len(api.calls(*REVOKE)) == 1


def test_decorator_injects_token_and_gets_a_delegation_per_call(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, allowed()).on(*REVOKE, revoked())
    client = sync_client(api, clock)

    @client.with_delegation(receiving_tenant_id=NATSUPPLY, action="stock.write")
    def write(item: str, *, token: str) -> str:
        return f"{item}:{token}"

    assert write.__name__ == "write"
    assert write("gloves") == f"gloves:{DELEGATION_TOKEN}"
    assert write(item="masks") == f"masks:{DELEGATION_TOKEN}"
    assert len(api.calls(*REQUEST)) == 2 and len(api.calls(*REVOKE)) == 2


def test_call_form_calls_fn_with_the_token_and_returns_its_result(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, allowed()).on(*REVOKE, revoked())
    client = sync_client(api, clock)
    result = client.with_delegation(
        {"receiving_tenant_id": NATSUPPLY, "action": "stock.write"}, lambda t: t[:6]
    )
    assert result == DELEGATION_TOKEN[:6]
    assert api.calls(*REQUEST)[0].json == {"receiving_tenant_id": NATSUPPLY, "action": "stock.write"}
    assert len(api.calls(*REVOKE)) == 1


def test_a_failing_block_still_revokes_and_its_error_wins(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, allowed()).on(*REVOKE, oauth_error("server_error", 500))
    client = sync_client(api, clock, max_retries=0)
    with pytest.raises(KeyError):
        with client.with_delegation(receiving_tenant_id=NATSUPPLY, action="stock.write"):
            raise KeyError("boom")
    assert len(api.calls(*REVOKE)) == 1


def test_a_failed_revocation_after_a_clean_block_is_raised_but_409_is_not(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, allowed()).on(*REVOKE, oauth_error("server_error", 500))
    client = sync_client(api, clock, max_retries=0)
    with pytest.raises(ServiceUnavailable):
        with client.with_delegation(receiving_tenant_id=NATSUPPLY, action="stock.write"):
            pass
    api.on(*REVOKE, oauth_error("conflict", 409))  # it expired meanwhile: nothing to revoke
    with client.with_delegation(receiving_tenant_id=NATSUPPLY, action="stock.write"):
        pass


def test_blocked_with_delegation_never_runs_the_body(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, oauth_error("access_denied", 403))
    client = sync_client(api, clock)
    ran: list[str] = []
    with pytest.raises(DelegationBlocked):
        client.with_delegation({"receiving_tenant_id": NATSUPPLY, "action": "admin.access"}, ran.append)
    assert ran == [] and api.calls(*REVOKE) == []


def test_with_delegation_needs_a_tenant_and_an_action(clock: FakeTime) -> None:
    client = sync_client(FakeApi(), clock)
    with pytest.raises(TypeError, match="action"):
        client.with_delegation(receiving_tenant_id=NATSUPPLY)
    with pytest.raises(TypeError, match="unknown"):
        client.with_delegation({"receiving_tenant_id": NATSUPPLY, "action": "a", "tenant": "x"})


# -- models ----------------------------------------------------------------------------------


def test_delegation_repr_hides_the_token() -> None:
    status, body = allowed(token="eyJSECRET.payload.sig")
    from vaultguard._core import delegation_from

    delegation = delegation_from(body)
    assert "eyJSECRET" not in repr(delegation) and "eyJSECRET" not in str(delegation)
    assert DLG in repr(delegation)
    with pytest.raises(AttributeError):
        delegation.access_token = "other"  # type: ignore[misc]


def test_client_repr_hides_the_secret(clock: FakeTime) -> None:
    assert CLIENT_SECRET not in repr(sync_client(FakeApi(), clock))


# -- the async client: the same behaviour ----------------------------------------------------


def test_async_allow_block_and_token_cache(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, allowed(), oauth_error("access_denied", 403))

    async def scenario() -> None:
        async with async_client(api, clock) as client:
            outcome = await client.request_delegation(NATSUPPLY, "stock.write")
            assert isinstance(outcome, Delegation) and outcome.access_token == DELEGATION_TOKEN
            with pytest.raises(DelegationBlocked):
                await client.request_delegation(NATSUPPLY, "admin.access")

    asyncio.run(scenario())
    assert len(api.token_requests()) == 1
    assert api.token_requests()[0].basic_auth == (CLIENT_ID, CLIENT_SECRET)


def test_async_tenant_mismatch(clock: FakeTime) -> None:
    api = FakeApi(token_tenant="tnt_other").on(*REQUEST, allowed())

    async def scenario() -> None:
        client = async_client(api, clock, tenant_id="tnt_medicore")
        with pytest.raises(VaultGuardError, match="tnt_other"):
            await client.request_delegation(NATSUPPLY, "stock.write")

    asyncio.run(scenario())
    assert api.calls(*REQUEST) == []


def test_async_retries_then_service_unavailable(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, oauth_error("x", 503), Unreachable, allowed())

    async def scenario() -> None:
        client = async_client(api, clock)
        assert isinstance(await client.request_delegation(NATSUPPLY, "stock.write"), Delegation)
        api.on(*REQUEST, Unreachable)
        with pytest.raises(ServiceUnavailable):
            await client.request_delegation(NATSUPPLY, "stock.write")

    asyncio.run(scenario())
    assert clock.sleeps == [0.5, 1.0, 0.5, 1.0, 2.0]


def test_async_429_retry_after(clock: FakeTime) -> None:
    api = FakeApi().on(*REQUEST, (429, {"error": "rate_limited"}, {"Retry-After": "3"}), allowed())
    asyncio.run(async_client(api, clock).request_delegation(NATSUPPLY, "stock.write"))
    assert clock.sleeps == [3.0]


def test_async_poll_slow_down_rejection_and_timeout(clock: FakeTime) -> None:
    api = FakeApi().on(*TOKEN, oauth_error("authorization_pending"), oauth_error("slow_down"), ciba_token())

    async def scenario() -> None:
        client = async_client(api, clock)
        delegation = await client.poll_delegation(pending_now(clock))
        assert delegation.access_token == DELEGATION_TOKEN
        assert clock.sleeps == [5.25, 5.25, 10.25]
        api.on(*TOKEN, oauth_error("access_denied"))
        with pytest.raises(StepUpRejected):
            await client.poll_delegation(pending_now(clock))
        api.on(*TOKEN, oauth_error("authorization_pending"))
        with pytest.raises(StepUpTimeout):
            await client.poll_delegation(pending_now(clock), timeout=3)

    asyncio.run(scenario())


def test_async_with_delegation_three_forms(clock: FakeTime) -> None:
    api = (
        FakeApi()
        .on(*REQUEST, stepped_up(), allowed())
        .on(*TOKEN, ciba_token("stepped"))
        .on(*REVOKE, revoked())
    )

    async def scenario() -> None:
        client = async_client(api, clock)
        async with client.with_delegation(
            receiving_tenant_id=NATSUPPLY, action="requisition.submit"
        ) as token:
            assert token == "stepped"
        assert len(api.calls(*REVOKE)) == 1

        @client.with_delegation(receiving_tenant_id=NATSUPPLY, action="stock.write")
        async def write(item: str, *, token: str) -> str:
            return f"{item}:{token}"

        assert await write("gloves") == f"gloves:{DELEGATION_TOKEN}"

        async def use(token: str) -> int:
            return len(token)

        spec = {"receiving_tenant_id": NATSUPPLY, "action": "stock.write"}
        assert await client.with_delegation(spec, use) == len(DELEGATION_TOKEN)
        assert await client.with_delegation(spec, lambda t: t[:3]) == DELEGATION_TOKEN[:3]
        async with client.with_delegation(spec, revoke_on_exit=False):
            pass

    asyncio.run(scenario())
    assert len(api.calls(*REQUEST)) == 5 and len(api.calls(*REVOKE)) == 4


def test_async_decorator_refuses_a_plain_function(clock: FakeTime) -> None:
    client = async_client(FakeApi(), clock)
    with pytest.raises(TypeError, match="async"):
        client.with_delegation(receiving_tenant_id=NATSUPPLY, action="a")(lambda token: token)
