"""X-Ray through powertools' Tracer: a route's invocation is one `## <route>` subsegment
annotated with the route and the status (no id, no tenant); the local stage never builds a
Tracer, so it never imports the X-Ray SDK."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from chalicelib import observability
from chalicelib.api._lambda import route_handler
from chalicelib.api._permissions import function_name

PROJECT = Path(__file__).resolve().parents[2]


class Subsegment:
    def __init__(self, name: str) -> None:
        self.name, self.annotations = name, {}  # type: ignore[var-annotated]

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value


class Provider:
    def __init__(self) -> None:
        self.subsegments: list[Subsegment] = []

    @contextmanager
    def in_subsegment(self, name: str) -> Iterator[Subsegment]:
        self.subsegments.append(Subsegment(name))
        yield self.subsegments[-1]


class FakeTracer:
    disabled = False

    def __init__(self) -> None:
        self.provider = Provider()


def test_a_route_invocation_is_one_subsegment_with_route_and_status(monkeypatch: pytest.MonkeyPatch) -> None:
    tracer = FakeTracer()
    monkeypatch.setattr(observability, "tracer", lambda: tracer)
    handle = route_handler(
        lambda event, context: {"statusCode": 403, "body": "{}"}, "GET", "/tenants/{tenant_id}"
    )
    event = {"httpMethod": "GET", "resource": "/tenants/{tenant_id}", "path": "/tenants/t-secret"}
    assert handle(event, None)["statusCode"] == 403
    (segment,) = tracer.provider.subsegments
    name = function_name("GET", "/tenants/{tenant_id}")
    assert segment.name == f"## {name}"
    assert segment.annotations == {"route": name, "status": 403}  # not the path with the id
    # another route's event is refused before any tracing
    handle({"httpMethod": "POST", "resource": "/tenants"}, None)
    assert len(tracer.provider.subsegments) == 1


def test_the_local_stage_serves_a_route_without_the_xray_sdk() -> None:
    code = (
        "import sys, json\n"
        "from chalicelib.api._lambda import RouteGetOpenapiJson as handle\n"
        "from chalicelib import observability\n"
        "answer = handle({'httpMethod': 'GET', 'resource': '/openapi.json', 'path': '/openapi.json',"
        " 'headers': {}, 'multiValueHeaders': {}, 'queryStringParameters': None,"
        " 'multiValueQueryStringParameters': None, 'pathParameters': None,"
        " 'stageVariables': None, 'requestContext': {'resourcePath': '/openapi.json', 'httpMethod': 'GET',"
        " 'requestId': 'r1'}, 'body': None, 'isBase64Encoded': False}, None)\n"
        "print(json.dumps([answer['statusCode'], observability.tracer() is None,"
        " 'aws_xray_sdk' in sys.modules]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULTGUARD_", "POWERTOOLS_"))}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[200, true, false]"
