"""The API Gateway "Gateway Responses" rendered from the one error definition: what AWS
answers before a Lambda runs has the error shape, x-request-id and the security headers."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.api._http import gateway_responses, route_not_found
from chalicelib.api._middleware import SECURITY_HEADERS

RESPONSES = gateway_responses()
AWS_REQUEST_ID = "c0ffee00-1234-4bcd-9876-0123456789ab"


def rendered_body(properties: dict[str, object]) -> dict[str, object]:
    """The body API Gateway would send: the template with its one variable filled in."""
    templates = properties["ResponseTemplates"]
    assert isinstance(templates, dict) and set(templates) == {"application/json"}
    template = templates["application/json"]
    filled = template.replace("$context.requestId", AWS_REQUEST_ID)
    # Anything else VTL would read as a variable or a directive would garble the body.
    assert "$" not in filled and "#" not in filled, template
    body = json.loads(filled)
    assert isinstance(body, dict)
    return body


def test_the_types_that_matter_are_covered() -> None:
    assert {
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "MISSING_AUTHENTICATION_TOKEN",
        "RESOURCE_NOT_FOUND",
        "REQUEST_TOO_LARGE",
        "UNSUPPORTED_MEDIA_TYPE",
        "THROTTLED",
        "INTEGRATION_TIMEOUT",
    } <= set(RESPONSES)
    for response_type, properties in RESPONSES.items():
        assert properties["ResponseType"] == response_type
        assert properties["RestApiId"] == {"Ref": "RestAPI"}


@pytest.mark.parametrize("response_type", sorted(RESPONSES))
def test_every_body_has_the_error_shape(response_type: str) -> None:
    body = rendered_body(RESPONSES[response_type])
    assert set(body) == {"error", "error_description", "request_id"}
    assert re.fullmatch(r"[a-z_]+", str(body["error"]))
    assert body["error_description"]
    assert body["request_id"] == AWS_REQUEST_ID


@pytest.mark.parametrize("response_type", sorted(RESPONSES))
def test_every_response_carries_the_request_id_and_security_headers(response_type: str) -> None:
    parameters = RESPONSES[response_type]["ResponseParameters"]
    assert parameters["gatewayresponse.header.x-request-id"] == "context.requestId"
    for name, value in {**SECURITY_HEADERS, "Cache-Control": "no-store"}.items():
        assert parameters[f"gatewayresponse.header.{name}"] == f"'{value}'"  # a static value


def test_an_unknown_route_is_the_404_the_local_server_gives() -> None:
    for response_type in ("MISSING_AUTHENTICATION_TOKEN", "RESOURCE_NOT_FOUND"):
        properties = RESPONSES[response_type]
        assert properties["StatusCode"] == "404"
        assert rendered_body(properties) == route_not_found().body(AWS_REQUEST_ID)


def test_statuses() -> None:
    # A status on DEFAULT_4XX/5XX would replace every 4XX/5XX status API Gateway sends.
    assert "StatusCode" not in RESPONSES["DEFAULT_4XX"] and "StatusCode" not in RESPONSES["DEFAULT_5XX"]
    assert rendered_body(RESPONSES["DEFAULT_5XX"])["error"] == "server_error"
    throttled = RESPONSES["THROTTLED"]
    assert throttled["StatusCode"] == "429" and rendered_body(throttled)["error"] == "rate_limited"
    assert throttled["ResponseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"
    assert RESPONSES["REQUEST_TOO_LARGE"]["StatusCode"] == "413"
    assert RESPONSES["INTEGRATION_TIMEOUT"]["StatusCode"] == "503"


def test_the_rest_api_can_be_named() -> None:
    named = gateway_responses({"Ref": "VaultGuardApi"})
    assert all(p["RestApiId"] == {"Ref": "VaultGuardApi"} for p in named.values())
