"""Step-up: the CIBA backchannel endpoint, the /stepup trio, approve and reject."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import FORM, Ctx, Reply, endpoint
from chalicelib.api._validation import DIGITS, action, fields, integer, one_of, receiving_tenant, text
from chalicelib.auth.authenticator import ClientSecretClaim
from chalicelib.domain.ciba import MAX_BINDING_MESSAGE, MAX_REQUESTED_EXPIRY
from chalicelib.domain.delegation import (
    MAX_TTL_SECONDS,
    MIN_TTL_SECONDS,
)
from chalicelib.domain.principal import Role
from chalicelib.errors import InvalidRequest, UnauthorizedClient
from chalicelib.services.delegations import DelegationRequest

bp = Blueprint(__name__)

AGENT = frozenset({Role.AGENT})
ADMIN = frozenset({Role.ADMIN})
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BC_AUTHORIZE_PARAMS = {
    "scope",
    "login_hint",
    "binding_message",
    "requested_expiry",
    "acr_values",
    "client_id",
    "client_secret",
}


@endpoint(bp, "/stepup/initiate", methods=["POST"], roles=AGENT, prefetch=True)
def initiate(ctx: Ctx) -> Reply:
    body = fields(
        ctx.json(),
        {"receiving_tenant_id": receiving_tenant, "action": action},
        {
            "binding_message": text(MAX_BINDING_MESSAGE),
            "requested_expiry": integer(1, MAX_REQUESTED_EXPIRY),
            "ttl_seconds": integer(MIN_TTL_SECONDS, MAX_TTL_SECONDS),
            "purpose": text(500),
        },
    )
    return Reply(ctx.container.stepup.initiate(ctx.call, DelegationRequest(**body)), headers=NO_STORE)


@endpoint(bp, "/bc-authorize", methods=["POST"], roles=None, content_types=[FORM])
def backchannel_authorize(ctx: Ctx) -> Reply:
    """OpenID CIBA Core §7.1: `scope` carries the action (an `openid` beside it is ignored),
    `login_hint` the receiving tenant; the client authenticates as at the token endpoint."""
    form = ctx.form()
    unknown = sorted(set(form) - BC_AUTHORIZE_PARAMS)
    if unknown:
        raise InvalidRequest(f"Unsupported parameter(s): {', '.join(unknown)}.")
    gate = ctx.client_gate(form)
    refusal = UnauthorizedClient("Only agents start step-up requests.")
    presumed = gate.claim.presumed_agent if isinstance(gate.claim, ClientSecretClaim) else None
    if presumed is not None:  # the decision's read confirms the client (one round trip)
        principal = ctx.principal = gate.expect(presumed, refusal)
    else:  # a client id of the older form: confirm first
        gate.read()
        principal = ctx.principal = gate.principal
    if principal.role is not Role.AGENT:
        raise refusal
    scopes = [s for s in form.get("scope", "").split() if s != "openid"]
    if len(scopes) != 1:
        raise InvalidRequest("scope must name exactly one action (besides an optional openid).")
    if not form.get("login_hint"):
        raise InvalidRequest("login_hint (the receiving tenant id) is required.")
    expiry = form.get("requested_expiry")
    if expiry is not None and not DIGITS.fullmatch(expiry):
        raise InvalidRequest("requested_expiry must be a positive integer.")
    body = fields(
        {
            "receiving_tenant_id": form["login_hint"],
            "action": scopes[0],
            "binding_message": form.get("binding_message"),
            "requested_expiry": int(expiry) if expiry is not None else None,
        },
        {"receiving_tenant_id": receiving_tenant, "action": action},
        {
            "binding_message": text(MAX_BINDING_MESSAGE),
            "requested_expiry": integer(1, MAX_REQUESTED_EXPIRY),
        },
    )
    ack = ctx.container.stepup.initiate(ctx.call, DelegationRequest(**body))
    return Reply({k: ack[k] for k in ("auth_req_id", "expires_in", "interval")}, headers=NO_STORE)


@endpoint(bp, "/stepup/{auth_req_id}/status", roles=AGENT, prefetch=True)
def status(ctx: Ctx, auth_req_id: str) -> Reply:
    return Reply(ctx.container.stepup.status(ctx.call, auth_req_id), headers=NO_STORE)


@endpoint(bp, "/stepup/{auth_req_id}/complete", methods=["POST"], roles=ADMIN, prefetch=True)
def complete(ctx: Ctx, auth_req_id: str) -> dict[str, Any]:
    body = fields(ctx.json(), {"decision": one_of("approve", "reject")}, {"reason": text(500)})
    return ctx.container.stepup.complete(ctx.call, auth_req_id, body["decision"] == "approve", body["reason"])


def _reason(ctx: Ctx) -> str | None:
    if not ctx.request.raw_body:
        return None
    return fields(ctx.json(), {}, {"reason": text(500)})["reason"]


@endpoint(bp, "/delegations/{delegation_id}/approve", methods=["POST"], roles=ADMIN, prefetch=True)
def approve(ctx: Ctx, delegation_id: str) -> dict[str, Any]:
    return ctx.container.stepup.approve(ctx.call, delegation_id, _reason(ctx))


@endpoint(bp, "/delegations/{delegation_id}/reject", methods=["POST"], roles=ADMIN, prefetch=True)
def reject(ctx: Ctx, delegation_id: str) -> dict[str, Any]:
    return ctx.container.stepup.reject(ctx.call, delegation_id, _reason(ctx))
