"""GET /tenants/{id}/stats and GET /metrics answer from counters that the changes themselves
keep (chalicelib/services/counting.py): after agents, policies, delegations in every state,
revocations, a disabled agent, a disabled tenant and the cleanup job's expiries, every count
equals what counting the stored items gives, and the platform's totals are the tenants' sums."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import boto3
import jsonschema
import pytest

from app import app
from chalicelib.api.openapi import build
from chalicelib.config import get_settings
from chalicelib.domain.delegation import Status
from chalicelib.jobs import cleanup
from tests.functional.conftest import Stack, Tenant
from tests.functional.helpers import random_tenant_id, shared_botocore_data
from tests.functional.test_round_trips import dynamodb_calls

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

HOURS = 3600


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    offset = [0.0]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])
    return offset


def _query(table: str, pk: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        "ConsistentRead": True,
    }
    while True:
        page = client.query(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def counted_directly(tenant_id: str) -> dict[str, Any]:
    """The tenant's stats from its stored items (agents: the ACTIVE ones; delegations by the
    status stored on each side)."""
    settings = get_settings()
    items = _query(settings.table_name, f"T#{tenant_id}")

    def statuses(prefix: str) -> dict[str, int]:
        seen = Counter(i["status"]["S"] for i in items if i["sk"]["S"].startswith(prefix))
        return {s.value: seen.get(s.value, 0) for s in Status}

    return {
        "tenant_id": tenant_id,
        "agents": sum(
            1 for i in items if i["sk"]["S"].startswith("AGENT#") and i["status"]["S"] == "ACTIVE"
        ),
        "policies": sum(1 for i in items if i["sk"]["S"].startswith("POLICY#")),
        "delegations": {"inbound": statuses("DLG#"), "outbound": statuses("DLGREF#")},
        "audit_events": len(_query(settings.audit_table_name, f"T#{tenant_id}")),
    }


def platform_counted_directly() -> dict[str, Any]:
    refs = [i for i in _query(get_settings().table_name, "PLATFORM") if i["sk"]["S"].startswith("TENANT#")]
    by_status = Counter(r["status"]["S"] for r in refs)
    per_tenant = [counted_directly(r["tenant_id"]["S"]) for r in refs]
    delegations: Counter[str] = Counter()
    for stats in per_tenant:
        delegations.update(stats["delegations"]["inbound"])
    return {
        "tenants": {"total": len(refs), "ACTIVE": by_status["ACTIVE"], "DISABLED": by_status["DISABLED"]},
        "agents": sum(s["agents"] for s in per_tenant),
        "policies": sum(s["policies"] for s in per_tenant),
        "delegations": {s.value: delegations[s.value] for s in Status},
        "audit_events": sum(s["audit_events"] for s in per_tenant),
    }


def fresh(stack: Stack, tenant: Tenant) -> str:
    """An admin token issued at the (possibly moved) clock."""
    return stack.token(tenant.admin_client_id, tenant.admin_secret)


def stats(stack: Stack, tenant: Tenant, *, by_platform: bool = False) -> dict[str, Any]:
    platform = (stack.platform_client_id, stack.platform_secret)
    token = stack.token(*platform) if by_platform else fresh(stack, tenant)
    reply = stack.call("GET", f"/tenants/{tenant.tenant_id}/stats", token)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def metrics(stack: Stack, token: str | None = None) -> dict[str, Any]:
    platform = token or stack.token(stack.platform_client_id, stack.platform_secret)
    reply = stack.call("GET", "/metrics", platform)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def test_counts_match_the_stored_items_through_every_change(
    stack: Stack, clock: list[float], subtests: pytest.Subtests
) -> None:
    med, nat, clinic = stack.tenant("MediCore"), stack.tenant("NatSupply"), stack.tenant("Clinic")
    buyer, spare = stack.agent(med, "buyer"), stack.agent(med, "spare")
    stack.agent(nat, "seller")
    stack.policy(nat, "stock.write", "ALLOW", med, ttl_seconds=60)
    stack.policy(nat, "stock.write", "ALLOW", med, ttl_seconds=120)  # replaces: still one rule
    stack.policy(nat, "requisition.submit", "STEP_UP", med, stepup_expiry_seconds=30)
    stack.policy(nat, "admin.access", "BLOCK")
    listed = stack.call("GET", "/policies", nat.admin_token).body["policies"]
    stack.policy(clinic, "orders.read", "ALLOW")
    gone = next(p["policy_id"] for p in listed if p["action"] == "admin.access")
    assert stack.call("DELETE", f"/policies/{gone}", nat.admin_token).status == 200

    def ask(agent: Any, action: str, status: int, target: Tenant | str = nat) -> str:
        reply = stack.request(agent, target, action)
        assert reply.status == status, reply.body
        return str(reply.body.get("delegation_id", ""))

    revoked = ask(buyer, "stock.write", 201)
    ask(buyer, "stock.write", 201)  # expires (cleanup, below)
    approved = ask(buyer, "requisition.submit", 202)  # then expires too
    rejected = ask(buyer, "requisition.submit", 202)
    withdrawn = ask(buyer, "requisition.submit", 202)
    ask(buyer, "requisition.submit", 202)  # left pending: expires
    ask(spare, "stock.write", 201)  # both revoked when `spare` is disabled
    ask(spare, "requisition.submit", 202)
    ask(buyer, "admin.access", 403)  # no rule any more: BLOCK, nothing stored
    ask(buyer, "stock.write", 403, random_tenant_id())
    for path, token in (
        (f"/delegations/{revoked}/revoke", med.admin_token),
        (f"/delegations/{withdrawn}/revoke", buyer.token),
        (f"/delegations/{approved}/approve", nat.admin_token),
        (f"/delegations/{rejected}/reject", nat.admin_token),
        (f"/agents/{spare.agent_id}", med.admin_token),
    ):
        method = "DELETE" if path.startswith("/agents/") else "POST"
        reply = stack.call(method, path, token, {} if method == "POST" else None)
        assert reply.status == 200, (path, reply.body)
    off = {"status": "DISABLED"}
    disable = stack.call("PATCH", f"/tenants/{clinic.tenant_id}", stack.platform_token, off)
    assert disable.status == 200, disable.body

    with subtests.test("every tenant's stats equal a count of its stored items"):
        for tenant in (med, nat):
            assert stats(stack, tenant) == counted_directly(tenant.tenant_id)
        assert stats(stack, clinic, by_platform=True) == counted_directly(clinic.tenant_id)  # disabled
    with subtests.test("the numbers a user would expect"):
        got = stats(stack, nat)
        assert got["policies"] == 2 and got["agents"] == 1, got
        # revoked by an admin, withdrawn by the agent, both of `spare`'s with it
        expected = {"PENDING": 1, "ACTIVE": 2, "REJECTED": 1, "REVOKED": 4, "EXPIRED": 0}
        assert got["delegations"]["inbound"] == expected, got
        assert stats(stack, med)["agents"] == 1  # `spare` was disabled
        assert stats(stack, med)["delegations"]["outbound"] == got["delegations"]["inbound"]
    with subtests.test("the platform's totals are the tenants' sums"):
        assert metrics(stack) == platform_counted_directly()
        assert metrics(stack)["tenants"] == {"total": 3, "ACTIVE": 2, "DISABLED": 1}

    with subtests.test("time-based expiry counts once the cleanup job has stored it"):
        clock[0] += 3 * HOURS
        lagging = stats(stack, nat)["delegations"]["inbound"]
        assert (lagging["ACTIVE"], lagging["EXPIRED"]) == (2, 0), lagging  # stored status, until cleanup
        summary = cleanup.build_job(stack.container).run()
        assert (summary.expired, summary.failed) == (3, 0), summary
        after = stats(stack, nat)
        assert after == counted_directly(nat.tenant_id)
        assert after["delegations"]["inbound"]["EXPIRED"] == 3, after
        assert after["delegations"]["inbound"]["ACTIVE"] == after["delegations"]["inbound"]["PENDING"] == 0
        assert stats(stack, med) == counted_directly(med.tenant_id)
        assert metrics(stack) == platform_counted_directly()


def test_metrics_cost_the_same_with_many_tenants(stack: Stack) -> None:
    """One batched read of the platform's counters, however many tenants there are."""
    stack.tenant("First")
    with dynamodb_calls() as few:
        assert metrics(stack, stack.platform_token)["tenants"]["total"] == 1
    for n in range(15):
        stack.tenant(f"Tenant {n}")
    with dynamodb_calls() as many:
        assert metrics(stack, stack.platform_token)["tenants"]["total"] == 16
    assert many == few and sum(many.values()) <= 3, (dict(few), dict(many))


def test_metrics_answer_exactly_the_declared_shape(stack: Stack) -> None:
    """What the dashboard's types are generated from: every total the route gives is declared,
    and every declared one is given."""
    stack.tenant("First")
    body = metrics(stack, stack.platform_token)
    declared = build(app, "http://vaultguard.test")["paths"]["/metrics"]["get"]["responses"]["200"]
    schema = declared["content"]["application/json"]["schema"]
    jsonschema.validate(body, schema)
    assert set(body) == set(schema["required"])
    for name, value in body.items():
        if isinstance(value, dict):
            assert set(value) == set(schema["properties"][name]["required"]), name
