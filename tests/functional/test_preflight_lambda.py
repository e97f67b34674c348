"""Deployed, every path's CORS preflight runs in one shared function
(`chalicelib.api._lambda.CorsPreflight`, see `infra/package.py`): it answers an `OPTIONS`
event of any path through the app, as the local server does, with that path's methods and
without touching DynamoDB, and refuses every other event, so its data-less role is enough."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.api import _lambda
from chalicelib.api._permissions import function_name
from chalicelib.services import container as container_module
from tests.functional.test_round_trips import dynamodb_calls

DASHBOARD = "https://dashboard.example"


@pytest.fixture
def allowlist(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VAULTGUARD_CORS_ORIGINS", DASHBOARD)
    container_module.reset()
    yield
    container_module.reset()


def event(method: str, resource: str, path: str, origin: str, **path_params: str) -> dict[str, Any]:
    """What API Gateway's proxy integration sends for a browser's preflight."""
    headers = {
        "host": "vaultguard.example.org",
        "origin": origin,
        "access-control-request-method": "POST",
    }
    return {
        "httpMethod": method,
        "resource": resource,
        "path": path,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {"requestId": "req-9", "resourcePath": resource, "httpMethod": method},
    }


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_the_shared_preflight_function_answers_every_paths_preflight(allowlist: None) -> None:
    handler = _lambda.CorsPreflight
    revoke = event(
        "OPTIONS",
        "/delegations/{delegation_id}/revoke",
        "/delegations/dlg_1/revoke",
        DASHBOARD,
        delegation_id="dlg_1",
    )
    policies = event("OPTIONS", "/policies", "/policies", DASHBOARD)
    with dynamodb_calls() as calls:
        answers = [handler(revoke, None), handler(policies, None)]
    assert sum(calls.values()) == 0
    assert [a["statusCode"] for a in answers] == [204, 204]
    first, second = (lower(a["headers"]) for a in answers)
    assert first["access-control-allow-origin"] == second["access-control-allow-origin"] == DASHBOARD
    assert first["access-control-allow-methods"] == "OPTIONS, POST"
    assert second["access-control-allow-methods"] == "GET, OPTIONS, PUT"
    assert first["x-request-id"] and "origin" in first["vary"].lower()


def test_an_origin_off_the_allowlist_gets_no_grant_from_it(allowlist: None) -> None:
    answer = _lambda.CorsPreflight(event("OPTIONS", "/policies", "/policies", "https://evil.example"), None)
    assert answer["statusCode"] == 204
    assert not [h for h in answer["headers"] if h.lower().startswith("access-control-")]


def test_the_shared_preflight_function_serves_nothing_but_preflights(allowlist: None) -> None:
    with dynamodb_calls() as calls:
        answers = [
            _lambda.CorsPreflight(event("GET", "/policies", "/policies", DASHBOARD), None),
            _lambda.CorsPreflight(
                event("POST", "/delegations/request", "/delegations/request", DASHBOARD), None
            ),
            _lambda.CorsPreflight(event("OPTIONS", "/no/such/path", "/no/such/path", DASHBOARD), None),
        ]
    assert sum(calls.values()) == 0
    for answer in answers:
        assert answer["statusCode"] == 404
        assert json.loads(answer["body"])["error"] == "not_found"
    # and no per-path preflight function exists to be pointed at
    assert not hasattr(_lambda, function_name("OPTIONS", "/policies"))
