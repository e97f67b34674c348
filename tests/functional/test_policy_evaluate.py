"""POST /policies/evaluate: the decision a delegation request would get, without making one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.conftest import Stack, Tenant
from tests.functional.fake_idp import FakeIdp, Person
from tests.functional.helpers import shared_botocore_data
from tests.functional.people import Browser, invite
from tests.functional.test_round_trips import OTHER, dynamodb_calls

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

UNKNOWN = "tnt_" + "0" * 20


def _evaluate(stack: Stack, tenant: Tenant, requester: str, action: str) -> dict[str, Any]:
    body = {"requesting_tenant_id": requester, "action": action}
    reply = stack.call("POST", "/policies/evaluate", tenant.admin_token, body)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def _listed(stack: Stack, tenant: Tenant, action: str, requester: str | None) -> dict[str, Any]:
    policies = stack.call("GET", "/policies", tenant.admin_token).body["policies"]
    return next(p for p in policies if (p["action"], p["requesting_tenant_id"]) == (action, requester))


def test_the_most_specific_policy_decides_as_for_a_real_request(stack: Stack) -> None:
    med, nat, clinic = stack.tenant("MediCore"), stack.tenant("NatSupply"), stack.tenant("Clinic")
    stack.policy(nat, "stock.*", "ALLOW")
    stack.policy(nat, "stock.write", "STEP_UP")
    stack.policy(nat, "stock.write", "BLOCK", med)
    stack.policy(nat, "orders.read", "ALLOW", clinic)
    cases = [
        (clinic, "stock.write", "STEP_UP", ("stock.write", None)),  # exact action over wildcard
        (clinic, "stock.read", "ALLOW", ("stock.*", None)),
        (med, "stock.write", "BLOCK", ("stock.write", med.tenant_id)),  # this requester over any
        (med, "stock.read", "ALLOW", ("stock.*", None)),
        (clinic, "orders.read", "ALLOW", ("orders.read", clinic.tenant_id)),
    ]
    for requester, action, decision, (rule, rule_requester) in cases:
        answer = _evaluate(stack, nat, requester.tenant_id, action)
        assert answer["decision"] == decision, (action, answer)
        assert answer["policy"] == _listed(stack, nat, rule, rule_requester)
        assert rule in answer["explanation"] and decision in answer["explanation"]
        real = stack.request(stack.agent(requester, f"agent-{action}"), nat, action)
        assert real.status == {"ALLOW": 201, "STEP_UP": 202, "BLOCK": 403}[decision], real.body


def test_no_matching_policy_is_a_block_without_policy(stack: Stack) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    stack.policy(nat, "orders.read", "ALLOW", med)
    for requester in (med.tenant_id, UNKNOWN):  # an unknown requester is not looked up
        answer = _evaluate(stack, nat, requester, "stock.write")
        assert answer["decision"] == "BLOCK" and answer["policy"] is None, answer
        assert "No policy matches" in answer["explanation"]
    assert _evaluate(stack, nat, UNKNOWN, "orders.read")["decision"] == "BLOCK"


def test_an_evaluation_writes_nothing(stack: Stack) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med)
    before = (stack.audit(nat), stack.audit(med), stack.call("GET", "/policies", nat.admin_token).body)
    with dynamodb_calls() as calls:
        assert _evaluate(stack, nat, med.tenant_id, "stock.write")["decision"] == "ALLOW"
    assert "TransactWriteItems" not in calls and "PutItem" not in calls, dict(calls)
    after = (stack.audit(nat), stack.audit(med), stack.call("GET", "/policies", nat.admin_token).body)
    assert after == before
    for tenant in (med, nat):
        listed = stack.call("GET", "/delegations?direction=inbound", tenant.admin_token).body["delegations"]
        assert listed == []


@pytest.mark.parametrize(
    "body",
    [
        {"action": "stock.write"},
        {"requesting_tenant_id": None, "action": "stock.write"},
        {"requesting_tenant_id": "MediCore", "action": "stock.write"},
        {"requesting_tenant_id": UNKNOWN},
        {"requesting_tenant_id": UNKNOWN, "action": "stock.*"},
        {"requesting_tenant_id": UNKNOWN, "action": "Stock.Write"},
        {"requesting_tenant_id": UNKNOWN, "action": 7},
        {"requesting_tenant_id": UNKNOWN, "action": "stock.write", "effect": "ALLOW"},
    ],
)
def test_bad_input_is_a_400(stack: Stack, body: dict[str, Any]) -> None:
    nat = stack.tenant("NatSupply")
    reply = stack.call("POST", "/policies/evaluate", nat.admin_token, body)
    assert reply.status == 400, reply.body
    assert reply.body["error"] == "invalid_request" and reply.body["error_description"]


def test_agents_may_not_evaluate(stack: Stack) -> None:
    nat = stack.tenant("NatSupply")
    body = {"requesting_tenant_id": UNKNOWN, "action": "stock.write"}
    assert stack.call("POST", "/policies/evaluate", stack.agent(nat).token, body).status == 403


def test_approvers_may_not_and_a_signed_in_admin_may(people: Stack, idp: FakeIdp) -> None:
    nat = people.tenant("NatSupply")
    people.policy(nat, "stock.write", "STEP_UP")
    body = {"requesting_tenant_id": UNKNOWN, "action": "stock.write"}
    answers = {}
    for role in ("approver", "admin"):
        email = f"{role}@natsupply.example"
        browser = Browser(people, idp)
        code = invite(people, nat.admin_token, email, role)
        assert browser.sign_in(Person(sub=f"idp|{role}", email=email), invitation=code).status == 302
        with dynamodb_calls() as calls:
            reply = browser.request("POST", "/policies/evaluate", body)
        answers[role] = reply.status
        if role == "admin":
            assert reply.body["decision"] == "STEP_UP", reply.body
            assert sum(calls.values()) <= OTHER, dict(calls)
    assert answers == {"approver": 403, "admin": 200}
