"""Tenant isolation: a principal of tenant A acting on tenant B's ids learns exactly what it
would learn about an id that does not exist, changes nothing, and never sees B's items in a
listing. A delegation is visible only to its two tenants' admins and its requesting agent."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.functional.conftest import Agent, Stack, Tenant
from tests.functional.helpers import (
    all_audit,
    assert_error,
    bearer,
    delegation_ids,
    grant,
    ids_in,
    introspect,
    is_active,
    oauth_revoke,
    observable,
    random_agent_id,
    random_delegation_id,
    random_policy_id,
    random_tenant_id,
    shared_botocore_data,
    state_of,
)

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)


@dataclass
class ThreeTenants:
    """A, B and C each receive one delegation and request one, all through each other."""

    a: Tenant
    b: Tenant
    c: Tenant
    agent_a: Agent
    agent_b: Agent
    agent_c: Agent
    a_policy_id: str
    b_policy_id: str
    a_inbound: str  # C -> A
    a_outbound: str  # A -> C
    b_inbound: str  # C -> B
    b_outbound: str  # B -> C

    def b_identifiers(self) -> list[str]:
        return [
            self.b.tenant_id,
            self.b.admin_client_id,
            self.agent_b.agent_id,
            self.agent_b.client_id,
            self.b_policy_id,
            self.b_inbound,
            self.b_outbound,
        ]


def three_tenants(stack: Stack) -> ThreeTenants:
    a, b, c = stack.tenant("MediCore"), stack.tenant("NatSupply"), stack.tenant("CareLogix")
    agent_a, agent_b, agent_c = stack.agent(a), stack.agent(b), stack.agent(c)
    a_policy = stack.policy(a, "ledger.read", "ALLOW").body["policy_id"]
    b_policy = stack.policy(b, "stock.write", "ALLOW").body["policy_id"]
    stack.policy(c, "orders.read", "ALLOW")
    return ThreeTenants(
        a,
        b,
        c,
        agent_a,
        agent_b,
        agent_c,
        a_policy,
        b_policy,
        a_inbound=grant(stack, agent_c, a, "ledger.read").delegation_id,
        a_outbound=grant(stack, agent_a, c, "orders.read").delegation_id,
        b_inbound=grant(stack, agent_c, b, "stock.write").delegation_id,
        b_outbound=grant(stack, agent_b, c, "orders.read").delegation_id,
    )


def test_tenant_a_can_neither_discover_nor_touch_tenant_b(stack: Stack, subtests: pytest.Subtests) -> None:
    w = three_tenants(stack)
    b_before = state_of(stack, w.b)
    # (method, path template, one of B's ids, a well-formed id that names nothing)
    probes = [
        ("GET", "/agents/{}", w.agent_b.agent_id, random_agent_id()),
        ("DELETE", "/agents/{}", w.agent_b.agent_id, random_agent_id()),
        ("POST", "/agents/{}/rotate-secret", w.agent_b.agent_id, random_agent_id()),
        ("DELETE", "/policies/{}", w.b_policy_id, random_policy_id()),
        ("GET", "/delegations/{}", w.b_inbound, random_delegation_id()),
        ("GET", "/delegations/{}", w.b_outbound, random_delegation_id()),
        ("POST", "/delegations/{}/revoke", w.b_inbound, random_delegation_id()),
        ("POST", "/delegations/{}/revoke", w.b_outbound, random_delegation_id()),
        ("GET", "/tenants/{}", w.b.tenant_id, random_tenant_id()),
        ("GET", "/tenants/{}/stats", w.b.tenant_id, random_tenant_id()),
    ]
    for who, token in (("A admin", w.a.admin_token), ("A agent", w.agent_a.token)):
        for method, template, b_id, unknown_id in probes:
            with subtests.test(caller=who, request=f"{method} {template}", target=b_id[:4]):
                on_b = stack.call(method, template.format(b_id), token)
                on_nothing = stack.call(method, template.format(unknown_id), token)
                assert on_b.status in (403, 404), (on_b.status, on_b.body)
                assert observable(on_b) == observable(on_nothing)

    with subtests.test("tenant B is untouched"):
        assert state_of(stack, w.b) == b_before
        assert stack.call("GET", "/delegations", w.agent_b.token).status == 200  # token not revoked
        stack.token(w.agent_b.client_id, w.agent_b.secret)  # secret not rotated

    admin, agent = w.a.admin_token, w.agent_a.token

    def assert_no_b(value: object) -> None:
        text = ids_in(value)
        leaked = [i for i in w.b_identifiers() if i in text]
        assert not leaked, f"tenant B identifiers leaked: {leaked}"

    with subtests.test("GET /agents lists A's agents only"):
        reply = stack.call("GET", "/agents", admin)
        assert [x["agent_id"] for x in reply.body["agents"]] == [w.agent_a.agent_id]
        assert_no_b(reply.body)
    with subtests.test("GET /policies lists A's policies only"):
        reply = stack.call("GET", "/policies", admin)
        assert [p["policy_id"] for p in reply.body["policies"]] == [w.a_policy_id]
        assert_no_b(reply.body)
    for direction, own in (("inbound", w.a_inbound), ("outbound", w.a_outbound)):
        with subtests.test(f"GET /delegations?direction={direction} lists A's only"):
            reply = stack.call("GET", f"/delegations?direction={direction}", admin)
            assert [d["delegation_id"] for d in reply.body["delegations"]] == [own]
            assert_no_b(reply.body)
        with subtests.test(f"GET /delegations?direction={direction} with B's id as cursor"):
            reply = stack.call("GET", f"/delegations?direction={direction}&cursor={w.b_inbound}", admin)
            assert reply.status in (200, 400), reply.body
            assert_no_b(reply.body)
    with subtests.test("GET /delegations as A's agent lists its own only"):
        assert delegation_ids(stack, agent) == {w.a_outbound}
        assert delegation_ids(stack, agent, "outbound") == {w.a_outbound}
        assert_error(stack.call("GET", "/delegations?direction=inbound", agent), 403)
    with subtests.test("GET /audit holds A's events only"):
        events = all_audit(stack, w.a)
        assert {e["tenant_id"] for e in events} == {w.a.tenant_id}
        assert_no_b(events)
        for delegation in (w.b_inbound, w.b_outbound):
            reply = stack.call("GET", f"/audit?delegation_id={delegation}", admin)
            assert reply.status == 200 and reply.body["events"] == [], reply.body
    with subtests.test("GET /tenants/{A}/stats counts A only"):
        stats = stack.call("GET", f"/tenants/{w.a.tenant_id}/stats", admin).body
        assert stats["agents"] == 1 and stats["policies"] == 1, stats
        assert stats["delegations"]["inbound"]["ACTIVE"] == 1, stats
        assert stats["delegations"]["outbound"]["ACTIVE"] == 1, stats


def test_a_delegation_is_hidden_from_everyone_but_its_parties(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    """B's inbound delegation, requested by A's first agent, is invisible to A's second agent,
    to B's own agent (not a party) and to every principal of a third tenant C."""
    a, b, c = stack.tenant("MediCore"), stack.tenant("NatSupply"), stack.tenant("CareLogix")
    requester, sibling = stack.agent(a, "requester"), stack.agent(a, "sibling")
    agent_b, agent_c = stack.agent(b), stack.agent(c)
    stack.policy(b, "stock.write", "ALLOW", a)
    g = grant(stack, requester, b)
    unknown = random_delegation_id()

    outsiders = {
        "A's other agent": sibling.token,
        "B's agent": agent_b.token,
        "C's admin": c.admin_token,
        "C's agent": agent_c.token,
    }
    for who, token in outsiders.items():
        with subtests.test(f"{who} reads and revokes as if it did not exist"):
            for method, template in (("GET", "/delegations/{}"), ("POST", "/delegations/{}/revoke")):
                on_it = stack.call(method, template.format(g.delegation_id), token)
                on_nothing = stack.call(method, template.format(unknown), token)
                assert on_it.status == 404, on_it.body
                assert observable(on_it) == observable(on_nothing)
        with subtests.test(f"{who} does not list it"):
            assert g.delegation_id not in delegation_ids(stack, token, "outbound")
            if token == c.admin_token:
                assert g.delegation_id not in delegation_ids(stack, token, "inbound")
        with subtests.test(f"{who} gets RFC 7009's 200 from /oauth/revoke (checked below: no effect)"):
            assert oauth_revoke(stack, g.token, bearer(token)).status == 200

    for who, token in (
        ("A's admin", a.admin_token),
        ("C's admin", c.admin_token),
        ("C's agent", agent_c.token),
    ):
        with subtests.test(f"{who} is not the receiving tenant: verification says inactive"):
            assert stack.verify(g.token, token).body == {"active": False}
            assert introspect(stack, g.token, bearer(token)).body == {"active": False}

    with subtests.test("its parties still see it, active: nobody above revoked it"):
        for token in (requester.token, a.admin_token, b.admin_token):
            reply = stack.call("GET", f"/delegations/{g.delegation_id}", token)
            assert reply.status == 200 and reply.body["status"] == "ACTIVE", reply.body
        assert stack.verify(g.token, agent_b.token).body["active"] is True  # an agent of the receiver
        assert is_active(stack, g.token, b)


def test_naming_another_tenant_as_your_own_is_a_tenant_mismatch(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    a, b, c = stack.tenant("MediCore"), stack.tenant("NatSupply"), stack.tenant("CareLogix")
    agent = stack.agent(a)
    stack.policy(b, "stock.write", "ALLOW")
    before = state_of(stack, a, b)

    for field in ("requesting_tenant_id", "tenant_id"):
        for label, other in (("B", b.tenant_id), ("C", c.tenant_id), ("unknown", random_tenant_id())):
            with subtests.test(field=field, names=label):
                reply = stack.request(agent, b, "stock.write", **{field: other})
                assert_error(reply, 403, "tenant_mismatch")
                assert "access_token" not in reply.body

    with subtests.test("nothing was created or logged"):
        assert state_of(stack, a, b) == before

    with subtests.test("naming your own tenant is fine"):
        reply = stack.request(agent, b, "stock.write", requesting_tenant_id=a.tenant_id)
        assert reply.status == 201, reply.body
