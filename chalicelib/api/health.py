"""Liveness with a DynamoDB check, and platform metrics."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, endpoint
from chalicelib.api._permissions import Permission
from chalicelib.api._spec import STRING, obj
from chalicelib.domain.principal import Role

bp = Blueprint(__name__)


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
    responses={200: {"type": "object", "description": "Platform totals by kind and status."}},
    operation_id="getMetrics",
)
def metrics(ctx: Ctx) -> dict[str, Any]:
    assert ctx.principal is not None
    return ctx.container.platform.metrics(ctx.principal)
