"""Tenants: registered by the platform operator; readable by their own admins."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._spec import STRING, Answer, enum, links, obj
from chalicelib.api._validation import Check, Fields, Query, one_of, text
from chalicelib.api.users import EMAIL, INVITATION
from chalicelib.domain.principal import Role, TenantScope
from chalicelib.errors import InvalidRequest, NotFound
from chalicelib.store.db import WriteTransaction

bp = Blueprint(__name__)

PLATFORM = frozenset({Role.PLATFORM})
PLATFORM_OR_ADMIN = frozenset({Role.PLATFORM, Role.ADMIN})


def _audience_of(name: str, value: Any) -> str:
    """Audiences are compared exactly (RFC 7519 §4.1.3), so input is taken as is; leading or
    trailing whitespace is refused rather than trimmed, since it is never meant."""
    audience = str(text(256)(name, value))
    if audience != audience.strip():
        raise InvalidRequest(f"{name} must not start or end with whitespace.")
    return audience


_AUDIENCE = text(256)
NEW_TENANT = Fields(
    {"name": text(100)},
    {
        "audience": Check(
            _audience_of,
            {
                **_AUDIENCE.schema,
                "pattern": r"^[^\s\u0000-\u001f\u007f-\u009f\u2028\u2029](?:[^\u0000-\u001f\u007f-\u009f"
                r"\u2028\u2029]*[^\s\u0000-\u001f\u007f-\u009f\u2028\u2029])?$",
                "description": "The `aud` of the tenant's delegation tokens, unique across tenants (default: "
                "urn:vaultguard:tenant:<id>); no leading or trailing whitespace.",
            },
        ),
        "admin_email": EMAIL,
    },
)
STATUS_CHANGE = Fields({"status": one_of("ACTIVE", "DISABLED")})
NO_PARAMS = Query()
TENANT = obj(
    {"tenant_id": STRING, "name": STRING, "status": enum("ACTIVE", "DISABLED"), "created_at": STRING},
    {"audience": STRING},
    title="Tenant",
)
NEW_TENANT_ANSWER = obj(
    {
        **TENANT["properties"],
        "admin": obj(
            {
                "client_id": STRING,
                "client_secret": {**STRING, "description": "Shown in this answer only."},
                "subject": STRING,
            }
        ),
    },
    {"admin_invitation": INVITATION},
    title="NewTenant",
)
TENANTS = obj({"tenants": {"type": "array", "items": TENANT}})
COUNTS = {"type": "object", "description": "Counts by kind (and delegations by status)."}


@endpoint(
    bp,
    "/tenants",
    methods=["POST"],
    roles=PLATFORM,
    body=NEW_TENANT,
    responses={
        201: Answer(
            NEW_TENANT_ANSWER, links=links("tenant_id", "getTenant", "updateTenant", "getTenantStats")
        )
    },
    errors=(409,),  # audience_taken
)
def create_tenant(ctx: Ctx) -> Reply:
    """Register an organisation with its first admin client (the secret is in this answer only)."""
    body = NEW_TENANT(ctx.json())
    call, email, users = ctx.call, body["admin_email"], ctx.container.users

    def first_admin_invitation(tx: WriteTransaction, scope: TenantScope) -> dict[str, Any]:
        return {"admin_invitation": users.add_invitation(tx, call, scope, email, Role.ADMIN)}

    also = first_admin_invitation if email is not None else None
    return Reply(ctx.container.tenants.create(call, body["name"], body["audience"], also=also), 201)


@endpoint(bp, "/tenants", roles=PLATFORM, query=NO_PARAMS, responses={200: TENANTS})
def list_tenants(ctx: Ctx) -> dict[str, Any]:
    NO_PARAMS(ctx.query())
    assert ctx.principal is not None
    return ctx.container.tenants.list(ctx.principal)


@endpoint(bp, "/tenants/{tenant_id}", roles=PLATFORM_OR_ADMIN, responses={200: TENANT})
def get_tenant(ctx: Ctx, tenant_id: str) -> dict[str, Any]:
    assert ctx.principal is not None
    return ctx.container.tenants.get(ctx.principal, tenant_id)


@endpoint(
    bp, "/tenants/{tenant_id}", methods=["PATCH"], roles=PLATFORM, body=STATUS_CHANGE, responses={200: TENANT}
)
def update_tenant(ctx: Ctx, tenant_id: str) -> dict[str, Any]:
    """Enable or disable an organisation."""
    body = STATUS_CHANGE(ctx.json())
    return ctx.container.tenants.set_status(ctx.call, tenant_id, body["status"])


@endpoint(
    bp,
    "/tenants/{tenant_id}/stats",
    roles=PLATFORM_OR_ADMIN,
    responses={200: COUNTS},
    operation_id="getTenantStats",
)
def tenant_stats(ctx: Ctx, tenant_id: str) -> dict[str, Any]:
    assert ctx.principal is not None
    if len(tenant_id) > 64:
        raise NotFound()
    return ctx.container.tenants.stats(ctx.principal, tenant_id)
