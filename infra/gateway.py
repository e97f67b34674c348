"""The API Gateway stage's operations: throttling (stage-wide, tighter on `GET /auth/login`),
JSON access logs and X-Ray tracing.

API Gateway throttles a stage or a method as a whole, not per caller: one client can spend the
whole budget. Per-source limits are a WAF rate-based rule's job (infra/README.md).
"""

from __future__ import annotations

import json
from typing import Any

Json = dict[str, Any]

ACCESS_LOGS = "ApiAccessLogs"  # the log group's logical id
LOGIN = ("GET", "/auth/login")  # starts a sign-in: the costliest unauthenticated route

# name -> (default, what it is); a deployment overrides them with --parameter-overrides.
PARAMETERS: dict[str, tuple[int, str]] = {
    "ApiBurstLimit": (200, "API Gateway stage: requests that may arrive at once (all callers)"),
    "ApiRateLimit": (100, "API Gateway stage: steady requests per second (all callers)"),
    "LoginBurstLimit": (20, "GET /auth/login: requests that may arrive at once (all callers)"),
    "LoginRateLimit": (5, "GET /auth/login: steady requests per second (all callers)"),
}

# One JSON object per request ($context variables of API Gateway's access logging).
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "requestTime": "$context.requestTimeEpoch",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "latency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "responseLength": "$context.responseLength",
    "errorType": "$context.error.responseType",
    "xrayTraceId": "$context.xrayTraceId",
}
ACCESS_LOG_FORMAT = json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))


def resource_path(path: str) -> str:
    """A method setting's ResourcePath: `/` then the path with each `/` escaped as `~1`."""
    return "/" + path.replace("/", "~1")


def parameters() -> Json:
    return {
        name: {"Type": "Number", "Default": default, "MinValue": 0, "Description": description}
        for name, (default, description) in PARAMETERS.items()
    }


def method_settings() -> list[Json]:
    method, path = LOGIN
    return [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "MetricsEnabled": True,
            "ThrottlingBurstLimit": {"Ref": "ApiBurstLimit"},
            "ThrottlingRateLimit": {"Ref": "ApiRateLimit"},
        },
        {
            "ResourcePath": resource_path(path),
            "HttpMethod": method,
            "MetricsEnabled": True,
            "ThrottlingBurstLimit": {"Ref": "LoginBurstLimit"},
            "ThrottlingRateLimit": {"Ref": "LoginRateLimit"},
        },
    ]


def configure(api: Json) -> None:
    """Throttling, access logs (to the ACCESS_LOGS group) and tracing on chalice's
    `AWS::Serverless::Api`."""
    props = api["Properties"]
    props["MethodSettings"] = method_settings()
    props["AccessLogSetting"] = {
        "DestinationArn": {"Fn::GetAtt": [ACCESS_LOGS, "Arn"]},
        "Format": ACCESS_LOG_FORMAT,
    }
    props["TracingEnabled"] = True
