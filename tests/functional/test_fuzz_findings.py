"""What the fuzzer (tests/e2e/test_fuzz_api.py) found, each kept as a plain regression test."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from app import app
from chalicelib.api.openapi import build
from tests.functional.conftest import Stack
from tests.functional.helpers import assert_error


@pytest.mark.parametrize("field", ["requesting_tenant_id", "tenant_id"])
def test_a_null_own_tenant_field_is_absent_like_every_optional_field(stack: Stack, field: str) -> None:
    """Optional fields sent as null mean "not given"; `requesting_tenant_id: null` used to be
    a 403 tenant_mismatch although the document allows null there."""
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    reply = stack.request(agent, natsupply, "stock.write", **{field: None})
    assert reply.status == 201, reply.body
    assert_error(
        stack.request(agent, natsupply, "stock.write", **{field: natsupply.tenant_id}), 403, "tenant_mismatch"
    )


def _statuses(doc: dict[str, Any], method: str, path: str) -> set[str]:
    return set(doc["paths"][path][method]["responses"])


def test_the_conflicts_and_absences_the_fuzzer_met_are_documented() -> None:
    """Answers the code gives that the document first left out: rotating a disabled agent's
    secret (409), an audience another tenant holds (409), no webhook set (404)."""
    doc = build(app, "http://vaultguard.test")
    assert "409" in _statuses(doc, "post", "/agents/{agent_id}/rotate-secret")
    assert "409" in _statuses(doc, "post", "/tenants")
    assert "404" in _statuses(doc, "get", "/webhooks")
    assert "404" in _statuses(doc, "delete", "/webhooks")
    assert "422" in _statuses(doc, "post", "/delegations/request")


def test_a_body_without_content_length_is_a_documented_refusal() -> None:
    """The local server (like a gateway) refuses a chunked body with 411; the fuzzer sent one
    to /oauth/introspect and /oauth/revoke, where the document did not list it."""
    doc = build(app, "http://vaultguard.test")
    for method, path in (("post", "/oauth/introspect"), ("post", "/oauth/revoke"), ("post", "/agents")):
        assert "411" in _statuses(doc, method, path)
    assert "411" not in _statuses(doc, "get", "/agents")  # no body, no Content-Length to miss


def test_a_deleted_policy_answers_what_the_document_says(stack: Stack) -> None:
    """DELETE /policies/{policy_id} answers `{policy_id, deleted}`; the document first said a
    policy (found by the stateful run: upsert a policy, then delete it)."""
    natsupply = stack.tenant("NatSupply")
    policy_id = stack.policy(natsupply, "stock.write", "ALLOW").body["policy_id"]
    reply = stack.call("DELETE", f"/policies/{policy_id}", natsupply.admin_token)
    assert reply.status == 200, reply.body
    doc = build(app, "http://vaultguard.test")
    responses = doc["paths"]["/policies/{policy_id}"]["delete"]["responses"]
    jsonschema.validate(reply.body, responses["200"]["content"]["application/json"]["schema"])
