"""Receiving-side policies of the caller's tenant (admins only)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._validation import action_pattern, fields, integer, one_of, only_params, tenant_id
from chalicelib.domain.delegation import (
    DEFAULT_STEPUP_EXPIRY_SECONDS,
    DEFAULT_TTL_SECONDS,
    MAX_STEPUP_EXPIRY_SECONDS,
    MAX_TTL_SECONDS,
    MIN_STEPUP_EXPIRY_SECONDS,
    MIN_TTL_SECONDS,
)
from chalicelib.domain.policy import Effect, Policy
from chalicelib.domain.principal import Role

bp = Blueprint(__name__)

ADMIN = frozenset({Role.ADMIN})


def _requester(name: str, value: Any) -> str | None:
    return None if value is None else str(tenant_id(name, value))


@endpoint(bp, "/policies", methods=["PUT"], roles=ADMIN)
def upsert_policy(ctx: Ctx) -> Reply:
    raw = ctx.json()
    body = fields(
        raw,
        {"action": action_pattern, "effect": one_of(*(e.value for e in Effect))},
        {
            "requesting_tenant_id": _requester,
            "ttl_seconds": integer(MIN_TTL_SECONDS, MAX_TTL_SECONDS),
            "stepup_expiry_seconds": integer(MIN_STEPUP_EXPIRY_SECONDS, MAX_STEPUP_EXPIRY_SECONDS),
        },
    )
    policy = Policy(
        action=body["action"],
        effect=Effect(body["effect"]),
        requesting_tenant_id=body["requesting_tenant_id"],
        ttl_seconds=body["ttl_seconds"] or DEFAULT_TTL_SECONDS,
        stepup_expiry_seconds=body["stepup_expiry_seconds"] or DEFAULT_STEPUP_EXPIRY_SECONDS,
    )
    created, view = ctx.container.policies.upsert(ctx.call, policy)
    return Reply(view, 201 if created else 200)


@endpoint(bp, "/policies", roles=ADMIN)
def list_policies(ctx: Ctx) -> dict[str, Any]:
    only_params(ctx.query(), set())
    return ctx.container.policies.list(ctx.call)


@endpoint(bp, "/policies/{policy_id}", methods=["DELETE"], roles=ADMIN, prefetch=True)
def delete_policy(ctx: Ctx, policy_id: str) -> dict[str, Any]:
    return ctx.container.policies.delete(ctx.call, policy_id)
