"""What every response carries (request id, security headers, the error shape), who may call
the platform and tenant endpoints, and Idempotency-Key replays of delegation requests."""

from __future__ import annotations

import re

import pytest

from tests.functional.conftest import Reply, Stack
from tests.functional.helpers import (
    REQUEST_ID,
    assert_error,
    bearer,
    delegation_ids,
    header,
    introspect,
    random_agent_id,
    shared_botocore_data,
)

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def test_every_response_carries_a_request_id_and_the_security_headers(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    granted = stack.request(agent, natsupply, "stock.write")
    token_reply = stack.form(
        "/oauth/token",
        f"grant_type=client_credentials&client_id={agent.client_id}&client_secret={agent.secret}",
    )
    replies: dict[str, Reply] = {
        "GET /health 200": stack.call("GET", "/health"),
        "GET /.well-known/jwks.json 200": stack.call("GET", "/.well-known/jwks.json"),
        "POST /oauth/token 200": token_reply,
        "POST /oauth/token 401": stack.form(
            "/oauth/token", "grant_type=client_credentials&client_id=x&client_secret=y"
        ),
        "POST /agents 201": stack.call("POST", "/agents", medicore.admin_token, {"name": "robot"}),
        "POST /agents 400": stack.call("POST", "/agents", medicore.admin_token, raw="{"),
        "POST /agents 413": stack.call("POST", "/agents", medicore.admin_token, raw="x" * (65 * 1024)),
        "POST /agents 415": stack.call(
            "POST", "/agents", medicore.admin_token, raw="{}", headers={"content-type": "text/plain"}
        ),
        "GET /agents 401": stack.call("GET", "/agents"),
        "GET /tenants 403": stack.call("GET", "/tenants", medicore.admin_token),
        "GET /agents/{id} 404": stack.call("GET", f"/agents/{random_agent_id()}", medicore.admin_token),
        "POST /delegations/request 201": granted,
        "POST /delegations/request 403": stack.request(agent, natsupply, "stock.delete"),
        "POST /delegations/verify 200": stack.verify(granted.body["access_token"], natsupply.admin_token),
        "POST /oauth/introspect 200": introspect(
            stack, granted.body["access_token"], bearer(natsupply.admin_token)
        ),
    }
    for method, path in (
        ("PUT", "/agents"),
        ("DELETE", "/tenants"),
        ("GET", "/oauth/token"),
        ("PATCH", "/delegations/request"),
        ("POST", "/health"),
        ("PUT", "/audit"),
        ("GET", "/delegations/verify"),
    ):
        replies[f"{method} {path} 405"] = stack.call(method, path, medicore.admin_token, {})

    for name, reply in replies.items():
        expected_status = int(name.rsplit(" ", 1)[1])
        with subtests.test(name):
            assert reply.status == expected_status, reply.body
            request_id = header(reply, REQUEST_ID)
            assert request_id and WELL_FORMED_ID.fullmatch(request_id), reply.headers
            hsts = header(reply, "strict-transport-security") or ""
            max_age = re.search(r"max-age=(\d+)", hsts)
            assert max_age and int(max_age.group(1)) >= 31536000, hsts
            assert header(reply, "x-content-type-options") == "nosniff"
            assert header(reply, "x-frame-options") == "DENY"
            if expected_status >= 400:
                assert_error(reply, expected_status)
            if expected_status == 405:
                assert reply.body["error"] == "method_not_allowed"
            if "token" in name or "delegations" in name or "introspect" in name:
                assert "no-store" in (header(reply, "cache-control") or ""), reply.headers
    with subtests.test("request ids are unique"):
        ids = [header(r, REQUEST_ID) for r in replies.values()]
        assert len(set(ids)) == len(ids)

    with subtests.test("a well-formed x-request-id is echoed, in the header and in an error body"):
        for rid in ("req-0123456789abcdef", "trace:span.1_2-3", "x" * 128):
            reply = stack.call("GET", "/agents", headers={REQUEST_ID: rid})
            assert header(reply, REQUEST_ID) == rid and reply.body["request_id"] == rid
    for rid in ("short", "has spaces in it", "x" * 129, "<script>alert(1)</script>", "emoji-🙂-12345678", ""):
        with subtests.test(f"a malformed x-request-id {rid[:20]!r} is replaced"):
            reply = stack.call("GET", "/agents", headers={REQUEST_ID: rid})
            replaced = header(reply, REQUEST_ID)
            assert replaced and replaced != rid and WELL_FORMED_ID.fullmatch(replaced)
            assert reply.body["request_id"] == replaced


def test_platform_and_tenant_endpoints_check_the_callers_role(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    platform, admin, robot = stack.platform_token, medicore.admin_token, agent.token
    own = f"/tenants/{medicore.tenant_id}"

    with subtests.test("GET /health is public"):
        reply = stack.call("GET", "/health")
        assert reply.status == 200 and reply.body["status"] == "ok", reply.body
    with subtests.test("GET /metrics is for the platform only"):
        assert_error(stack.call("GET", "/metrics"), 401, "invalid_token")
        assert_error(stack.call("GET", "/metrics", admin), 403)
        assert_error(stack.call("GET", "/metrics", robot), 403)
        reply = stack.call("GET", "/metrics", platform)
        assert reply.status == 200 and reply.body["tenants"]["total"] == 2, reply.body

    refusals = [
        ("POST", "/tenants", None, {"name": "Rogue"}, 401),
        ("POST", "/tenants", admin, {"name": "Rogue"}, 403),
        ("POST", "/tenants", robot, {"name": "Rogue"}, 403),
        ("GET", "/tenants", admin, None, 403),
        ("GET", "/tenants", robot, None, 403),
        ("GET", own, robot, None, 403),
        ("GET", own + "/stats", robot, None, 403),
        ("PATCH", own, admin, {"status": "DISABLED"}, 403),
        ("PATCH", own, robot, {"status": "DISABLED"}, 403),
        ("PATCH", f"/tenants/{natsupply.tenant_id}", admin, {"status": "DISABLED"}, 403),
        ("GET", "/agents", robot, None, 403),
        ("GET", "/agents", platform, None, 403),
        ("POST", "/agents", robot, {"name": "clone"}, 403),
        ("PUT", "/policies", robot, {"action": "stock.read", "effect": "ALLOW"}, 403),
        ("GET", "/audit", robot, None, 403),
        ("GET", "/audit", platform, None, 403),
        (
            "POST",
            "/delegations/request",
            admin,
            {"receiving_tenant_id": natsupply.tenant_id, "action": "a.b"},
            403,
        ),
    ]
    for method, path, token, body, status in refusals:
        who = {None: "anonymous", admin: "admin", robot: "agent", platform: "platform"}[token]
        with subtests.test(f"{who}: {method} {path[:20]} is {status}"):
            assert_error(stack.call(method, path, token, body), status)

    with subtests.test("the refusals changed nothing"):
        listed = stack.call("GET", "/tenants", platform).body["tenants"]
        assert {(t["name"], t["status"]) for t in listed} == {("MediCore", "ACTIVE"), ("NatSupply", "ACTIVE")}
        assert [a["agent_id"] for a in stack.call("GET", "/agents", admin).body["agents"]] == [agent.agent_id]
    with subtests.test("admins read their own tenant and stats; the platform reads any"):
        for token in (admin, platform):
            assert stack.call("GET", own, token).body["tenant_id"] == medicore.tenant_id
            assert stack.call("GET", own + "/stats", token).body["agents"] == 1


def test_idempotency_key_replays_the_same_delegation_and_token(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    stack.policy(natsupply, "stock.approve", "STEP_UP", medicore)
    body = {"receiving_tenant_id": natsupply.tenant_id, "action": "stock.write", "purpose": "restock"}

    def send(key: str | None, **changes: object) -> Reply:
        headers = {"idempotency-key": key} if key else None
        return stack.call("POST", "/delegations/request", agent.token, {**body, **changes}, headers)

    first, again = send("order-4711-attempt"), send("order-4711-attempt")
    with subtests.test("same key, same body: the same delegation and the identical token"):
        assert (first.status, again.status) == (201, 201), (first.body, again.body)
        for name in ("delegation_id", "access_token", "expires_at", "scope", "decision", "status"):
            assert again.body[name] == first.body[name], name
        verified = stack.verify(again.body["access_token"], natsupply.admin_token)
        assert verified.body["active"] is True
    with subtests.test("same key, different body: 422 idempotency_key_reused"):
        assert_error(send("order-4711-attempt", ttl_seconds=60), 422, "idempotency_key_reused")
        assert_error(send("order-4711-attempt", purpose="something else"), 422, "idempotency_key_reused")
        assert_error(send("order-4711-attempt", action="stock.approve"), 422, "idempotency_key_reused")
    pending, pending_again = (
        send("approval-0001", action="stock.approve"),
        send("approval-0001", action="stock.approve"),
    )
    with subtests.test("a replayed STEP_UP gives the same pending delegation"):
        assert (pending.status, pending_again.status) == (202, 202), (pending.body, pending_again.body)
        assert pending_again.body["delegation_id"] == pending.body["delegation_id"]
        assert pending_again.body["auth_req_id"] == pending.body["auth_req_id"]
    with subtests.test("without a key every request is a new delegation"):
        plain = [send(None), send(None)]
        assert plain[0].body["delegation_id"] != plain[1].body["delegation_id"]
    with subtests.test("replays created nothing"):
        assert len(delegation_ids(stack, natsupply.admin_token, "inbound")) == 4
