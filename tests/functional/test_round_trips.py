"""DynamoDB round trips per request, authentication included (docs/architecture.md, "Cost
budgets"): a delegation decision ≤ 2, verify/introspect ≤ 2, the token endpoint ≤ 2, any
other request ≤ 3. Every route of the app must have a case here, so a new route, or a change
that adds a round trip, fails this test instead of slowing production down silently."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import botocore.client
import pytest

from tests.functional.conftest import Agent, Reply, Stack, Tenant
from tests.functional.helpers import basic, form
from tests.functional.people import PEOPLE_ROUTES
from tests.functional.vault_helpers import VAULT_ROUTES

DECISION, VERIFY, TOKEN, OTHER = 2, 2, 2, 3
CIBA = "urn:openid:params:grant-type:ciba"


def _items(operation: str, params: dict[str, Any]) -> int:
    if operation == "BatchGetItem":
        return sum(len(v["Keys"]) for v in params["RequestItems"].values())
    if operation == "TransactWriteItems":
        return len(params["TransactItems"])
    return 1


@contextlib.contextmanager
def dynamodb_calls(shapes: list[tuple[str, int]] | None = None) -> Iterator[Counter[str]]:
    """Every DynamoDB API call made inside the block, by operation name (and, in `shapes`,
    each call with the number of items it names)."""
    seen: Counter[str] = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            seen[operation] += 1
            if shapes is not None:
                shapes.append((operation, _items(operation, params)))
        return original(self, operation, params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", counting):
        yield seen


@dataclass
class World:
    stack: Stack
    med: Tenant
    nat: Tenant
    agent: Agent
    allowed: dict[str, Any]
    pending: list[dict[str, Any]]


@pytest.fixture
def world(stack: Stack) -> World:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(med)
    stack.policy(nat, "stock.write", "ALLOW", med)
    stack.policy(nat, "requisition.submit", "STEP_UP", med)
    allowed = stack.request(agent, nat, "stock.write").body
    pending = [stack.request(agent, nat, "requisition.submit").body for _ in range(4)]
    return World(stack, med, nat, agent, allowed, pending)


Case = Callable[[World], Reply]


def _call(method: str, path: str, who: str = "nat", body: Any = None) -> Case:
    def run(w: World) -> Reply:
        token = {"nat": w.nat.admin_token, "med": w.med.admin_token, "agent": w.agent.token}.get(
            who, w.stack.platform_token
        )
        return w.stack.call(method, path.format(w=w), token, body)

    return run


CASES: dict[tuple[str, str], tuple[int, Case]] = {
    ("GET", "/.well-known/jwks.json"): (0, _call("GET", "/.well-known/jwks.json")),
    ("GET", "/openapi.json"): (0, _call("GET", "/openapi.json")),
    ("GET", "/docs"): (0, _call("GET", "/docs")),
    ("GET", "/docs/redoc.standalone.js"): (0, _call("GET", "/docs/redoc.standalone.js")),
    ("GET", "/.well-known/oauth-authorization-server"): (
        0,
        _call("GET", "/.well-known/oauth-authorization-server"),
    ),
    ("GET", "/.well-known/openid-configuration"): (0, _call("GET", "/.well-known/openid-configuration")),
    ("GET", "/health"): (OTHER, _call("GET", "/health")),
    ("GET", "/metrics"): (OTHER, _call("GET", "/metrics", "platform")),
    ("POST", "/oauth/token"): (
        TOKEN,
        lambda w: w.stack.form(
            "/oauth/token", "grant_type=client_credentials", basic(w.agent.client_id, w.agent.secret)
        ),
    ),
    ("POST", "/oauth/introspect"): (
        VERIFY,
        lambda w: w.stack.form(
            "/oauth/introspect",
            form({"token": w.allowed["access_token"]}),
            basic(w.nat.admin_client_id, w.nat.admin_secret),
        ),
    ),
    ("POST", "/oauth/revoke"): (
        OTHER,
        lambda w: w.stack.form(
            "/oauth/revoke",
            form({"token": w.allowed["access_token"]}),
            {"authorization": f"Bearer {w.nat.admin_token}"},
        ),
    ),
    ("POST", "/delegations/request"): (
        DECISION,
        _call("POST", "/delegations/request", "agent", None),
    ),
    ("POST", "/delegations/verify"): (
        VERIFY,
        lambda w: w.stack.verify(w.allowed["access_token"], w.nat.admin_token),
    ),
    ("GET", "/delegations"): (OTHER, _call("GET", "/delegations", "nat")),
    ("GET", "/delegations/{delegation_id}"): (
        OTHER,
        _call("GET", "/delegations/{w.allowed[delegation_id]}", "nat"),
    ),
    ("POST", "/delegations/{delegation_id}/approve"): (
        OTHER,
        _call("POST", "/delegations/{w.pending[0][delegation_id]}/approve", "nat", {}),
    ),
    ("POST", "/delegations/{delegation_id}/reject"): (
        OTHER,
        _call("POST", "/delegations/{w.pending[1][delegation_id]}/reject", "nat", {}),
    ),
    ("POST", "/delegations/{delegation_id}/revoke"): (
        OTHER,
        _call("POST", "/delegations/{w.allowed[delegation_id]}/revoke", "med", {}),
    ),
    ("POST", "/stepup/initiate"): (
        DECISION,
        _call(
            "POST",
            "/stepup/initiate",
            "agent",
            None,
        ),
    ),
    ("GET", "/stepup/{auth_req_id}/status"): (
        OTHER,
        _call("GET", "/stepup/{w.pending[2][auth_req_id]}/status", "agent"),
    ),
    ("POST", "/stepup/{auth_req_id}/complete"): (
        OTHER,
        _call("POST", "/stepup/{w.pending[3][auth_req_id]}/complete", "nat", {"decision": "approve"}),
    ),
    ("POST", "/bc-authorize"): (
        DECISION,
        lambda w: w.stack.form(
            "/bc-authorize",
            form({"scope": "requisition.submit", "login_hint": w.nat.tenant_id}),
            basic(w.agent.client_id, w.agent.secret),
        ),
    ),
    ("POST", "/tenants"): (OTHER, _call("POST", "/tenants", "platform", {"name": "Clinic"})),
    ("GET", "/tenants"): (OTHER, _call("GET", "/tenants", "platform")),
    ("GET", "/tenants/{tenant_id}"): (OTHER, _call("GET", "/tenants/{w.nat.tenant_id}", "nat")),
    ("PATCH", "/tenants/{tenant_id}"): (
        OTHER,
        _call("PATCH", "/tenants/{w.med.tenant_id}", "platform", {"status": "ACTIVE"}),
    ),
    ("GET", "/tenants/{tenant_id}/stats"): (OTHER, _call("GET", "/tenants/{w.nat.tenant_id}/stats", "nat")),
    ("POST", "/agents"): (OTHER, _call("POST", "/agents", "med", {"name": "second"})),
    ("GET", "/agents"): (OTHER, _call("GET", "/agents", "med")),
    ("GET", "/agents/{agent_id}"): (OTHER, _call("GET", "/agents/{w.agent.agent_id}", "med")),
    ("POST", "/agents/{agent_id}/rotate-secret"): (
        OTHER,
        _call("POST", "/agents/{w.agent.agent_id}/rotate-secret", "med", {}),
    ),
    ("DELETE", "/agents/{agent_id}"): (OTHER, _call("DELETE", "/agents/{w.agent.agent_id}", "med")),
    # A key-only agent is registered first, outside the count (`_bodies`).
    ("PUT", "/agents/{agent_id}/keys"): (OTHER, _call("PUT", "/agents/{{agent_id}}/keys", "med")),
    ("PUT", "/policies"): (
        OTHER,
        _call(
            "PUT",
            "/policies",
            "nat",
            {"action": "orders.read", "effect": "ALLOW", "requesting_tenant_id": None},
        ),
    ),
    ("GET", "/policies"): (OTHER, _call("GET", "/policies", "nat")),
    ("POST", "/policies/evaluate"): (
        OTHER,
        lambda w: w.stack.call(
            "POST",
            "/policies/evaluate",
            w.nat.admin_token,
            {"requesting_tenant_id": w.med.tenant_id, "action": "stock.write"},
        ),
    ),
    # The edge Query, then the counterpart's name read with the caller's credential.
    ("GET", "/graph"): (OTHER, _call("GET", "/graph", "nat")),
    # The policy's id is listed first, outside the count (`_bodies`).
    ("DELETE", "/policies/{policy_id}"): (OTHER, _call("DELETE", "/policies/{{policy_id}}")),
    ("GET", "/audit"): (OTHER, _call("GET", "/audit", "nat")),
    ("GET", "/audit/export.csv"): (OTHER, _call("GET", "/audit/export.csv", "nat")),
    ("PUT", "/webhooks"): (OTHER, _call("PUT", "/webhooks", "nat", {"url": "http://127.0.0.1:9/hook"})),
    ("GET", "/webhooks"): (OTHER, _call("GET", "/webhooks", "nat")),
    ("DELETE", "/webhooks"): (OTHER, _call("DELETE", "/webhooks", "nat")),
    ("POST", "/webhooks/test"): (OTHER, _call("POST", "/webhooks/test", "nat")),
    # Public: the list's tenant (once per container), then the list; no signature read.
    ("GET", "/statuslists/{list_id}"): (
        OTHER,
        lambda w: w.stack.call("GET", _status_list_path(w.allowed["access_token"])),
    ),
}


def _status_list_path(token: str) -> str:
    import base64
    import json
    from urllib.parse import urlsplit

    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return urlsplit(claims["status"]["status_list"]["uri"]).path


def _bodies(w: World, method: str, path: str) -> Case | None:
    """Requests whose body depends on the world, or that need something set up first (which
    happens here, before the count)."""
    if (method, path) == ("DELETE", "/policies/{policy_id}"):
        listed = w.stack.call("GET", "/policies", w.nat.admin_token).body["policies"]
        return lambda w: w.stack.call("DELETE", f"/policies/{listed[0]['policy_id']}", w.nat.admin_token)
    if path.startswith("/webhooks") and method != "PUT":
        w.stack.call("PUT", "/webhooks", w.nat.admin_token, {"url": "http://127.0.0.1:9/hook"})
        return None
    if (method, path) == ("PUT", "/agents/{agent_id}/keys"):
        from tests.functional.test_private_key_jwt import public_jwk, rsa_key

        keys = {"keys": [public_jwk(rsa_key())]}
        made = w.stack.call("POST", "/agents", w.med.admin_token, {"name": "keyed", "jwks": keys})
        path = f"/agents/{made.body['agent_id']}/keys"
        return lambda w: w.stack.call("PUT", path, w.med.admin_token, {"jwks": keys})
    if path == "/delegations/request":
        return lambda w: w.stack.request(w.agent, w.nat, "stock.write")
    if path == "/stepup/initiate":
        return lambda w: w.stack.call(
            "POST",
            "/stepup/initiate",
            w.agent.token,
            {"receiving_tenant_id": w.nat.tenant_id, "action": "requisition.submit"},
        )
    return None


def test_every_route_has_a_budget_case() -> None:
    from app import app

    # Preflights (OPTIONS) read nothing: tests/functional/test_cors.py counts them.
    routes = {(m, p) for p, by_method in app.routes.items() for m in by_method if m != "OPTIONS"}
    counted = set(CASES) | set(PEOPLE_ROUTES) | set(VAULT_ROUTES)  # the vault's: test_vault_connections.py
    assert routes - counted == set(), "add a round-trip case for the new route(s)"


def test_every_paths_preflight_reads_nothing(stack: Stack) -> None:
    """OPTIONS, the one method `test_every_route_has_a_budget_case` leaves out: a CORS
    preflight of any path, from any origin, answers without a DynamoDB call."""
    import re

    from app import app

    for path in sorted(app.routes):
        concrete = re.sub(r"\{[a-z_]+\}", "x_1", path)
        with dynamodb_calls() as calls:
            reply = stack.call(
                "OPTIONS",
                concrete,
                headers={"origin": "https://dashboard.example", "access-control-request-method": "GET"},
            )
        assert reply.status == 204, (path, reply.status)
        assert sum(calls.values()) == 0, (path, dict(calls))


@pytest.mark.parametrize(("method", "path"), sorted(CASES), ids=lambda v: str(v))
def test_round_trips_within_budget(world: World, method: str, path: str) -> None:
    budget, case = CASES[(method, path)]
    run = _bodies(world, method, path) or case
    with dynamodb_calls() as calls:
        reply = run(world)
    assert reply.status < 400 or (method, path) == ("GET", "/audit/export.csv"), (reply.status, reply.body)
    assert sum(calls.values()) <= budget, dict(calls)


def test_a_ciba_poll_is_within_the_token_endpoint_budget(world: World) -> None:
    """POST /oauth/token with the CIBA grant, while pending and once approved: the client's
    credential is read with the polled records, then one write."""
    stack, agent, pending = world.stack, world.agent, world.pending[0]

    def poll() -> Reply:
        body = form({"grant_type": CIBA, "auth_req_id": pending["auth_req_id"]})
        return stack.form("/oauth/token", body, basic(agent.client_id, agent.secret))

    with dynamodb_calls() as calls:
        reply = poll()
    assert reply.status == 400 and reply.body["error"] == "authorization_pending", reply.body
    assert sum(calls.values()) <= TOKEN, dict(calls)

    approve = f"/delegations/{pending['delegation_id']}/approve"
    approved = stack.call("POST", approve, world.nat.admin_token, {})
    assert approved.status == 200, approved.body
    with dynamodb_calls() as calls:
        reply = poll()
    assert reply.status == 200 and reply.body["access_token"], reply.body
    assert sum(calls.values()) <= TOKEN, dict(calls)


def test_the_four_block_cases_make_the_same_calls(world: World) -> None:
    """Explicit BLOCK, no policy, unknown tenant, disabled tenant: same calls, same item
    counts, so that timing gives nothing away."""
    stack, agent = world.stack, world.agent
    stack.policy(world.nat, "admin.access", "BLOCK", world.med)
    disabled = stack.tenant("Closed Clinic")
    assert (
        stack.call(
            "PATCH", f"/tenants/{disabled.tenant_id}", stack.platform_token, {"status": "DISABLED"}
        ).status
        == 200
    )

    seen: list[list[tuple[str, int]]] = []
    for target, action in (
        (world.nat.tenant_id, "admin.access"),
        (world.nat.tenant_id, "nothing.configured"),
        ("tnt_" + "0" * 20, "admin.access"),
        (disabled.tenant_id, "admin.access"),
    ):
        shapes: list[tuple[str, int]] = []
        with dynamodb_calls(shapes):
            assert stack.request(agent, target, action).status == 403
        seen.append(shapes)
    assert all(shapes == seen[0] for shapes in seen), seen
    assert len(seen[0]) <= DECISION
