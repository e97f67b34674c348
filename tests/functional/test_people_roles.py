"""What each person may do through their session: the role matrix, the tenant boundary
(another tenant's ids answer like ids that do not exist), and changes that apply at once."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib.store.models import SessionModel
from tests.functional.conftest import Stack, Tenant
from tests.functional.fake_idp import FakeIdp, Person
from tests.functional.people import Browser, invite

ROLE_SUBS = {"admin": "idp|ad", "approver": "idp|ap", "auditor": "idp|au"}


def signed_in(people: Stack, idp: FakeIdp, tenant: Tenant, role: str, sub: str | None = None) -> Browser:
    sub = sub or ROLE_SUBS[role]
    email = f"{sub.split('|')[1]}@{tenant.name.lower()}.example"
    code = invite(people, tenant.admin_token, email, role)
    browser = Browser(people, idp)
    assert browser.sign_in(Person(sub=sub, email=email), invitation=code).status == 302
    return browser


def _world(people: Stack) -> dict[str, Any]:
    med, nat = people.tenant("MediCore"), people.tenant("NatSupply")
    agent = people.agent(med)
    people.policy(nat, "requisition.submit", "STEP_UP", med)
    pending = [people.request(agent, nat, "requisition.submit").body for _ in range(3)]
    return {"med": med, "nat": nat, "agent": agent, "pending": pending}


# (method, path, body, expected status by role); {p} is the first pending delegation's id.
MATRIX: list[tuple[str, str, Any, dict[str, int]]] = [
    ("GET", "/delegations", None, {"admin": 200, "approver": 200, "auditor": 200}),
    ("GET", "/delegations/{p}", None, {"admin": 200, "approver": 200, "auditor": 200}),
    ("GET", "/audit", None, {"admin": 200, "approver": 403, "auditor": 200}),
    ("GET", "/agents", None, {"admin": 200, "approver": 403, "auditor": 403}),
    ("POST", "/agents", {"name": "x"}, {"admin": 201, "approver": 403, "auditor": 403}),
    (
        "PUT",
        "/policies",
        {"action": "orders.read", "effect": "ALLOW", "requesting_tenant_id": None},
        {"admin": 201, "approver": 403, "auditor": 403},
    ),
    ("GET", "/users", None, {"admin": 200, "approver": 403, "auditor": 403}),
    (
        "POST",
        "/users/invitations",
        {"email": "z@x.example", "role": "auditor"},
        {"admin": 201, "approver": 403, "auditor": 403},
    ),
    ("PUT", "/webhooks", {"url": "http://127.0.0.1:9/h"}, {"admin": 201, "approver": 403, "auditor": 403}),
    ("GET", "/tenants", None, {"admin": 403, "approver": 403, "auditor": 403}),
]


@pytest.mark.parametrize("role", ["admin", "approver", "auditor"])
def test_the_role_matrix(people: Stack, idp: FakeIdp, role: str) -> None:
    world = _world(people)
    browser = signed_in(people, idp, world["nat"], role)
    for method, path, body, expected in MATRIX:
        reply = browser.request(method, path.format(p=world["pending"][0]["delegation_id"]), body)
        assert reply.status in (expected[role], 200 if expected[role] == 201 else expected[role]), (
            method,
            path,
            reply.status,
            reply.body,
        )
    approve = browser.request("POST", f"/delegations/{world['pending'][1]['delegation_id']}/approve", {})
    assert approve.status == (403 if role == "auditor" else 200), approve.body


def test_another_tenants_ids_answer_like_unknown_ones(people: Stack, idp: FakeIdp) -> None:
    world = _world(people)
    med_admin = signed_in(people, idp, world["med"], "admin", "idp|medadmin")
    nat_admin = signed_in(people, idp, world["nat"], "admin", "idp|natadmin")
    nat_user_id = nat_admin.get("/auth/session").body["user_id"]
    foreign_dlg = world["pending"][0]["delegation_id"]  # NatSupply's inbound record
    unknown_dlg = "dlg_" + "0" * 44
    for method, foreign, unknown, body in [
        ("PATCH", f"/users/{nat_user_id}", "/users/usr_" + "0" * 20, {"role": "auditor"}),
        ("DELETE", f"/users/{nat_user_id}", "/users/usr_" + "0" * 20, None),
        ("POST", f"/delegations/{foreign_dlg}/approve", f"/delegations/{unknown_dlg}/approve", {}),
        ("GET", f"/tenants/{world['nat'].tenant_id}", "/tenants/tnt_" + "0" * 20, None),
    ]:
        a = med_admin.request(method, foreign, body)
        b = med_admin.request(method, unknown, body)
        assert (a.status, a.body.get("error")) == (b.status, b.body.get("error")), (method, foreign)
        assert a.status == 404, (method, foreign, a.body)
    users = med_admin.get("/users").body["users"]
    assert [u["email"] for u in users] == ["medadmin@medicore.example"]
    assert nat_admin.get("/auth/session").status == 200  # untouched


def test_a_role_change_and_a_removal_apply_at_once(people: Stack, idp: FakeIdp) -> None:
    world = _world(people)
    nat = world["nat"]
    admin = signed_in(people, idp, nat, "admin")
    approver = signed_in(people, idp, nat, "approver")
    approver_id = approver.get("/auth/session").body["user_id"]
    assert approver.get("/delegations").status == 200

    assert admin.request("PATCH", f"/users/{approver_id}", {"role": "auditor"}).status == 200
    assert approver.get("/auth/session").body["role"] == "auditor"
    pending = world["pending"][0]["delegation_id"]
    assert approver.request("POST", f"/delegations/{pending}/approve", {}).status == 403

    assert admin.request("DELETE", f"/users/{approver_id}").status == 200
    assert approver.get("/auth/session").status == 401
    assert approver.get("/delegations").status == 401
    events = [e["type"] for e in people.audit(nat)]
    assert {"user.invited", "user.joined", "user.role_changed", "user.removed"} <= set(events)


def test_nobody_changes_or_removes_themselves(people: Stack, idp: FakeIdp) -> None:
    nat = people.tenant("NatSupply")
    admin = signed_in(people, idp, nat, "admin")
    me = admin.get("/auth/session").body["user_id"]
    assert admin.request("PATCH", f"/users/{me}", {"role": "auditor"}).status == 403
    assert admin.request("DELETE", f"/users/{me}").status == 403


def test_an_old_sign_in_must_authenticate_again_to_approve(people: Stack, idp: FakeIdp) -> None:
    world = _world(people)
    approver = signed_in(people, idp, world["nat"], "approver")
    from tests.functional.test_sign_in import _session_item

    item = _session_item(people, approver)
    item.update(actions=[SessionModel.auth_time.set(int(time.time()) - 43201)])
    pending = world["pending"][0]["delegation_id"]
    reply = approver.request("POST", f"/delegations/{pending}/approve", {})
    assert reply.status == 401
    assert reply.body["error"] == "reauth_required"
    assert "reauth=1" in reply.body["login_url"]
    assert approver.get(f"/delegations/{pending}").body["status"] == "PENDING"

    # Through the login URL: the IdP is asked to authenticate again; the new session may decide.
    _, authorize_url = approver.start(reauth="1", return_to="/dashboard/")
    assert "prompt=login" in authorize_url and "max_age=0" in authorize_url
    back = approver.callback(authorize_url, idp.authorize(authorize_url, Person(sub="idp|ap", email="x")))
    assert back.status == 302, back.body
    approver.csrf = approver.get("/auth/session").body["csrf_token"]
    assert approver.request("POST", f"/delegations/{pending}/approve", {}).status == 200


def test_a_new_tenant_can_invite_its_first_admin_person(people: Stack, idp: FakeIdp) -> None:
    reply = people.call(
        "POST", "/tenants", people.platform_token, {"name": "Clinic", "admin_email": "boss@clinic.example"}
    )
    assert reply.status == 201, reply.body
    link = reply.body["admin_invitation"]["invitation_url"]
    from urllib.parse import parse_qs, urlsplit

    code = parse_qs(urlsplit(link).query)["invitation"][0]
    browser = Browser(people, idp)
    assert browser.sign_in(Person(sub="idp|boss", email="boss@clinic.example"), invitation=code).status == 302
    session = browser.get("/auth/session").body
    assert (session["role"], session["tenant_id"]) == ("admin", reply.body["tenant_id"])


def test_people_of_tenant_a_can_neither_discover_nor_touch_tenant_b(
    people: Stack, idp: FakeIdp, subtests: pytest.Subtests
) -> None:
    """The cross-tenant probes of test_cross_tenant.py, made by signed-in people of A (every
    role) through their sessions, plus the people endpoints: B's ids answer exactly like ids
    that name nothing, and B is unchanged."""
    from tests.functional.helpers import (
        observable,
        random_agent_id,
        random_delegation_id,
        random_policy_id,
        random_tenant_id,
        state_of,
    )
    from tests.functional.test_cross_tenant import three_tenants

    w = three_tenants(people)
    b_person = signed_in(people, idp, w.b, "admin", "idp|badmin")
    b_user = b_person.get("/auth/session").body["user_id"]
    b_before = state_of(people, w.b)
    unknown_user = "usr_" + "1" * 20
    probes = [
        ("GET", "/agents/{}", w.agent_b.agent_id, random_agent_id(), None),
        ("DELETE", "/agents/{}", w.agent_b.agent_id, random_agent_id(), None),
        ("POST", "/agents/{}/rotate-secret", w.agent_b.agent_id, random_agent_id(), {}),
        ("DELETE", "/policies/{}", w.b_policy_id, random_policy_id(), None),
        ("GET", "/delegations/{}", w.b_inbound, random_delegation_id(), None),
        ("GET", "/delegations/{}", w.b_outbound, random_delegation_id(), None),
        ("POST", "/delegations/{}/revoke", w.b_inbound, random_delegation_id(), {}),
        ("POST", "/delegations/{}/approve", w.b_inbound, random_delegation_id(), {}),
        ("POST", "/delegations/{}/reject", w.b_inbound, random_delegation_id(), {}),
        ("GET", "/tenants/{}", w.b.tenant_id, random_tenant_id(), None),
        ("GET", "/tenants/{}/stats", w.b.tenant_id, random_tenant_id(), None),
        ("PATCH", "/users/{}", b_user, unknown_user, {"role": "auditor"}),
        ("DELETE", "/users/{}", b_user, unknown_user, None),
    ]
    for role in ("admin", "approver", "auditor"):
        browser = signed_in(people, idp, w.a, role, f"idp|a{role}")
        for method, template, b_id, unknown_id, body in probes:
            with subtests.test(caller=role, request=f"{method} {template}", target=b_id[:4]):
                on_b = browser.request(method, template.format(b_id), body)
                on_nothing = browser.request(method, template.format(unknown_id), body)
                assert on_b.status in (403, 404), (on_b.status, on_b.body)
                assert observable(on_b) == observable(on_nothing)
        with subtests.test(caller=role, request="GET /users lists A's people only"):
            listed = browser.get("/users")
            if listed.status == 200:
                assert b_user not in str(listed.body)
    with subtests.test("tenant B is untouched"):
        assert state_of(people, w.b) == b_before
        assert b_person.get("/auth/session").body["role"] == "admin"
