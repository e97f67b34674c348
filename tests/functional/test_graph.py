"""GET /graph: the caller's counterparts and the delegation outcomes with them, by direction."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.store.models import EdgeModel
from tests.functional.conftest import Agent, Stack, Tenant
from tests.functional.fake_idp import FakeIdp, Person
from tests.functional.helpers import shared_botocore_data
from tests.functional.people import Browser, invite
from tests.functional.test_round_trips import OTHER, dynamodb_calls

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

DAY = 86400
UNKNOWN = "tnt_" + "0" * 20
ZERO = {"ALLOW": 0, "STEP_UP": 0, "BLOCK": 0, "APPROVED": 0, "REJECTED": 0, "EXPIRED": 0, "REVOKED": 0}


def _graph(stack: Stack, tenant: Tenant, query: str = "") -> dict[str, Any]:
    reply = stack.call("GET", f"/graph{query}", tenant.admin_token)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _counts(**counts: int) -> dict[str, int]:
    return {**ZERO, **counts}


def _decide(stack: Stack, tenant: Tenant, agent: Agent, verb: str) -> None:
    pending = stack.request(agent, tenant, "requisition.submit")
    assert pending.status == 202, pending.body
    reply = stack.call("POST", f"/delegations/{pending.body['delegation_id']}/{verb}", tenant.admin_token, {})
    assert reply.status == 200, reply.body


def test_both_sides_see_the_counts_in_their_direction_and_a_third_tenant_nothing(stack: Stack) -> None:
    med, nat, clinic = stack.tenant("MediCore"), stack.tenant("NatSupply"), stack.tenant("Clinic")
    agent = stack.agent(med)
    stack.policy(nat, "stock.write", "ALLOW", med)
    stack.policy(nat, "requisition.submit", "STEP_UP", med)
    allowed = stack.request(agent, nat, "stock.write")
    assert allowed.status == 201, allowed.body
    _decide(stack, nat, agent, "approve")
    _decide(stack, nat, agent, "reject")
    revoked = stack.call("POST", f"/delegations/{allowed.body['delegation_id']}/revoke", med.admin_token, {})
    assert revoked.status == 200, revoked.body
    assert stack.request(agent, nat, "admin.access").status == 403  # no policy: BLOCK

    counts = _counts(ALLOW=1, STEP_UP=2, APPROVED=1, REJECTED=1, REVOKED=1, BLOCK=1)
    edge = {"from_tenant_id": med.tenant_id, "to_tenant_id": nat.tenant_id, "counts": counts, "total": 7}
    today = datetime.now(UTC).date()
    assert _graph(stack, med) == {
        "tenant": {"tenant_id": med.tenant_id, "name": "MediCore"},
        "since": f"{today - timedelta(days=30)}T00:00:00Z",
        "nodes": [{"tenant_id": nat.tenant_id, "name": "NatSupply"}],
        "edges": [{**edge, "direction": "outbound"}],
    }
    seen_by_nat = _graph(stack, nat)
    assert seen_by_nat["tenant"] == {"tenant_id": nat.tenant_id, "name": "NatSupply"}
    assert seen_by_nat["nodes"] == [{"tenant_id": med.tenant_id, "name": "MediCore"}]
    assert seen_by_nat["edges"] == [{**edge, "direction": "inbound"}]
    assert _graph(stack, clinic)["nodes"] == _graph(stack, clinic)["edges"] == []


def test_edges_in_both_directions_with_one_counterpart(stack: Stack) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med)
    stack.policy(med, "invoice.send", "STEP_UP", nat)
    assert stack.request(stack.agent(med), nat, "stock.write").status == 201
    assert stack.request(stack.agent(nat), med, "invoice.send").status == 202
    edges = _graph(stack, med)["edges"]
    assert {(e["direction"], e["from_tenant_id"], e["to_tenant_id"]) for e in edges} == {
        ("outbound", med.tenant_id, nat.tenant_id),
        ("inbound", nat.tenant_id, med.tenant_id),
    }
    by_direction = {e["direction"]: e["counts"] for e in edges}
    assert by_direction == {"outbound": _counts(ALLOW=1), "inbound": _counts(STEP_UP=1)}
    assert _graph(stack, med)["nodes"] == [{"tenant_id": nat.tenant_id, "name": "NatSupply"}]


def _anonymised(graph: dict[str, Any], me: str, other: str) -> str:
    return json.dumps(graph).replace(me, "ME").replace(other, "OTHER")


def test_an_unknown_or_disabled_tenant_blocks_exactly_like_a_real_block(stack: Stack) -> None:
    """The requester's graph after a BLOCK says nothing of whether the tenant exists: same
    edge, and no name (an agent's BLOCK against a random id must not reveal a tenant)."""
    nat = stack.tenant("NatSupply")
    closed = stack.tenant("Closed Clinic")
    path = f"/tenants/{closed.tenant_id}"
    disable = stack.call("PATCH", path, stack.platform_token, {"status": "DISABLED"})
    assert disable.status == 200, disable.body
    stack.policy(nat, "admin.access", "BLOCK")
    graphs = []
    for n, target in enumerate((nat.tenant_id, nat.tenant_id, UNKNOWN, closed.tenant_id)):
        requester = stack.tenant("Requester")
        action = "admin.access" if n == 0 else "nothing.configured"
        assert stack.request(stack.agent(requester), target, action).status == 403
        graphs.append(_anonymised(_graph(stack, requester), requester.tenant_id, target))
    assert graphs == [graphs[0]] * 4, graphs
    graph = json.loads(graphs[0])
    assert graph["nodes"] == [{"tenant_id": "OTHER", "name": None}]
    assert [e["counts"] for e in graph["edges"]] == [_counts(BLOCK=1)]
    # The receiving side of a real BLOCK sees its requesters, named.
    assert [n["name"] for n in _graph(stack, nat)["nodes"]] == ["Requester", "Requester"]


def test_the_platform_log_gets_no_edge(stack: Stack) -> None:
    med = stack.tenant("MediCore")
    assert stack.request(stack.agent(med), UNKNOWN, "admin.access").status == 403
    from chalicelib.auth.scope import PLATFORM_LOG_TENANT

    platform_edges = list(EdgeModel.query(f"T#{PLATFORM_LOG_TENANT}", EdgeModel.sk.startswith("EDGE#")))
    assert platform_edges == []
    assert list(EdgeModel.query(f"T#{UNKNOWN}")) == []


def test_since_excludes_older_days(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(med)
    stack.policy(nat, "stock.write", "ALLOW", med)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 40 * DAY)
    old_token = stack.token(agent.client_id, agent.secret)  # a token valid at that time
    body = {"receiving_tenant_id": nat.tenant_id, "action": "stock.write"}
    assert stack.call("POST", "/delegations/request", old_token, body).status == 201
    monkeypatch.setattr(time, "time", real)
    assert stack.request(agent, nat, "stock.write").status == 201

    def allows(query: str) -> int:
        edges = _graph(stack, med, query)["edges"]
        return sum(e["counts"]["ALLOW"] for e in edges)

    assert allows("") == 1  # the default window: 30 days
    assert allows(f"?since={_iso(real() - 41 * DAY)}") == 2
    assert allows(f"?since={_iso(real() - 39 * DAY)}") == 1
    assert allows(f"?since={_iso(real())}") == 1  # today counts whole
    start = datetime.fromtimestamp(real() - 3 * DAY, tz=UTC)
    assert _graph(stack, med, f"?since={_iso(start.timestamp())}")["since"] == f"{start.date()}T00:00:00Z"


@pytest.mark.parametrize(
    "since",
    ["yesterday", "2026-01-31", "2026-01-31T12:00:00", "future", "too-old"],
)
def test_a_bad_since_is_a_400(stack: Stack, since: str) -> None:
    med = stack.tenant("MediCore")
    value = {"future": _iso(time.time() + 3600), "too-old": _iso(time.time() - 367 * DAY)}.get(since, since)
    reply = stack.call("GET", f"/graph?since={value}", med.admin_token)
    assert reply.status == 400, reply.body
    assert reply.body["error"] == "invalid_request" and "since" in reply.body["error_description"]
    assert stack.call("GET", "/graph?other=1", med.admin_token).status == 400


def test_an_agent_may_not_read_the_graph(stack: Stack) -> None:
    med = stack.tenant("MediCore")
    reply = stack.call("GET", "/graph", stack.agent(med).token)
    assert reply.status == 403, reply.body
    assert stack.call("GET", "/graph").status == 401


def _person(people: Stack, idp: FakeIdp, tenant: Tenant, role: str) -> Browser:
    email = f"{role}@example.org"
    code = invite(people, tenant.admin_token, email, role)
    browser = Browser(people, idp)
    assert browser.sign_in(Person(sub=f"idp|{role}", email=email), invitation=code).status == 302
    return browser


def test_auditors_and_approvers_read_the_graph_signed_in(people: Stack, idp: FakeIdp) -> None:
    med, nat = people.tenant("MediCore"), people.tenant("NatSupply")
    people.policy(nat, "stock.write", "ALLOW", med)
    assert people.request(people.agent(med), nat, "stock.write").status == 201
    expected = _graph(people, nat)
    for role in ("auditor", "approver"):
        reply = _person(people, idp, nat, role).get("/graph")
        assert reply.status == 200, reply.body
        assert reply.body == expected


def test_a_signed_in_reader_stays_within_the_budget(people: Stack, idp: FakeIdp) -> None:
    """Session read, edge Query, budget charge: the names come with the edges."""
    med, nat = people.tenant("MediCore"), people.tenant("NatSupply")
    people.policy(nat, "stock.write", "ALLOW", med)
    assert people.request(people.agent(med), nat, "stock.write").status == 201
    browser = _person(people, idp, nat, "auditor")
    with dynamodb_calls() as calls:
        reply = browser.get("/graph")
    assert reply.status == 200, reply.body
    assert reply.body["tenant"] == {"tenant_id": nat.tenant_id, "name": "NatSupply"}
    assert reply.body["nodes"] == [{"tenant_id": med.tenant_id, "name": "MediCore"}]
    assert sum(calls.values()) <= OTHER, dict(calls)


def test_a_bearer_reader_stays_within_the_budget(stack: Stack) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med)
    assert stack.request(stack.agent(med), nat, "stock.write").status == 201
    with dynamodb_calls() as calls:
        graph = _graph(stack, med)
    assert graph["tenant"]["name"] == "MediCore" and graph["nodes"][0]["name"] == "NatSupply"
    assert sum(calls.values()) <= OTHER, dict(calls)


