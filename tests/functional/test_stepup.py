"""Step-up approval end to end through the API: CIBA poll mode, the /stepup trio, decisions."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from tests.functional.conftest import Agent, Reply, Stack, Tenant

CIBA = "urn:openid:params:grant-type:ciba"


def world(stack: Stack, **policy: object) -> tuple[Tenant, Tenant, Agent]:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore, "buyer")
    stack.policy(natsupply, "requisition.submit", "STEP_UP", medicore, **policy)
    return medicore, natsupply, agent


def poll(stack: Stack, agent: Agent, auth_req_id: str) -> Reply:
    return stack.form(
        "/oauth/token",
        urlencode(
            {
                "grant_type": CIBA,
                "auth_req_id": auth_req_id,
                "client_id": agent.client_id,
                "client_secret": agent.secret,
            }
        ),
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Lets a test move VaultGuard's clock forward (tokens stay valid for PyJWT)."""
    offset = [0.0]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])
    return offset


def test_pending_then_approved_then_token_exactly_once(stack: Stack, clock: list[float]) -> None:
    medicore, natsupply, agent = world(stack)
    started = stack.request(
        agent, natsupply, "requisition.submit", purpose="weekly order", binding_message="REQ-4471"
    )
    assert started.status == 202
    auth_req_id = started.body["auth_req_id"]

    pending = poll(stack, agent, auth_req_id)
    assert (pending.status, pending.body["error"]) == (400, "authorization_pending")

    queue = stack.call("GET", "/delegations?direction=inbound&status=PENDING", natsupply.admin_token).body
    [item] = queue["delegations"]
    assert item["requesting_tenant_name"] == "MediCore" and item["agent_name"] == "buyer"
    assert item["binding_message"] == "REQ-4471" and item["purpose"] == "weekly order"
    assert 0 < item["expires_in"] <= 300 and item["ttl_seconds"] == 3600

    approved = stack.call(
        "POST", f"/delegations/{started.body['delegation_id']}/approve", natsupply.admin_token
    )
    assert approved.status == 200 and approved.body["status"] == "ACTIVE"

    clock[0] += 6  # wait the interval
    granted = poll(stack, agent, auth_req_id)
    assert granted.status == 200, granted.body
    assert granted.body["token_type"] == "Bearer" and granted.body["scope"] == "requisition.submit"
    assert stack.verify(granted.body["access_token"], natsupply.admin_token).body["active"] is True

    clock[0] += 6
    again = poll(stack, agent, auth_req_id)
    assert (again.status, again.body["error"]) == (400, "invalid_grant")

    types = [e["type"] for e in stack.audit(medicore)]
    assert "delegation.approved" in types and "token.issued" in types


def test_slow_down_grows_the_interval_by_five_seconds(stack: Stack, clock: list[float]) -> None:
    _, natsupply, agent = world(stack)
    auth_req_id = stack.request(agent, natsupply, "requisition.submit").body["auth_req_id"]
    assert poll(stack, agent, auth_req_id).body["error"] == "authorization_pending"

    fast = poll(stack, agent, auth_req_id)
    assert (fast.status, fast.body["error"], fast.body["interval"]) == (400, "slow_down", 10)

    clock[0] += 6  # enough for the first interval, not for the grown one
    still_fast = poll(stack, agent, auth_req_id)
    assert (still_fast.body["error"], still_fast.body["interval"]) == ("slow_down", 15)

    clock[0] += 16
    patient = poll(stack, agent, auth_req_id)
    assert (patient.body["error"], patient.body["interval"]) == ("authorization_pending", 15)
    status = stack.call("GET", f"/stepup/{auth_req_id}/status", agent.token).body
    assert status["interval"] == 15


def test_rejected_request_answers_access_denied(stack: Stack) -> None:
    _, natsupply, agent = world(stack)
    started = stack.request(agent, natsupply, "requisition.submit").body
    rejected = stack.call(
        "POST",
        f"/delegations/{started['delegation_id']}/reject",
        natsupply.admin_token,
        {"reason": "not this week"},
    )
    assert rejected.status == 200 and rejected.body["status"] == "REJECTED"
    denied = poll(stack, agent, started["auth_req_id"])
    assert (denied.status, denied.body["error"]) == (400, "access_denied")
    again = stack.call("POST", f"/delegations/{started['delegation_id']}/approve", natsupply.admin_token)
    assert (again.status, again.body["error"]) == (409, "already_decided")


