"""Step-up: the CIBA backchannel endpoint, the /stepup trio, approve and reject."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import FORM, Ctx, Reply, endpoint
from chalicelib.api._permissions import AUTHENTICATED, Permission
from chalicelib.api._spec import CLIENT, DELEGATION, INTEGER, STRING, Answer, enum, links, obj
from chalicelib.api._validation import (
    DIGITS,
    Check,
    Fields,
    Schema,
    action,
    check,
    fields,
    integer,
    one_of,
    receiving_tenant,
    text,
)
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
DECIDERS = frozenset({Role.ADMIN, Role.APPROVER})  # admins and approvers decide step-up requests
APPROVAL_PAGE = "/dashboard/"  # where a person who must sign in again comes back to
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
INITIATE = Fields(
    {"receiving_tenant_id": receiving_tenant, "action": action},
    {
        "binding_message": text(MAX_BINDING_MESSAGE),
        "requested_expiry": integer(1, MAX_REQUESTED_EXPIRY),
        "ttl_seconds": integer(MIN_TTL_SECONDS, MAX_TTL_SECONDS),
        "purpose": text(500),
    },
)
ACKNOWLEDGED = obj(
    {"auth_req_id": STRING, "expires_in": INTEGER, "interval": INTEGER},
    title="BackchannelAuthentication",
    description="OpenID CIBA Core §7.3; poll POST /oauth/token with the auth_req_id.",
)
INITIATED = obj({**ACKNOWLEDGED["properties"], "delegation_id": STRING}, title="StepUpInitiated")
INITIATED_LINKS = {
    **links("auth_req_id", "getStepUpStatus", "completeStepUp"),
    **links("delegation_id", "approveDelegation"),
}
STEPUP_STATUS = obj(
    {
        "auth_req_id": STRING,
        "delegation_id": STRING,
        "status": enum("PENDING", "APPROVED", "REJECTED", "EXPIRED"),
        "expires_in": INTEGER,
        "interval": INTEGER,
    },
    title="StepUpStatus",
)
DECISION = Fields({"decision": one_of("approve", "reject")}, {"reason": text(500)})
REASON = Fields({}, {"reason": text(500)})


def _form_text(max_length: int, description: str, *examples: str) -> Check:
    schema: Schema = {"type": "string", "maxLength": max_length, "description": description}
    return check({**schema, "examples": list(examples)} if examples else schema)(
        lambda name, value: value  # parsed below, where the form is mapped to a request
    )


BC_AUTHORIZE_FORM = Fields(
    {
        "scope": _form_text(
            1024, "The action to delegate (an `openid` beside it is ignored).", "requisition.submit"
        ),
        "login_hint": _form_text(64, "The receiving tenant's id.", *receiving_tenant.schema["examples"]),
    },
    {
        "binding_message": _form_text(MAX_BINDING_MESSAGE, "Shown to the approver."),
        "requested_expiry": check(
            {"type": "string", "pattern": "^[0-9]{1,9}$", "description": "Seconds (a positive integer)."}
        )(lambda name, value: value),
        "acr_values": _form_text(1024, "Accepted and ignored."),
        "client_id": _form_text(256, "client_secret_post: the client id."),
        "client_secret": _form_text(256, "client_secret_post: the client secret."),
        "client_assertion_type": _form_text(256, "private_key_jwt: the JWT bearer assertion type."),
        "client_assertion": _form_text(8192, "private_key_jwt (RFC 7523 §2.2): the client assertion."),
    },
)
BC_AUTHORIZE_PARAMS = BC_AUTHORIZE_FORM.names


@endpoint(
    bp,
    "/stepup/initiate",
    permissions=AUTHENTICATED | {Permission.KMS_SIGN},
    methods=["POST"],
    roles=AGENT,
    prefetch=True,
    body=INITIATE,
    responses={200: Answer(INITIATED, links=INITIATED_LINKS)},
    errors=(409,),
    operation_id="initiateStepUp",
)
def initiate(ctx: Ctx) -> Reply:
    """Start a step-up request whatever the policy says it would be (CIBA-compatible)."""
    body = INITIATE(ctx.json())
    return Reply(ctx.container.stepup.initiate(ctx.call, _request(ctx, body)), headers=NO_STORE)


@endpoint(
    bp,
    "/bc-authorize",
    permissions=AUTHENTICATED | {Permission.KMS_SIGN},
    methods=["POST"],
    roles=None,
    auth=CLIENT,
    content_types=[FORM],
    form=BC_AUTHORIZE_FORM,
    responses={200: ACKNOWLEDGED},
    errors=(403,),
    operation_id="backchannelAuthorize",
)
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
    ack = ctx.container.stepup.initiate(ctx.call, _request(ctx, body))
    return Reply({k: ack[k] for k in ("auth_req_id", "expires_in", "interval")}, headers=NO_STORE)


@endpoint(
    bp,
    "/stepup/{auth_req_id}/status",
    permissions=AUTHENTICATED | {Permission.KMS_SIGN},
    roles=AGENT,
    prefetch=True,
    responses={200: STEPUP_STATUS},
    operation_id="getStepUpStatus",
)
def status(ctx: Ctx, auth_req_id: str) -> Reply:
    return Reply(ctx.container.stepup.status(ctx.call, auth_req_id), headers=NO_STORE)


@endpoint(
    bp,
    "/stepup/{auth_req_id}/complete",
    permissions=AUTHENTICATED | {Permission.KMS_SIGN},  # the approval issues the signed token
    methods=["POST"],
    roles=DECIDERS,
    prefetch=True,
    body=DECISION,
    responses={200: DELEGATION},
    errors=(409,),
    operation_id="completeStepUp",
)
def complete(ctx: Ctx, auth_req_id: str) -> dict[str, Any]:
    ctx.require_recent_sign_in(APPROVAL_PAGE)
    body = DECISION(ctx.json())
    return ctx.container.stepup.complete(ctx.call, auth_req_id, body["decision"] == "approve", body["reason"])


def _reason(ctx: Ctx) -> str | None:
    if not ctx.request.raw_body:
        return None
    return REASON(ctx.json())["reason"]


@endpoint(
    bp,
    "/delegations/{delegation_id}/approve",
    permissions=AUTHENTICATED | {Permission.KMS_SIGN},  # the approval issues the signed token
    methods=["POST"],
    roles=DECIDERS,
    prefetch=True,
    body=REASON,
    responses={200: DELEGATION},
    errors=(409,),
    operation_id="approveDelegation",
)
def approve(ctx: Ctx, delegation_id: str) -> dict[str, Any]:
    ctx.require_recent_sign_in(APPROVAL_PAGE)
    return ctx.container.stepup.approve(ctx.call, delegation_id, _reason(ctx))


@endpoint(
    bp,
    "/delegations/{delegation_id}/reject",
    methods=["POST"],
    roles=DECIDERS,
    prefetch=True,
    body=REASON,
    responses={200: DELEGATION},
    errors=(409,),
    operation_id="rejectDelegation",
)
def reject(ctx: Ctx, delegation_id: str) -> dict[str, Any]:
    ctx.require_recent_sign_in(APPROVAL_PAGE)
    return ctx.container.stepup.reject(ctx.call, delegation_id, _reason(ctx))


def _request(ctx: Ctx, body: dict[str, Any]) -> DelegationRequest:
    """A DPoP proof with the request binds the delegation to its key (RFC 9449); the poll
    must then prove the same key."""
    assert ctx.gate is not None
    return DelegationRequest(**body, dpop_jkt=ctx.gate.dpop_binding())
