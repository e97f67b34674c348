"""Liveness with a DynamoDB check, and platform metrics."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, endpoint
from chalicelib.domain.principal import Role

bp = Blueprint(__name__)


@endpoint(bp, "/health", roles=None)
def health(ctx: Ctx) -> dict[str, Any]:
    return ctx.container.platform.health()


@endpoint(bp, "/metrics", roles=frozenset({Role.PLATFORM}))
def metrics(ctx: Ctx) -> dict[str, Any]:
    assert ctx.principal is not None
    return ctx.container.platform.metrics(ctx.principal)
