"""The audit log: every operation leaves its events in the right tenant logs (both, for a
cross-tenant event), never a secret or a token; GET /audit pages and filters exactly; and a
state change whose audit events cannot be written does not happen (fail closed)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from chalicelib.store.db import StoreError
from chalicelib.store.schema import ensure_tables
from tests.functional.conftest import Agent, Stack
from tests.functional.helpers import (
    JWT_LIKE,
    all_audit,
    allowed_pair,
    assert_error,
    basic,
    delegation_ids,
    grant,
    is_active,
    sha256_hex,
    shared_botocore_data,
    state_of,
    token_request,
)

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

EVENT_FIELDS = {"event_id", "tenant_id", "occurred_at", "type", "actor", "request_id"}
BOTH, REQUESTER, RECEIVER = "both", "requester", "receiver"


def test_each_operation_is_logged_to_the_right_tenants_without_secrets(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")

    def send(method: str, path: str, token: str, rid: str, body: Any = None, status: int = 200) -> Any:
        """One call under a request id of our choosing, so that its events can be found."""
        reply = stack.call(method, path, token, body, {"x-request-id": rid})
        assert reply.status == status, (rid, reply.body)
        return reply.body

    created = send("POST", "/agents", medicore.admin_token, "rid-agent-create", {"name": "robot"}, 201)
    secret = created["client_secret"]
    token = stack.token(created["client_id"], secret)
    agent = Agent(created["agent_id"], medicore, created["client_id"], secret, token)
    first_token = agent.token
    rotated = send("POST", f"/agents/{agent.agent_id}/rotate-secret", medicore.admin_token, "rid-rotate")
    agent.secret = rotated["client_secret"]
    agent.token = stack.token(agent.client_id, agent.secret)
    wrong_secret = {**basic(agent.client_id, "vgs_not-the-secret"), "x-request-id": "rid-auth-failed"}
    assert token_request(stack, {"grant_type": "client_credentials"}, wrong_secret).status == 401

    policy_ids = {}
    for action, effect, rid in (
        ("stock.write", "ALLOW", "rid-policy-allow"),
        ("stock.approve", "STEP_UP", "rid-policy-stepup"),
        ("stock.temp", "BLOCK", "rid-policy-temp"),
    ):
        body = {"action": action, "effect": effect, "requesting_tenant_id": medicore.tenant_id}
        policy_ids[action] = send("PUT", "/policies", natsupply.admin_token, rid, body, 201)["policy_id"]
    send("DELETE", f"/policies/{policy_ids['stock.temp']}", natsupply.admin_token, "rid-policy-delete")

    def ask(action: str, rid: str, status: int) -> dict[str, Any]:
        body = {"receiving_tenant_id": natsupply.tenant_id, "action": action}
        return dict(send("POST", "/delegations/request", agent.token, rid, body, status))

    allowed = ask("stock.write", "rid-allow", 201)
    pending = ask("stock.approve", "rid-stepup", 202)
    ask("stock.delete", "rid-block", 403)
    verified = send(
        "POST", "/delegations/verify", natsupply.admin_token, "rid-verify", {"token": allowed["access_token"]}
    )
    assert verified["active"] is True
    send("POST", f"/delegations/{allowed['delegation_id']}/revoke", agent.token, "rid-revoke")
    send("DELETE", f"/agents/{agent.agent_id}", medicore.admin_token, "rid-disable")

    logs = {REQUESTER: all_audit(stack, medicore), RECEIVER: all_audit(stack, natsupply)}
    tenants = {REQUESTER: medicore, RECEIVER: natsupply}
    expected = [
        ("rid-agent-create", "agent.created", REQUESTER),
        ("rid-rotate", "agent.secret_rotated", REQUESTER),
        ("rid-auth-failed", "auth.failed", REQUESTER),
        ("rid-policy-allow", "policy.upserted", RECEIVER),
        ("rid-policy-delete", "policy.deleted", RECEIVER),
        ("rid-allow", "delegation.requested", BOTH),
        ("rid-allow", "delegation.allowed", BOTH),
        ("rid-allow", "token.issued", BOTH),
        ("rid-stepup", "delegation.requested", BOTH),
        ("rid-stepup", "delegation.stepup_required", BOTH),
        ("rid-block", "delegation.requested", BOTH),
        ("rid-block", "delegation.blocked", BOTH),
        ("rid-verify", "delegation.verified", BOTH),
        ("rid-revoke", "delegation.revoked", BOTH),
        ("rid-disable", "agent.disabled", REQUESTER),
        ("rid-disable", "delegation.revoked", BOTH),  # the pending one, revoked with its agent
    ]
    for rid, event_type, where in expected:
        with subtests.test(f"{event_type} ({rid}) is in the {where} log(s)"):
            found = {
                side: [e for e in log if e["request_id"] == rid and e["type"] == event_type]
                for side, log in logs.items()
            }
            for side in (REQUESTER, RECEIVER):
                wanted = where in (side, BOTH)
                assert len(found[side]) == (1 if wanted else 0), (side, found[side])
            if where == BOTH:
                mine, theirs = found[REQUESTER][0], found[RECEIVER][0]
                assert mine["event_id"] == theirs["event_id"]
                assert mine["tenant_id"] == medicore.tenant_id and theirs["tenant_id"] == natsupply.tenant_id
                assert mine["counterpart_tenant_id"] == natsupply.tenant_id
                assert theirs["counterpart_tenant_id"] == medicore.tenant_id
                assert mine.get("delegation_id") == theirs.get("delegation_id")
                assert mine["actor"] == theirs["actor"]

    with subtests.test("tenant.created is in each tenant's own log, by the platform"):
        for side, log in logs.items():
            created = [e for e in log if e["type"] == "tenant.created"]
            assert len(created) == 1 and created[0]["actor"]["type"] == "platform", created
            assert created[0]["tenant_id"] == tenants[side].tenant_id

    with subtests.test("every event has the designed fields"):
        for side, log in logs.items():
            for event in log:
                assert EVENT_FIELDS <= set(event), event
                assert event["tenant_id"] == tenants[side].tenant_id
                assert set(event["actor"]) == {"type", "id"} and event["actor"]["id"], event
                datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))

    with subtests.test("the verification event names the verifier"):
        verified = [e for e in logs[RECEIVER] if e["type"] == "delegation.verified"]
        assert [e["actor"]["type"] for e in verified] == ["admin"]
        assert verified[0]["token_sha256"] == sha256_hex(allowed["access_token"])

    with subtests.test("delegation events name the agent, the action and the delegation"):
        for event in logs[RECEIVER]:
            if event["type"].startswith("delegation.") and event["request_id"] not in (
                "rid-disable",
                "rid-verify",
            ):
                assert event["actor"] == {"type": "agent", "id": agent.agent_id}, event
                assert event["action"].startswith("stock."), event
        for rid, delegation in (("rid-allow", allowed), ("rid-stepup", pending)):
            assert {e.get("delegation_id") for e in logs[RECEIVER] if e["request_id"] == rid} == {
                delegation["delegation_id"]
            }

    with subtests.test("tokens appear only as their sha256 fingerprint"):
        issued = [e for e in logs[RECEIVER] if e["type"] == "token.issued" and e.get("delegation_id")]
        assert [e["token_sha256"] for e in issued] == [sha256_hex(allowed["access_token"])]
        api_fingerprints = {e.get("token_sha256") for e in logs[REQUESTER] if e["type"] == "token.issued"}
        for token in (medicore.admin_token, first_token, agent.token):
            assert sha256_hex(token) in api_fingerprints

    with subtests.test("no event contains a client secret or a token"):
        text = repr(logs)
        secrets = [medicore.admin_secret, natsupply.admin_secret, secret, agent.secret, stack.platform_secret]
        tokens = [
            medicore.admin_token,
            natsupply.admin_token,
            first_token,
            agent.token,
            allowed["access_token"],
        ]
        assert [s for s in secrets if s in text] == []
        assert [t for t in tokens if t in text] == []
        assert not re.search(JWT_LIKE, text)
        assert not re.search(r"vgs_[A-Za-z0-9_-]{20,}", text)


def test_audit_pages_newest_first_and_filters_exactly(stack: Stack, subtests: pytest.Subtests) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    for i in range(5):
        assert stack.call("POST", "/agents", medicore.admin_token, {"name": f"robot-{i}"}).status == 201
    for action in ("ledger.read", "ledger.write"):
        stack.policy(medicore, action, "ALLOW")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    first, second = grant(stack, agent, natsupply), grant(stack, agent, natsupply)
    stack.call("POST", f"/delegations/{first.delegation_id}/revoke", agent.token)
    full = all_audit(stack, medicore)

    def pages(query: str, limit: int) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(30):
            reply = stack.call("GET", f"/audit?limit={limit}{query}{cursor}", medicore.admin_token)
            assert reply.status == 200, reply.body
            assert len(reply.body["events"]) <= limit
            seen.extend(reply.body["events"])
            if not reply.body["next_cursor"]:
                return seen
            assert len(reply.body["events"]) == limit
            cursor = "&cursor=" + reply.body["next_cursor"]
        raise AssertionError("no last page")

    def ids(events: list[dict[str, Any]]) -> list[str]:
        return [e["event_id"] for e in events]

    with subtests.test("newest first"):
        stamps = [e["occurred_at"] for e in full]
        assert stamps == sorted(stamps, reverse=True)
        assert len(full) >= 15, len(full)
    for limit in (4, 7):
        with subtests.test(f"pages of {limit} add up to the whole log, without overlap or gap"):
            assert ids(pages("", limit)) == ids(full)
    only = {"agent.created", "policy.upserted"}
    expected_types = [e for e in full if e["type"] in only]
    for name, query in (
        ("repeated", "&type=agent.created&type=policy.upserted"),
        ("comma list", "&type=agent.created,policy.upserted"),
    ):
        with subtests.test(f"type filter, {name}, paged by 3"):
            assert ids(pages(query, 3)) == ids(expected_types)
            assert len(expected_types) == 8
    with subtests.test("delegation_id filter"):
        mine = pages(f"&delegation_id={first.delegation_id}", 2)
        assert ids(mine) == ids([e for e in full if e.get("delegation_id") == first.delegation_id])
        assert {e["type"] for e in mine} == {
            "delegation.requested",
            "delegation.allowed",
            "token.issued",
            "delegation.revoked",
        }
        assert second.delegation_id not in repr(mine)

    pivot = full[len(full) // 2]["occurred_at"]
    pivot_at = datetime.fromisoformat(pivot.replace("Z", "+00:00"))
    later = full[len(full) // 4]["occurred_at"]
    same_instant_elsewhere = pivot_at.astimezone(timezone(timedelta(hours=2))).isoformat()
    windows = {
        f"since={pivot}": ([e for e in full if e["occurred_at"] >= pivot], f"&since={pivot}"),
        f"until={pivot}": ([e for e in full if e["occurred_at"] <= pivot], f"&until={pivot}"),
        "since and until": (
            [e for e in full if pivot <= e["occurred_at"] <= later],
            f"&since={pivot}&until={later}",
        ),
        "since with a +02:00 offset": (
            [e for e in full if e["occurred_at"] >= pivot],
            "&since=" + quote(same_instant_elsewhere),
        ),
        "since and a type": (
            [e for e in full if e["occurred_at"] >= pivot and e["type"] in only],
            f"&since={pivot}&type=agent.created,policy.upserted",
        ),
    }
    for name, (wanted, query) in windows.items():
        with subtests.test(f"time window: {name}"):
            assert ids(pages(query, 5)) == ids(wanted)
            assert wanted, "the window should not be empty"

    with subtests.test("agents may not read the audit log"):
        assert_error(stack.call("GET", "/audit", agent.token), 403)


def test_a_change_whose_audit_cannot_be_written_does_not_happen(
    stack: Stack, subtests: pytest.Subtests, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = allowed_pair(stack)
    medicore, natsupply, agent = g.requester, g.receiver, g.agent
    stack.policy(natsupply, "stock.read", "ALLOW", medicore)

    def without_audit(snapshot: dict[str, Any]) -> dict[str, Any]:
        return {
            k: ({n: v for n, v in s.items() if n != "audit"} if isinstance(s, dict) and "audit" in s else s)
            for k, s in snapshot.items()
        }

    before = without_audit(state_of(stack, medicore, natsupply))
    dynamodb = boto3.client("dynamodb")
    audit_table = stack.container.settings.audit_table_name
    dynamodb.delete_table(TableName=audit_table)
    try:
        with subtests.test("audit table gone: a delegation request is a 503 without a token"):
            reply = stack.request(agent, natsupply, "stock.read")
            assert_error(reply, 503)
            assert "access_token" not in reply.body and "delegation_id" not in reply.body
        with subtests.test("audit table gone: revocation is a 503"):
            assert_error(stack.call("POST", f"/delegations/{g.delegation_id}/revoke", agent.token), 503)
        with subtests.test("audit table gone: policy and agent changes are 503s"):
            policy = {"action": "stock.count", "effect": "ALLOW"}
            assert_error(stack.call("PUT", "/policies", natsupply.admin_token, policy), 503)
            assert_error(stack.call("DELETE", f"/agents/{agent.agent_id}", medicore.admin_token), 503)
    finally:
        ensure_tables(stack.container.settings, dynamodb)

    with subtests.test("nothing was written: no delegation, policy, revocation or disabling"):
        assert without_audit(state_of(stack, medicore, natsupply)) == before
        assert is_active(stack, g.token, natsupply)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise StoreError("audit write refused")

    monkeypatch.setattr(stack.container.audit_repo, "add", refuse)
    with subtests.test("audit writes refused: request and revoke are 503s"):
        assert_error(stack.request(agent, natsupply, "stock.read"), 503)
        assert_error(stack.call("POST", f"/delegations/{g.delegation_id}/revoke", agent.token), 503)
    monkeypatch.undo()
    with subtests.test("and again nothing was written"):
        assert delegation_ids(stack, agent.token) == {g.delegation_id}
        assert is_active(stack, g.token, natsupply)
