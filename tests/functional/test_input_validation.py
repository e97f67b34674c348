"""Bad input of any kind gets a clear 4xx in the error shape, never a 5xx, and changes nothing:
no agent, policy, delegation, tenant or audit event appears, and nothing is revoked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.functional.conftest import Reply, Stack, Tenant
from tests.functional.helpers import (
    Grant,
    allowed_pair,
    assert_error,
    is_active,
    shared_botocore_data,
    state_of,
)

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

OVERSIZED = '{"name": "' + "x" * (65 * 1024) + '"}'
DEEP_ARRAY = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000
BAD_ACTIONS = [
    "",
    "Stock.Write",
    "stock..write",
    "stock.",
    "*",
    "stock.*.write",
    "stöck write",
    "a" * 129,
    42,
]


@dataclass
class Bad:
    """One bad request and the status it must get."""

    method: str
    path: str
    token: str
    status: int
    body: Any = None
    raw: bytes | str | None = None
    headers: dict[str, str] | None = None

    def send(self, stack: Stack) -> Reply:
        return stack.call(self.method, self.path, self.token, self.body, self.headers, self.raw)


def json_endpoints(g: Grant, stack: Stack) -> dict[str, tuple[str, str, str, dict[str, Any]]]:
    """(method, path, caller's token, a valid body) for every JSON endpoint."""
    medicore, natsupply = g.requester, g.receiver
    return {
        "POST /agents": ("POST", "/agents", medicore.admin_token, {"name": "robot"}),
        "PUT /policies": (
            "PUT",
            "/policies",
            natsupply.admin_token,
            {"action": "stock.read", "effect": "ALLOW"},
        ),
        "POST /delegations/request": (
            "POST",
            "/delegations/request",
            g.agent.token,
            {"receiving_tenant_id": natsupply.tenant_id, "action": "stock.write"},
        ),
        "POST /delegations/{id}/revoke": (
            "POST",
            f"/delegations/{g.delegation_id}/revoke",
            g.agent.token,
            {"reason": "done"},
        ),
        "PATCH /tenants/{id}": (
            "PATCH",
            f"/tenants/{natsupply.tenant_id}",
            stack.platform_token,
            {"status": "DISABLED"},
        ),
    }


def malformed_bodies(endpoint: tuple[str, str, str, dict[str, Any]]) -> dict[str, Bad]:
    method, path, token, valid = endpoint
    first_key = next(iter(valid))
    duplicated = f"{{{_json(first_key)}: {_json(valid[first_key])}, " + _json(valid)[1:]
    return {
        "malformed JSON": Bad(method, path, token, 400, raw='{"name": '),
        "a JSON array": Bad(method, path, token, 400, raw="[" + _json(valid) + "]"),
        "a duplicate key": Bad(method, path, token, 400, raw=duplicated),
        "NaN": Bad(method, path, token, 400, raw=_json(valid)[:-1] + ', "extra": NaN}'),
        "an unknown field": Bad(method, path, token, 400, body={**valid, "is_admin": True}),
        "invalid UTF-8": Bad(method, path, token, 400, raw=b'{"name": "\xff\xfe"}'),
        "arrays nested 5000 deep": Bad(method, path, token, 400, raw=DEEP_ARRAY),
        "objects nested 5000 deep": Bad(method, path, token, 400, raw=DEEP_OBJECT),
        "a body over 64 KiB": Bad(method, path, token, 413, raw=OVERSIZED),
        "a text/plain content type": Bad(
            method, path, token, 415, raw=_json(valid), headers={"content-type": "text/plain"}
        ),
    }


def field_errors(g: Grant, platform_token: str) -> dict[str, Bad]:
    medicore, natsupply, agent = g.requester, g.receiver, g.agent
    cases: dict[str, Bad] = {}

    def agent_body(**body: Any) -> None:
        cases[f"POST /agents {body}"] = Bad("POST", "/agents", medicore.admin_token, 400, body=body)

    def policy(**fields: Any) -> None:
        body = {"action": "stock.read", "effect": "ALLOW", **fields}
        cases[f"PUT /policies {fields}"] = Bad("PUT", "/policies", natsupply.admin_token, 400, body=body)

    def request(headers: dict[str, str] | None = None, **fields: Any) -> None:
        body = {
            k: v
            for k, v in {
                "receiving_tenant_id": natsupply.tenant_id,
                "action": "stock.write",
                **fields,
            }.items()
            if v is not ...
        }
        name = f"POST /delegations/request {fields}{headers or ''}"
        cases[name] = Bad("POST", "/delegations/request", agent.token, 400, body=body, headers=headers)

    agent_body()
    agent_body(name=5)
    agent_body(name="")
    agent_body(name="x" * 101)
    agent_body(name="tab\tand\nnewline")
    agent_body(name="robot", description=["not", "text"])
    for ttl in ("60", True, 1.5, 0, -1, 10**9):
        policy(ttl_seconds=ttl)
    policy(stepup_expiry_seconds="300")
    policy(effect="allow")
    policy(effect="PERMIT")
    policy(requesting_tenant_id="MediCore")
    policy(requesting_tenant_id=5)
    for action in BAD_ACTIONS:
        policy(action=action)
    for ttl in ("60", True, 1.5, 59, 86401, [60]):
        request(ttl_seconds=ttl)
    for action in [*BAD_ACTIONS, "stock.*"]:
        request(action=action)
    for target in (42, None, "", "t" * 65, ["tnt"], {"id": 1}):
        request(receiving_tenant_id=target)
    request(receiving_tenant_id=...)
    request(action=...)
    request(purpose=5)
    request(purpose="x" * 501)
    request(binding_message="x" * 129)
    request(scope="stock.write")
    request(headers={"idempotency-key": "short"})
    request(headers={"idempotency-key": "has spaces in it"})
    for token in (5, "", None, "x" * 8193):
        cases[f"POST /delegations/verify token={str(token)[:10]!r}"] = Bad(
            "POST", "/delegations/verify", natsupply.admin_token, 400, body={"token": token}
        )
    cases["POST /delegations/{id}/revoke reason=5"] = Bad(
        "POST", f"/delegations/{g.delegation_id}/revoke", agent.token, 400, body={"reason": 5}
    )
    cases["PATCH /tenants/{id} status=PAUSED"] = Bad(
        "PATCH", f"/tenants/{natsupply.tenant_id}", platform_token, 400, body={"status": "PAUSED"}
    )
    return cases


def query_errors(tenant: Tenant) -> dict[str, Bad]:
    cases: dict[str, Bad] = {}
    for path, token in (("/delegations", tenant.admin_token), ("/audit", tenant.admin_token)):
        for query in (
            "limit=0",
            "limit=-1",
            "limit=abc",
            "limit=1.5",
            "limit=201",
            "limit=%C2%B2",
            "limit=" + "9" * 5000,
            "bogus=1",
            "cursor=not-a-cursor",
        ):
            cases[f"GET {path}?{query[:30]}"] = Bad("GET", f"{path}?{query}", token, 400)
    for query in ("direction=sideways", "status=active", "status=GONE"):
        cases[f"GET /delegations?{query}"] = Bad("GET", f"/delegations?{query}", tenant.admin_token, 400)
    for query in (
        "since=yesterday",
        "since=2026-13-01T00:00:00Z",
        "since=2026-01-01T00:00:00",
        "until=soon",
        "since=0001-01-01T00:00:00-01:00",
        "until=9999-12-31T23:59:59-01:00",
        "type=no.such.event",
        "type=agent.created,bogus",
        "delegation_id=dlg_nope",
    ):
        cases[f"GET /audit?{query}"] = Bad("GET", f"/audit?{query}", tenant.admin_token, 400)
    return cases


def _json(value: Any) -> str:
    return json.dumps(value)


def _check(stack: Stack, subtests: pytest.Subtests, cases: dict[str, Bad]) -> None:
    for name, bad in cases.items():
        with subtests.test(name):
            reply = bad.send(stack)
            assert reply.status < 500, (reply.status, reply.body)
            assert_error(reply, bad.status)
            assert "access_token" not in reply.body and "client_secret" not in reply.body


def test_malformed_json_bodies_are_refused_everywhere(stack: Stack, subtests: pytest.Subtests) -> None:
    g = allowed_pair(stack)
    before = state_of(stack, g.requester, g.receiver)
    for endpoint_name, endpoint in json_endpoints(g, stack).items():
        _check(stack, subtests, {f"{endpoint_name}: {k}": v for k, v in malformed_bodies(endpoint).items()})
    with subtests.test("nothing changed and nothing was revoked"):
        assert state_of(stack, g.requester, g.receiver) == before
        assert is_active(stack, g.token, g.receiver)


def test_wrong_fields_are_refused_with_a_clear_description(stack: Stack, subtests: pytest.Subtests) -> None:
    g = allowed_pair(stack)
    before = state_of(stack, g.requester, g.receiver)
    _check(stack, subtests, field_errors(g, stack.platform_token))
    with subtests.test("a receiving_tenant_id that cannot be stored is a 4xx, not a 5xx"):
        reply = stack.call(
            "POST",
            "/delegations/request",
            g.agent.token,
            raw=('{"receiving_tenant_id": "tnt_\\ud800", "action": "stock.write"}'),
        )
        assert 400 <= reply.status < 500, (reply.status, reply.body)
    with subtests.test("the description names the offending field"):
        reply = stack.call(
            "PUT",
            "/policies",
            g.receiver.admin_token,
            {
                "action": "stock.read",
                "effect": "ALLOW",
                "ttl_seconds": "60",
            },
        )
        assert "ttl_seconds" in reply.body["error_description"]
    with subtests.test("nothing changed and nothing was revoked"):
        after = state_of(stack, g.requester, g.receiver)
        assert after == before
        assert is_active(stack, g.token, g.receiver)


def test_bad_query_parameters_are_refused(stack: Stack, subtests: pytest.Subtests) -> None:
    medicore = stack.tenant("MediCore")
    _check(stack, subtests, query_errors(medicore))
    with subtests.test("the same parameters, well formed, are accepted"):
        for path in (
            "/delegations?limit=1&direction=outbound&status=ACTIVE",
            "/audit?limit=200&type=agent.created&since=2020-01-01T00:00:00Z&until=2100-01-01T00:00:00%2B02:00",
        ):
            assert stack.call("GET", path, medicore.admin_token).status == 200
