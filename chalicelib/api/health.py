"""Liveness with a DynamoDB check, and platform metrics."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, endpoint
from chalicelib.api._permissions import Permission
from chalicelib.api._spec import INTEGER, STRING, obj
from chalicelib.domain.delegation import Status
from chalicelib.domain.principal import Role

bp = Blueprint(__name__)

METRICS = obj(
    {
        "tenants": obj({"total": INTEGER, "ACTIVE": INTEGER, "DISABLED": INTEGER}),
        "agents": INTEGER,
        "policies": INTEGER,
        "delegations": {
            **obj({s.value: INTEGER for s in Status}),
            "description": "By stored status: a delegation past its expiry counts as ACTIVE or "
            "PENDING until the cleanup job stores it as EXPIRED.",
        },
        "audit_events": {**INTEGER, "description": "In the tenants' logs (not the platform's security log)."},
    },
    title="PlatformMetrics",
    description="Platform totals by kind and status, over every tenant.",
)


@endpoint(
    bp,
    "/health",
    permissions=[Permission.MAIN_READ],
    roles=None,
    responses={200: obj({"status": STRING, "checks": obj({"dynamodb": STRING})})},
    operation_id="getHealth",
)
def health(ctx: Ctx) -> dict[str, Any]:
    return ctx.container.platform.health()


@endpoint(
    bp,
    "/metrics",
    roles=frozenset({Role.PLATFORM}),
    responses={200: METRICS},
    operation_id="getMetrics",
)
def metrics(ctx: Ctx) -> dict[str, Any]:
    assert ctx.principal is not None
    return ctx.container.platform.metrics(ctx.principal)
