"""Failed client authentications: nobody can lock a client out by knowing its client id
(client ids are in every delegation token), a noisy source is stopped, and the victim's
audit log gets a handful of aggregated events, not one per attempt."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chalicelib.services.ratelimit import FAILURE_WINDOW
from tests.functional.conftest import Reply, Stack, stack_with
from tests.functional.helpers import all_audit, basic

ATTACKER = {"x-forwarded-for": "203.0.113.66"}
VICTIM = {"x-forwarded-for": "198.51.100.7"}


@pytest.fixture
def guarded(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    # The failure budgets count in fixed 15-minute windows: the clock starts at the beginning of
    # one, so a slow run cannot cross into the next window (a fresh budget) halfway through.
    real, started = time.time, time.time()
    window_start = started - started % FAILURE_WINDOW
    monkeypatch.setattr(time, "time", lambda: window_start + 1 + (real() - started))
    with stack_with(
        monkeypatch,
        VAULTGUARD_CLIENT_IP_HEADER="X-Forwarded-For",
        VAULTGUARD_RATE_AUTH_FAILURES_PER_SOURCE="1000",
        VAULTGUARD_RATE_AUTH_FAILURES_PER_CLIENT="20",
    ) as stack:
        yield stack


def token_request(stack: Stack, client_id: str, secret: str, source: dict[str, str]) -> Reply:
    return stack.form("/oauth/token", "grant_type=client_credentials", {**basic(client_id, secret), **source})


def test_the_right_secret_works_after_250_failures_by_someone_else(guarded: Stack) -> None:
    stack = guarded
    tenant = stack.tenant("NatSupply")
    agent = stack.agent(tenant)
    answers = [token_request(stack, agent.client_id, "vgs_wrong", ATTACKER).status for _ in range(250)]
    assert set(answers[:20]) == {401}
    assert set(answers[20:]) == {429}, "past the client's failure budget a wrong secret is slowed down"

    ok = token_request(stack, agent.client_id, agent.secret, VICTIM)
    assert ok.status == 200, ok.body
    # The attacker's own source still gets through with the right secret too: only the
    # *wrong* secrets are refused past the client's failure budget.
    assert token_request(stack, agent.client_id, agent.secret, ATTACKER).status == 200

    failed = [e for e in all_audit(stack, tenant) if e["type"] == "auth.failed"]
    assert 1 <= len(failed) <= 4, failed
    newest = failed[0]["detail"]
    assert newest["client_id"] == agent.client_id
    assert newest["failures"] >= 100
    assert newest["sources"] == ["203.0.113.66"]
    assert "vgs_wrong" not in str(failed)


def test_unknown_client_ids_write_nothing_to_any_tenant(guarded: Stack) -> None:
    stack = guarded
    tenant = stack.tenant("NatSupply")
    before = len(all_audit(stack, tenant))
    fake = "vgc_" + tenant.tenant_id[4:] + "_" + "0" * 24
    for _ in range(5):
        assert token_request(stack, fake, "vgs_guess", ATTACKER).status == 401
    assert len(all_audit(stack, tenant)) == before


@pytest.fixture
def strict_source(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with stack_with(
        monkeypatch,
        VAULTGUARD_CLIENT_IP_HEADER="X-Forwarded-For",
        VAULTGUARD_RATE_AUTH_FAILURES_PER_SOURCE="10",
    ) as stack:
        yield stack


def test_a_source_past_its_failure_budget_is_refused_even_with_a_right_secret(strict_source: Stack) -> None:
    stack = strict_source
    tenant = stack.tenant("NatSupply")
    agent = stack.agent(tenant)
    other = stack.agent(tenant, "other")
    for _ in range(10):  # spread over client ids: credential stuffing from one address
        assert token_request(stack, other.client_id, "vgs_wrong", ATTACKER).status == 401
    refused = token_request(stack, agent.client_id, agent.secret, ATTACKER)
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert token_request(stack, agent.client_id, agent.secret, VICTIM).status == 200
