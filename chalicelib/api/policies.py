"""Receiving-side policies of the caller's tenant (admins only)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._spec import BOOLEAN, INTEGER, STRING, Answer, enum, links, maybe, obj
from chalicelib.api._validation import (
    Check,
    Fields,
    Query,
    action,
    action_pattern,
    check,
    integer,
    nullable,
    one_of,
    tenant_id,
)
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
from chalicelib.errors import InvalidRequest

bp = Blueprint(__name__)

ADMIN = frozenset({Role.ADMIN})


def _requester(name: str, value: Any) -> str | None:
    return None if value is None else str(tenant_id(name, value))


@check(
    {
        "type": "boolean",
        "description": "Delegations under this policy must be bound to the agent's key (DPoP, "
        "RFC 9449): a request without a DPoP proof is refused (400 invalid_dpop_proof). Default false.",
    }
)
def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be true or false.")
    return value


NEW_POLICY = Fields(
    {"action": action_pattern, "effect": one_of(*(e.value for e in Effect))},
    {
        "requesting_tenant_id": Check(
            _requester,
            {**nullable(tenant_id.schema), "description": "The requesting tenant; absent or null: any."},
        ),
        "ttl_seconds": integer(MIN_TTL_SECONDS, MAX_TTL_SECONDS),
        "stepup_expiry_seconds": integer(MIN_STEPUP_EXPIRY_SECONDS, MAX_STEPUP_EXPIRY_SECONDS),
        "require_dpop": flag,
    },
)
NO_PARAMS = Query()
POLICY = obj(
    {
        "policy_id": STRING,
        "action": STRING,
        "effect": enum(*(e.value for e in Effect)),
        "requesting_tenant_id": maybe(STRING),
        "ttl_seconds": INTEGER,
        "stepup_expiry_seconds": INTEGER,
        "require_dpop": BOOLEAN,
        "created_at": STRING,
        "updated_at": maybe(STRING),
    },
    title="Policy",
)
EVALUATION = Fields(
    {
        "requesting_tenant_id": Check(
            tenant_id, {**tenant_id.schema, "description": "The tenant whose request is simulated."}
        ),
        "action": action,
    }
)
EVALUATED = obj(
    {
        "decision": enum(*(e.value for e in Effect)),
        "policy": {
            "anyOf": [POLICY, {"type": "null"}],
            "description": "The deciding policy; null: none matches (BLOCK).",
        },
        "explanation": STRING,
    },
    title="PolicyEvaluation",
)
DELETED = obj({"policy_id": STRING, "deleted": BOOLEAN}, title="PolicyDeleted")
POLICIES = obj({"policies": {"type": "array", "items": POLICY}})


@endpoint(
    bp,
    "/policies",
    methods=["PUT"],
    roles=ADMIN,
    body=NEW_POLICY,
    responses={
        200: Answer(POLICY, links=links("policy_id", "deletePolicy")),
        201: Answer(POLICY, links=links("policy_id", "deletePolicy")),
    },
)
def upsert_policy(ctx: Ctx) -> Reply:
    """Create or replace the policy for (action, requesting tenant): 201 when it is new."""
    body = NEW_POLICY(ctx.json())
    policy = Policy(
        action=body["action"],
        effect=Effect(body["effect"]),
        requesting_tenant_id=body["requesting_tenant_id"],
        ttl_seconds=body["ttl_seconds"] or DEFAULT_TTL_SECONDS,
        stepup_expiry_seconds=body["stepup_expiry_seconds"] or DEFAULT_STEPUP_EXPIRY_SECONDS,
        require_dpop=bool(body["require_dpop"]),
    )
    created, view = ctx.container.policies.upsert(ctx.call, policy)
    return Reply(view, 201 if created else 200)


@endpoint(bp, "/policies", roles=ADMIN, query=NO_PARAMS, responses={200: POLICIES})
def list_policies(ctx: Ctx) -> dict[str, Any]:
    NO_PARAMS(ctx.query())
    return ctx.container.policies.list(ctx.call)


@endpoint(
    bp,
    "/policies/evaluate",
    methods=["POST"],
    roles=ADMIN,
    prefetch=True,
    body=EVALUATION,
    responses={200: EVALUATED},
)
def evaluate_policies(ctx: Ctx) -> dict[str, Any]:
    """A dry run: the decision a delegation request by `requesting_tenant_id` for `action`
    would get from the caller's policies, and the policy that decides it. Creates nothing."""
    body = EVALUATION(ctx.json())
    return ctx.container.policies.evaluate(ctx.call, body["requesting_tenant_id"], body["action"])


@endpoint(
    bp, "/policies/{policy_id}", methods=["DELETE"], roles=ADMIN, prefetch=True, responses={200: DELETED}
)
def delete_policy(ctx: Ctx, policy_id: str) -> dict[str, Any]:
    return ctx.container.policies.delete(ctx.call, policy_id)