def test_expiry_is_enforced_while_the_item_still_exists(stack: Stack, clock: list[float]) -> None:
    _, natsupply, agent = world(stack, stepup_expiry_seconds=60)
    started = stack.request(agent, natsupply, "requisition.submit").body
    assert started["expires_in"] == 60
    clock[0] += 61
    assert poll(stack, agent, started["auth_req_id"]).body["error"] == "expired_token"
    late = stack.call("POST", f"/delegations/{started['delegation_id']}/approve", natsupply.admin_token)
    assert (late.status, late.body["error"]) == (400, "expired_token")
    view = stack.call("GET", f"/delegations/{started['delegation_id']}", natsupply.admin_token).body
    assert view["status"] == "EXPIRED"


def test_only_the_requesting_agent_may_poll(stack: Stack) -> None:
    medicore, natsupply, agent = world(stack)
    sibling = stack.agent(medicore, "sibling")
    outsider_tenant = stack.tenant("Outsider")
    outsider = stack.agent(outsider_tenant)
    auth_req_id = stack.request(agent, natsupply, "requisition.submit").body["auth_req_id"]
    unknown = poll(stack, agent, "x" * 43)
    for other in (sibling, outsider):
        reply = poll(stack, other, auth_req_id)
        assert (
            (reply.status, reply.body["error"])
            == (unknown.status, unknown.body["error"])
            == (400, "invalid_grant")
        )
        assert reply.body["error_description"] == unknown.body["error_description"]


def test_requesting_tenant_cannot_decide_its_own_request(stack: Stack) -> None:
    medicore, natsupply, agent = world(stack)
    started = stack.request(agent, natsupply, "requisition.submit").body
    for path in (
        f"/delegations/{started['delegation_id']}/approve",
        f"/stepup/{started['auth_req_id']}/complete",
    ):
        reply = stack.call(
            "POST", path, medicore.admin_token, {"decision": "approve"} if "complete" in path else None
        )
        assert reply.status == 404
    assert stack.call("POST", f"/delegations/{started['delegation_id']}/approve", agent.token).status == 403


def test_stepup_trio_and_backchannel_endpoint(stack: Stack) -> None:
    medicore, natsupply, agent = world(stack, stepup_expiry_seconds=120)
    ack = stack.call(
        "POST",
        "/stepup/initiate",
        agent.token,
        {
            "receiving_tenant_id": natsupply.tenant_id,
            "action": "requisition.submit",
            "requested_expiry": 600,
            "binding_message": "REQ-1",
        },
    )
    assert ack.status == 200 and ack.body["expires_in"] == 120 and ack.body["interval"] == 5
    status = stack.call("GET", f"/stepup/{ack.body['auth_req_id']}/status", agent.token)
    assert status.body["status"] == "PENDING"
    done = stack.call(
        "POST", f"/stepup/{ack.body['auth_req_id']}/complete", natsupply.admin_token, {"decision": "approve"}
    )
    assert done.status == 200
    delivered = stack.call("GET", f"/stepup/{ack.body['auth_req_id']}/status", agent.token).body
    assert delivered["status"] == "APPROVED" and delivered["access_token"]
    later = stack.call("GET", f"/stepup/{ack.body['auth_req_id']}/status", agent.token).body
    assert later["status"] == "APPROVED" and "access_token" not in later

    form = urlencode(
        {
            "scope": "openid requisition.submit",
            "login_hint": natsupply.tenant_id,
            "binding_message": "REQ-2",
            "requested_expiry": "90",
        }
    )
    bc = stack.form("/bc-authorize", form, headers={"authorization": basic(agent)})
    assert bc.status == 200 and set(bc.body) == {"auth_req_id", "expires_in", "interval"}
    assert bc.body["expires_in"] == 90

    # requested_expiry is a hint (CIBA Core §7.1): below the minimum it is clamped, not refused.
    short = urlencode(
        {"scope": "requisition.submit", "login_hint": natsupply.tenant_id, "requested_expiry": "5"}
    )
    clamped = stack.form("/bc-authorize", short, headers={"authorization": basic(agent)})
    assert clamped.status == 200, clamped.body
    assert clamped.body["expires_in"] == 30

    blocked_form = urlencode({"scope": "admin.access", "login_hint": natsupply.tenant_id})
    blocked = stack.form("/bc-authorize", blocked_form, headers={"authorization": basic(agent)})
    plain = stack.request(agent, natsupply, "admin.access")
    assert blocked.status == plain.status == 403
    assert {**blocked.body, "request_id": ""} == {**plain.body, "request_id": ""}


def basic(agent: Agent) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{agent.client_id}:{agent.secret}".encode()).decode()