def _names_counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str | None]]:
    """(direction, outcome, name stored) of every edge counted from now on."""
    from chalicelib.store.edges import EdgeRepository

    seen: list[tuple[str, str, str | None]] = []
    original = EdgeRepository.add

    def add(self: Any, tx: Any, scope: Any, day: str, direction: Any, other: str, outcome: str,
            counterpart_name: str | None = None) -> None:
        seen.append((direction.value, outcome, counterpart_name))
        original(self, tx, scope, day, direction, other, outcome, counterpart_name)

    monkeypatch.setattr(EdgeRepository, "add", add)
    return seen


def test_every_outcome_stores_the_counterparts_name_but_an_outbound_block(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.jobs import cleanup

    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(med)
    stack.policy(nat, "stock.write", "ALLOW", med, ttl_seconds=60)
    stack.policy(nat, "requisition.submit", "STEP_UP", med)
    seen = _names_counted(monkeypatch)
    allowed = [stack.request(agent, nat, "stock.write").body["delegation_id"] for _ in range(3)]
    _decide(stack, nat, agent, "approve")
    _decide(stack, nat, agent, "reject")
    assert stack.call("POST", f"/delegations/{allowed[0]}/revoke", nat.admin_token, {}).status == 200
    assert stack.call("POST", f"/delegations/{allowed[1]}/revoke", agent.token, {}).status == 200
    assert stack.request(agent, nat, "admin.access").status == 403
    assert cleanup.build_job(stack.container).run(now=time.time() + 120).expired == 1  # allowed[2]
    disabled = stack.agent(med, "second")
    assert stack.request(disabled, nat, "stock.write").status == 201
    assert stack.call("DELETE", f"/agents/{disabled.agent_id}", med.admin_token).status == 200  # by reference

    expected = {"out": "NatSupply", "in": "MediCore"}
    outcomes = {outcome for _, outcome, _ in seen}
    assert outcomes == {"ALLOW", "STEP_UP", "APPROVED", "REJECTED", "REVOKED", "EXPIRED", "BLOCK"}
    for direction, outcome, name in seen:
        blind = direction == "out" and outcome == "BLOCK"
        assert name == (None if blind else expected[direction]), (direction, outcome, name)
    assert seen.count(("out", "REVOKED", "NatSupply")) == 3


def _just_before_today(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Move the clock to the last second of yesterday (UTC); the returned call moves it back."""
    real = time.time
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    monkeypatch.setattr(time, "time", lambda: midnight - 1)
    return lambda: monkeypatch.setattr(time, "time", real)


def test_a_window_with_only_later_outcomes_still_names_the_counterpart(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Yesterday's ALLOWs lie outside the window; today's expiry (the cleanup job) and
    revocation (an agent disabled: its delegations revoked from their references) name."""
    from chalicelib.jobs import cleanup

    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med, ttl_seconds=86400)
    stack.policy(nat, "stock.read", "ALLOW", med, ttl_seconds=60)
    agent = stack.agent(med)
    back = _just_before_today(monkeypatch)
    token = stack.token(agent.client_id, agent.secret)
    for action in ("stock.write", "stock.read"):
        body = {"receiving_tenant_id": nat.tenant_id, "action": action}
        assert stack.call("POST", "/delegations/request", token, body).status == 201
    back()
    assert cleanup.build_job(stack.container).run().expired == 1
    assert stack.call("DELETE", f"/agents/{agent.agent_id}", med.admin_token).status == 200

    today = f"?since={datetime.now(UTC).date()}T00:00:00Z"
    seen_by_med, seen_by_nat = _graph(stack, med, today), _graph(stack, nat, today)
    assert [e["counts"] for e in seen_by_med["edges"]] == [_counts(EXPIRED=1, REVOKED=1)]
    assert seen_by_med["nodes"] == [{"tenant_id": nat.tenant_id, "name": "NatSupply"}]
    assert seen_by_nat["nodes"] == [{"tenant_id": med.tenant_id, "name": "MediCore"}]


def test_a_delegation_from_before_the_names_were_kept_leaves_its_counterpart_unnamed(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its later outcomes count as ever but name nobody: no tenant is read to make up for it."""
    from chalicelib.store.models import DelegationModel, DelegationRefModel

    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med, ttl_seconds=86400)
    agent = stack.agent(med)
    back = _just_before_today(monkeypatch)
    token = stack.token(agent.client_id, agent.secret)
    body = {"receiving_tenant_id": nat.tenant_id, "action": "stock.write"}
    created = stack.call("POST", "/delegations/request", token, body)
    assert created.status == 201, created.body
    back()
    delegation_id = created.body["delegation_id"]
    for model, pk, sk in (
        (DelegationModel, nat.tenant_id, "DLG#"),
        (DelegationRefModel, med.tenant_id, "DLGREF#"),
    ):
        model(pk=f"T#{pk}", sk=sk + delegation_id).update(
            actions=[model.requesting_tenant_name.remove(), model.receiving_tenant_name.remove()],
            add_version_condition=False,
        )
    assert stack.call("POST", f"/delegations/{delegation_id}/revoke", med.admin_token, {}).status == 200

    today = f"?since={datetime.now(UTC).date()}T00:00:00Z"
    for tenant, other in ((med, nat), (nat, med)):
        graph = _graph(stack, tenant, today)
        assert [e["counts"] for e in graph["edges"]] == [_counts(REVOKED=1)]
        assert graph["nodes"] == [{"tenant_id": other.tenant_id, "name": None}]
    # the default window holds yesterday's ALLOW, counted with the names
    assert _graph(stack, med)["nodes"] == [{"tenant_id": nat.tenant_id, "name": "NatSupply"}]


def test_round_trips_do_not_grow_with_history(stack: Stack) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(med)
    stack.policy(nat, "stock.write", "ALLOW", med)
    for _ in range(5):
        assert stack.request(agent, nat, "stock.write").status == 201
    for tenant in (med, nat):
        with dynamodb_calls() as calls:
            _graph(stack, tenant)
        assert sum(calls.values()) <= OTHER, dict(calls)
