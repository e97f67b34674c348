"""One Lambda per route: a route's handler serves its own route and answers any other with
the error shape's 404, so a misrouted integration cannot borrow another route's role."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.api import _lambda
from chalicelib.api._permissions import function_name


def proxy_event(method: str, resource: str) -> dict[str, Any]:
    return {"httpMethod": method, "resource": resource, "requestContext": {"requestId": "req-1"}}


def test_a_route_handler_passes_its_own_route_to_the_app() -> None:
    seen: list[dict[str, Any]] = []

    def app(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 200, "body": "{}"}

    handler = _lambda.route_handler(app, "POST", "/delegations/request")
    assert handler(proxy_event("POST", "/delegations/request"), None)["statusCode"] == 200
    assert len(seen) == 1


def test_a_route_handler_refuses_any_other_route_without_calling_the_app() -> None:
    def app(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise AssertionError("the app must not see another route's event")

    handler = _lambda.route_handler(app, "POST", "/delegations/request")
    for method, resource in (("GET", "/delegations/request"), ("POST", "/audit/export.csv")):
        answer = handler(proxy_event(method, resource), None)
        assert answer["statusCode"] == 404
        body = json.loads(answer["body"])
        assert body["error"] == "not_found" and body["request_id"] == "req-1"
        assert answer["headers"]["x-request-id"] == "req-1"


def test_the_handler_named_after_a_route_serves_that_route() -> None:
    name = function_name("GET", "/.well-known/jwks.json")
    assert name == "RouteGetWellKnownJwksJson"
    handler = getattr(_lambda, name)
    answer = handler(proxy_event("GET", "/health"), None)
    assert answer["statusCode"] == 404
    assert not hasattr(_lambda, "RouteGetNoSuchThing")


def test_the_packaged_handler_serves_its_route_through_the_app() -> None:
    """What API Gateway sends the `GET /.well-known/openid-configuration` function (no AWS needed)."""
    event = {
        **proxy_event("GET", "/.well-known/openid-configuration"),
        "path": "/.well-known/openid-configuration",
        "headers": {"host": "vaultguard.example.org"},
        "multiValueHeaders": {"host": ["vaultguard.example.org"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
    }
    event["requestContext"] = {"requestId": "req-2", "resourcePath": event["resource"], "httpMethod": "GET"}
    handler = getattr(_lambda, function_name("GET", "/.well-known/openid-configuration"))
    answer = handler(event, None)
    assert answer["statusCode"] == 200
    assert "token_endpoint" in json.loads(answer["body"])
