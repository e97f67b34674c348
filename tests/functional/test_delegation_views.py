"""What the dashboard shows of a delegation: who decided it, when and why, who revoked it,
both tenants' and the agent's names; and who may revoke from a session."""

from __future__ import annotations

from typing import Any

from tests.functional.conftest import Stack, Tenant
from tests.functional.fake_idp import FakeIdp, Person
from tests.functional.people import Browser, invite

ACTION = "requisition.submit"


def _signed_in(stack: Stack, idp: FakeIdp, tenant: Tenant, email: str, role: str) -> Browser:
    code = invite(stack, tenant.admin_token, email, role)
    browser = Browser(stack, idp)
    reply = browser.sign_in(Person(sub=f"idp|{email}", email=email), invitation=code)
    assert reply.status == 302, reply.body
    assert browser.csrf
    return browser


def _world(stack: Stack) -> tuple[Tenant, Tenant, Any]:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(med, "buyer")
    stack.policy(nat, ACTION, "STEP_UP", med)
    stack.policy(nat, "stock.write", "ALLOW", med)
    return med, nat, agent


def _pending(stack: Stack, agent: Any, nat: Tenant) -> str:
    reply = stack.request(agent, nat, ACTION, purpose="weekly order", binding_message="REQ-1")
    assert reply.status == 202, reply.body
    return str(reply.body["delegation_id"])


def _session_subject(browser: Browser) -> str:
    return str(browser.get("/auth/session").body["user_id"])


def test_a_decision_shows_who_when_and_why_and_the_names(people: Stack, idp: FakeIdp) -> None:
    med, nat, agent = _world(people)
    approver = _signed_in(people, idp, nat, "ana@natsupply.example", "approver")
    approved, rejected = _pending(people, agent, nat), _pending(people, agent, nat)
    assert (
        approver.request("POST", f"/delegations/{approved}/approve", {"reason": "expected order"}).status
        == 200
    )
    assert approver.request("POST", f"/delegations/{rejected}/reject", {"reason": "not ours"}).status == 200

    inbound = people.call("GET", f"/delegations/{approved}", nat.admin_token).body
    assert inbound["decided_by"] == _session_subject(approver)
    assert inbound["decided_at"] and inbound["decision_reason"] == "expected order"
    assert (inbound["requesting_tenant_name"], inbound["agent_name"]) == ("MediCore", "buyer")
    assert inbound["receiving_tenant_name"] == "NatSupply"
    assert inbound["revoked_by"] is None and inbound["revoked_at"] is None

    listed = people.call("GET", "/delegations?direction=inbound&status=REJECTED", nat.admin_token).body
    [row] = listed["delegations"]
    assert (row["delegation_id"], row["decision_reason"]) == (rejected, "not ours")
    assert row["decided_by"] == _session_subject(approver)

    outbound = people.call("GET", f"/delegations/{rejected}", med.admin_token).body
    assert outbound["decision_reason"] == "not ours" and outbound["decided_at"]
    assert outbound["decided_by"] is None  # NatSupply's people are not MediCore's to know
    names = (outbound["requesting_tenant_name"], outbound["receiving_tenant_name"])
    assert names == ("MediCore", "NatSupply")


def test_the_outbound_list_names_the_receiving_tenant_unless_created_before_names_were_kept(
    stack: Stack,
) -> None:
    """The requester learns nothing new: an ALLOW or STEP_UP already told it the tenant exists
    (and its admins see the name in GET /graph); a BLOCK creates no delegation to list."""
    from chalicelib.store.models import DelegationModel, DelegationRefModel

    med, nat, agent = _world(stack)
    older = stack.request(agent, nat, "stock.write").body["delegation_id"]
    newer = _pending(stack, agent, nat)
    assert stack.request(agent, nat, "payments.send").status == 403  # no policy: BLOCK
    for model, pk, sk in ((DelegationModel, nat, "DLG#"), (DelegationRefModel, med, "DLGREF#")):
        model(pk=f"T#{pk.tenant_id}", sk=sk + older).update(
            actions=[model.receiving_tenant_name.remove()], add_version_condition=False
        )

    listed = stack.call("GET", "/delegations?direction=outbound", med.admin_token).body["delegations"]
    names = {row["delegation_id"]: row["receiving_tenant_name"] for row in listed}
    assert names == {newer: "NatSupply", older: None}
    assert stack.call("GET", f"/delegations/{older}", nat.admin_token).body["receiving_tenant_name"] is None


def test_an_approver_revokes_inbound_delegations_from_a_session(people: Stack, idp: FakeIdp) -> None:
    med, nat, agent = _world(people)
    approver = _signed_in(people, idp, nat, "ana@natsupply.example", "approver")
    live = people.request(agent, nat, "stock.write").body["delegation_id"]

    refused = approver.request("POST", f"/delegations/{live}/revoke", {}, csrf=False)
    assert refused.status == 403 and refused.body["error"] == "csrf_failed"

    reply = approver.request("POST", f"/delegations/{live}/revoke", {"reason": "supplier audit"})
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "REVOKED"
    assert reply.body["revoked_by"] == _session_subject(approver)
    assert reply.body["revoked_by_tenant_id"] == nat.tenant_id

    outbound = people.call("GET", f"/delegations/{live}", med.admin_token).body
    assert outbound["status"] == "REVOKED" and outbound["revoked_at"]
    assert outbound["revoked_by"] is None and outbound["revoked_by_tenant_id"] == nat.tenant_id
    [event] = [e for e in people.audit(nat) if e["type"] == "delegation.revoked"]
    assert event["actor"]["id"] == _session_subject(approver)
    assert "supplier audit" in str(event)


def test_an_approver_cannot_revoke_outbound_and_an_admin_can(people: Stack, idp: FakeIdp) -> None:
    med, nat, agent = _world(people)
    med_approver = _signed_in(people, idp, med, "bo@medicore.example", "approver")
    med_admin = _signed_in(people, idp, med, "cy@medicore.example", "admin")
    auditor = _signed_in(people, idp, nat, "di@natsupply.example", "auditor")
    live = people.request(agent, nat, "stock.write").body["delegation_id"]

    as_approver = med_approver.request("POST", f"/delegations/{live}/revoke", {})
    assert as_approver.status == 404, as_approver.body  # as for an id that does not exist
    assert auditor.request("POST", f"/delegations/{live}/revoke", {}).status == 403
    assert people.call("GET", f"/delegations/{live}", nat.admin_token).body["status"] == "ACTIVE"

    by_admin = med_admin.request("POST", f"/delegations/{live}/revoke", {})
    assert by_admin.status == 200, by_admin.body
    assert by_admin.body["direction"] == "outbound"
    assert by_admin.body["revoked_by"] == _session_subject(med_admin)
    inbound = people.call("GET", f"/delegations/{live}", nat.admin_token).body
    assert inbound["revoked_by"] is None and inbound["revoked_by_tenant_id"] == med.tenant_id
