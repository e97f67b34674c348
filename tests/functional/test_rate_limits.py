"""Request budgets: 429 with Retry-After once a client or an agent spends its budget."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.functional.conftest import Stack, stack_with


@pytest.fixture
def limited(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with stack_with(
        monkeypatch,
        VAULTGUARD_RATE_DELEGATIONS_PER_MINUTE="3",
        VAULTGUARD_RATE_CLIENT_READS_PER_15_MINUTES="12",
    ) as stack:
        yield stack


def test_agent_delegation_budget_per_minute(limited: Stack) -> None:
    medicore, natsupply = limited.tenant("MediCore"), limited.tenant("NatSupply")
    agent = limited.agent(medicore)
    limited.policy(natsupply, "stock.write", "ALLOW", medicore)

    statuses = [limited.request(agent, natsupply, "stock.write").status for _ in range(3)]
    assert statuses == [201, 201, 201]

    refused = limited.request(agent, natsupply, "stock.write")
    assert refused.status == 429
    assert refused.body["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # The refused request changed nothing: still three delegations.
    listed = limited.call("GET", "/delegations?direction=outbound", medicore.admin_token)
    assert len(listed.body["delegations"]) == 3


def test_client_read_budget_counts_every_read_of_that_client_only(limited: Stack) -> None:
    tenant = limited.tenant("MediCore")  # the token request is a write: not from this budget
    replies = [limited.call("GET", "/agents", tenant.admin_token).status for _ in range(13)]
    assert replies[:12] == [200] * 12
    assert replies[12] == 429
    # Another client is unaffected.
    other = limited.tenant("NatSupply")
    assert limited.call("GET", "/agents", other.admin_token).status == 200
