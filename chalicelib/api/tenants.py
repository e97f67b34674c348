"""Tenants: registered by the platform operator; readable by their own admins."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._validation import fields, one_of, only_params, text
from chalicelib.domain.principal import Role
from chalicelib.errors import InvalidRequest, NotFound

bp = Blueprint(__name__)

PLATFORM = frozenset({Role.PLATFORM})
PLATFORM_OR_ADMIN = frozenset({Role.PLATFORM, Role.ADMIN})


def _audience(name: str, value: Any) -> str:
    """Audiences are compared exactly (RFC 7519 §4.1.3), so input is taken as is; leading or
    trailing whitespace is refused rather than trimmed, since it is never meant."""
    audience = str(text(256)(name, value))
    if audience != audience.strip():
        raise InvalidRequest(f"{name} must not start or end with whitespace.")
    return audience


@endpoint(bp, "/tenants", methods=["POST"], roles=PLATFORM)
def create_tenant(ctx: Ctx) -> Reply:
    body = fields(ctx.json(), {"name": text(100)}, {"audience": _audience})
    return Reply(ctx.container.tenants.create(ctx.call, body["name"], body["audience"]), 201)


@endpoint(bp, "/tenants", roles=PLATFORM)
def list_tenants(ctx: Ctx) -> dict[str, Any]:
    only_params(ctx.query(), set())
    assert ctx.principal is not None
    return ctx.container.tenants.list(ctx.principal)


@endpoint(bp, "/tenants/{tenant_id}", roles=PLATFORM_OR_ADMIN)
def get_tenant(ctx: Ctx, tenant_id: str) -> dict[str, Any]:
    assert ctx.principal is not None
    return ctx.container.tenants.get(ctx.principal, tenant_id)


@endpoint(bp, "/tenants/{tenant_id}", methods=["PATCH"], roles=PLATFORM)
def update_tenant(ctx: Ctx, tenant_id: str) -> dict[str, Any]:
    body = fields(ctx.json(), {"status": one_of("ACTIVE", "DISABLED")})
    return ctx.container.tenants.set_status(ctx.call, tenant_id, body["status"])


@endpoint(bp, "/tenants/{tenant_id}/stats", roles=PLATFORM_OR_ADMIN)
def tenant_stats(ctx: Ctx, tenant_id: str) -> dict[str, Any]:
    assert ctx.principal is not None
    if len(tenant_id) > 64:
        raise NotFound()
    return ctx.container.tenants.stats(ctx.principal, tenant_id)
