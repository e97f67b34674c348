"""Request budgets sized for people: a page that polls every 5 s and an agent polling its
CIBA request never meet a 429 over 15 minutes; writes keep their own, smaller budget."""

from __future__ import annotations

import time

import pytest

from tests.functional.conftest import Stack, stack_with
from tests.functional.helpers import basic, form

CIBA = "urn:openid:params:grant-type:ciba"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_polling_page_and_a_polling_agent_get_no_429_in_15_minutes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(med)
    stack.policy(nat, "requisition.submit", "STEP_UP", med)
    pending = stack.request(agent, nat, "requisition.submit").body
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    statuses: dict[int, int] = {}
    for _ in range(170):  # 14 min 10 s of polling every 5 s
        clock.now += 5
        for reply in (
            stack.call("GET", "/delegations?status=PENDING", nat.admin_token),
            stack.call("GET", "/delegations", med.admin_token),
            stack.call("GET", "/audit?limit=20", nat.admin_token),
            stack.form(
                "/oauth/token",
                form({"grant_type": CIBA, "auth_req_id": pending["auth_req_id"]}),
                basic(agent.client_id, agent.secret),
            ),
        ):
            statuses[reply.status] = statuses.get(reply.status, 0) + 1
            assert reply.status != 429, reply.body
    assert statuses[200] == 170 * 3
    assert statuses[400] == 170  # authorization_pending, never slow_down at the right pace


def test_writes_have_their_own_budget(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with stack_with(
        monkeypatch,
        VAULTGUARD_RATE_CLIENT_WRITES_PER_15_MINUTES="5",
        VAULTGUARD_RATE_CLIENT_READS_PER_15_MINUTES="50",
    ) as stack:
        tenant = stack.tenant("MediCore")  # the token request is the client's first write
        token = tenant.admin_token
        writes = [stack.call("POST", "/agents", token, {"name": f"a{i}"}).status for i in range(5)]
        assert writes == [201, 201, 201, 201, 429]
        assert stack.call("GET", "/agents", tenant.admin_token).status == 200  # reads still fine
