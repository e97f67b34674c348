"""The OpenAPI document (issue 10): generated from the route table and the validators that
parse requests, valid OpenAPI 3.1, served at /openapi.json, rendered at /docs."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from app import app
from chalicelib.api import reference
from chalicelib.api._spec import OPERATIONS
from chalicelib.api._validation import Check, Fields, text
from chalicelib.api.openapi import build, checks_of
from tests.functional.conftest import Stack
from tests.functional.helpers import assert_error

SERVER = "http://vaultguard.test"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build(app, SERVER)


def operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return dict(doc["paths"][path][method.lower()])


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises with the offending pointer


def test_every_route_and_method_of_the_app_is_in_the_document(doc: dict[str, Any]) -> None:
    routes = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    documented = {(path, method) for path, methods in doc["paths"].items() for method in methods}
    assert routes == documented
    undeclared = [(p, m) for p, m in documented if doc["paths"][p][m].get("x-undeclared")]
    assert undeclared == [], "routes registered without endpoint(...): declare their answers"


def test_a_route_added_later_appears_without_extra_work() -> None:
    from chalice import Chalice

    extra = Chalice("extra")

    @extra.route("/later", methods=["POST"])
    def later() -> dict[str, Any]:
        return {}

    built = build(extra, SERVER)
    assert built["paths"]["/later"]["post"]["x-undeclared"] is True
    validate(built)


def test_operation_ids_are_stable_readable_and_unique(doc: dict[str, Any]) -> None:
    ids = [op["operationId"] for methods in doc["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))
    # Clients and the dashboard's generated types name these: renaming one is a breaking change.
    expected = {
        ("POST", "/delegations/request"): "requestDelegation",
        ("POST", "/delegations/{delegation_id}/approve"): "approveDelegation",
        ("POST", "/delegations/{delegation_id}/reject"): "rejectDelegation",
        ("POST", "/delegations/{delegation_id}/revoke"): "revokeDelegation",
        ("POST", "/delegations/verify"): "verifyDelegation",
        ("GET", "/delegations"): "listDelegations",
        ("POST", "/oauth/token"): "requestToken",
        ("POST", "/bc-authorize"): "backchannelAuthorize",
        ("POST", "/agents"): "createAgent",
        ("POST", "/agents/{agent_id}/rotate-secret"): "rotateAgentSecret",
        ("PUT", "/policies"): "upsertPolicy",
        ("POST", "/tenants"): "createTenant",
        ("GET", "/openapi.json"): "getOpenApiDocument",
    }
    for (method, path), operation_id in expected.items():
        assert operation(doc, method, path)["operationId"] == operation_id


def test_every_declared_validator_describes_itself() -> None:
    for (path, method), op in OPERATIONS.items():
        for where, check in checks_of(op).items():
            assert isinstance(check, Check), f"{method} {path} {where}"
            assert check.schema, f"{method} {path} {where} has no schema"


def test_a_validator_without_a_schema_is_refused() -> None:
    def bare(name: str, value: Any) -> Any:
        return value

    with pytest.raises(TypeError, match="no schema"):
        Fields({"name": bare})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="no JSON Schema"):
        Check(bare, {})


def test_request_schemas_come_from_the_validators_that_parse_the_body(doc: dict[str, Any]) -> None:
    body = operation(doc, "POST", "/delegations/request")["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    assert schema["required"] == ["receiving_tenant_id", "action"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["ttl_seconds"]["type"] == ["integer", "null"]
    assert schema["properties"]["binding_message"]["maxLength"] == 128
    agent = operation(doc, "POST", "/agents")["requestBody"]["content"]["application/json"]["schema"]
    assert agent["properties"]["name"] == text(100).schema


def test_the_delegation_request_documents_allow_step_up_and_block(doc: dict[str, Any]) -> None:
    responses = operation(doc, "POST", "/delegations/request")["responses"]
    allow = responses["201"]["content"]["application/json"]["schema"]
    step_up = responses["202"]["content"]["application/json"]["schema"]
    block = responses["403"]["content"]["application/json"]["schema"]["anyOf"][0]
    assert allow["properties"]["decision"]["const"] == "ALLOW"
    assert step_up["properties"]["decision"]["const"] == "STEP_UP"
    assert block["properties"]["decision"]["const"] == "BLOCK"
    headers = [p for p in operation(doc, "POST", "/delegations/request")["parameters"] if p["in"] == "header"]
    assert [p["name"] for p in headers] == ["Idempotency-Key"]


def test_the_token_endpoint_documents_client_authentication_and_the_ciba_errors(doc: dict[str, Any]) -> None:
    token = operation(doc, "POST", "/oauth/token")
    assert token["security"] == [{"clientSecretBasic": []}, {}]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"grant_type", "auth_req_id", "client_id", "client_secret"} <= set(form["properties"])
    errors = token["responses"]["400"]["content"]["application/json"]["schema"]["properties"]["error"]["enum"]
    assert {"authorization_pending", "slow_down", "expired_token", "access_denied", "invalid_grant"} <= set(
        errors
    )
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_routes_for_a_role_take_a_bearer_token_or_a_session_with_csrf_on_writes(doc: dict[str, Any]) -> None:
    from chalicelib.api.openapi import CSRF_NAME
    from chalicelib.auth.session import CSRF_HEADER, SESSION_COOKIE

    schemes = doc["components"]["securitySchemes"]
    assert schemes["sessionCookie"]["name"] == SESSION_COOKIE
    assert schemes["csrfToken"]["name"].lower() == CSRF_HEADER == CSRF_NAME.lower()
    assert operation(doc, "GET", "/delegations")["security"] == [{"bearerAuth": []}, {"sessionCookie": []}]
    assert operation(doc, "POST", "/delegations/{delegation_id}/approve")["security"] == [
        {"bearerAuth": []},
        {"sessionCookie": [], "csrfToken": []},
    ]
    assert operation(doc, "GET", "/health")["security"] == []


def test_every_response_documents_x_request_id_and_errors_share_one_schema(doc: dict[str, Any]) -> None:
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            for status, response in op["responses"].items():
                assert "x-request-id" in response["headers"], f"{method} {path} {status}"
            secured = op["security"] != []
            if secured:
                assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }


def test_get_openapi_json_serves_the_document(stack: Stack) -> None:
    reply = stack.call("GET", "/openapi.json")
    assert reply.status == 200
    assert reply.body["openapi"] == "3.1.0"
    assert reply.body["servers"] == [{"url": "http://vaultguard.test"}]
    assert "/delegations/request" in reply.body["paths"]
    assert reply.headers["x-request-id"]


def test_docs_serves_the_reference_page_and_its_script_from_this_origin(stack: Stack) -> None:
    if not reference.REDOC_BUNDLE.exists():
        pytest.fail(f"{reference.REDOC_BUNDLE} is missing: run `make test` (it installs api-reference/)")
    page = stack.client.http.get("/docs")
    assert page.status_code == 200
    headers = {k.lower(): v for k, v in page.headers.items()}
    assert headers["content-type"].startswith("text/html")
    html = page.body.decode()
    assert 'spec-url="openapi.json"' in html and 'src="docs/redoc.standalone.js"' in html
    assert "http" not in html.split("<body>")[1]  # nothing from another origin
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    script = stack.client.http.get(reference.BUNDLE_ROUTE)
    assert script.status_code == 200
    assert {k.lower(): v for k, v in script.headers.items()}["content-type"].startswith(
        "application/javascript"
    )
    assert len(script.body) > 100_000


def test_docs_without_the_bundle_answer_503_in_the_error_shape(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    reference._read_bundle.cache_clear()
    monkeypatch.setattr(reference, "REDOC_BUNDLE", tmp_path / "missing.js")
    try:
        assert_error(stack.call("GET", "/docs"), 503, "temporarily_unavailable")
    finally:
        reference._read_bundle.cache_clear()
