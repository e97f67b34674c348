"""OAuth 2.0 endpoints: token (RFC 6749), introspection (RFC 7662), revocation (RFC 7009)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api._http import FORM, Ctx, Reply, endpoint
from chalicelib.api._permissions import AUTHENTICATED, Permission
from chalicelib.api._spec import (
    API_TOKEN,
    CLIENT,
    CLIENT_OR_BEARER,
    DELEGATION_TOKEN,
    INTROSPECTION,
    TOKEN_ERROR,
    Answer,
    obj,
)
from chalicelib.api._validation import Check, Fields, Schema, check, token
from chalicelib.auth.authenticator import BearerClaim
from chalicelib.domain.federation import JWT_BEARER, JWT_TOKEN_TYPE
from chalicelib.errors import InvalidRequest, InvalidToken
from chalicelib.services.call import Call
from chalicelib.services.gate import RequestGate
from chalicelib.services.oauth import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE
from chalicelib.store import scoped_credentials
from chalicelib.tokens.rfc7523 import ASSERTION_TYPE

bp = Blueprint(__name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _form(schema: Schema) -> Check:
    return check({"type": "string", **schema})(lambda name, value: value)  # the grant parses it


TOKEN_FORM = Fields(
    {
        "grant_type": _form(
            {
                "enum": [
                    "client_credentials",
                    "urn:openid:params:grant-type:ciba",
                    TOKEN_EXCHANGE,
                    JWT_BEARER,
                ],
                "description": "The grant.",
            }
        )
    },
    {
        "subject_token": _form(
            {
                "description": "Token exchange (RFC 8693): the agent's VaultGuard access token, or "
                "a federated agent's JWT from its trusted issuer."
            }
        ),
        "subject_token_type": _form(
            {"description": f"Token exchange: {ACCESS_TOKEN_TYPE} or {JWT_TOKEN_TYPE}."}
        ),
        "resource": _form({"description": "Token exchange: urn:vaultguard:connection:<connection id>."}),
        "audience": _form({"description": "Federated token exchange: the API audience if given."}),
        "assertion": _form(
            {"description": f"{JWT_BEARER} (RFC 7523 §2.1): a federated agent's JWT from its trusted issuer."}
        ),
        "requested_token_type": _form({"description": f"Token exchange: {ACCESS_TOKEN_TYPE} if given."}),
        "auth_req_id": _form({"description": "The CIBA grant: the auth_req_id of the step-up."}),
        "scope": _form({"description": "Not accepted by client_credentials (API tokens take no scope)."}),
        "client_id": _form(
            {
                "description": "client_secret_post: the client id. Federated agents (jwt-bearer, or token "
                "exchange of a JWT): required, the agent's client id, with no client authentication."
            }
        ),
        "client_secret": _form({"description": "client_secret_post: the client secret."}),
        "client_assertion_type": _form({"description": f"private_key_jwt: {ASSERTION_TYPE}."}),
        "client_assertion": _form(
            {"description": "private_key_jwt (RFC 7523 §2.2): a JWT signed by a key the client registered."}
        ),
    },
)
_CLIENT_FORM = {
    "client_id": TOKEN_FORM.optional["client_id"],
    "client_secret": TOKEN_FORM.optional["client_secret"],
    "client_assertion_type": TOKEN_FORM.optional["client_assertion_type"],
    "client_assertion": TOKEN_FORM.optional["client_assertion"],
}
TOKEN_PARAM_FORM = Fields(
    {"token": token},
    {"token_type_hint": _form({"description": "Accepted and ignored (RFC 7009 §2.1)."}), **_CLIENT_FORM},
)


@endpoint(
    bp,
    "/oauth/token",
    permissions=AUTHENTICATED | {Permission.KMS_SIGN},
    methods=["POST"],
    roles=None,
    auth=CLIENT,
    content_types=[FORM],
    form=TOKEN_FORM,
    form_open=True,
    responses={
        200: Answer({"anyOf": [API_TOKEN, DELEGATION_TOKEN]}, "An access token (RFC 6749 §5.1)."),
        400: Answer(TOKEN_ERROR, "RFC 6749 §5.2 and the CIBA token errors (OpenID CIBA Core §11)."),
    },
    operation_id="requestToken",
)
def token_endpoint(ctx: Ctx) -> Reply:
    """client_credentials (an API token for the client itself), the CIBA grant (poll for an
    approved delegation's token), client_secret_basic, client_secret_post or private_key_jwt; token
    exchange (RFC 8693: the agent's access token for a vault connection's provider token, or a
    federated agent's JWT for an API token); or the JWT bearer grant (RFC 7523: a federated
    agent's JWT for an API token)."""
    form = ctx.form()

    def open_gate(charge: bool) -> RequestGate:
        grant_type = form.get("grant_type")
        if grant_type == JWT_BEARER:
            return _federated_gate(ctx, form.get("assertion") or "", form.get("client_id"))
        if grant_type == TOKEN_EXCHANGE:
            if form.get("subject_token_type") == JWT_TOKEN_TYPE:
                return _federated_gate(ctx, form.get("subject_token") or "", form.get("client_id"))
            return _subject_gate(ctx, form)
        return ctx.client_gate(form, charge=charge)

    return Reply(ctx.container.token_endpoint(ctx.call, form, open_gate), headers=NO_STORE)


def _federated_gate(ctx: Ctx, token: str, client_id: str | None) -> RequestGate:
    """A federated agent's JWT (services/federation.py) with the agent's public client id,
    which names its tenant as a client's does: bound before the read, as client
    authentication is (an id naming no tenant binds nothing and is refused by the read)."""
    gate = ctx.container.federated_tokens.gate(
        token, client_id, source=ctx.source, request_id=ctx.request_id, now=int(ctx.now)
    )
    scoped_credentials.bind_tenant(gate.claim.tenant_id)
    ctx.gate = gate
    return gate


def _subject_gate(ctx: Ctx, form: dict[str, str]) -> RequestGate:
    """Token exchange (RFC 8693): the subject token authenticates the agent exactly as a
    bearer token would (signature, typ, aud, iss, exp, then its credential in the read); a
    bad one is `invalid_request` (§2.2.2)."""
    try:
        claim = ctx.container.authenticator.bearer("Bearer " + (form.get("subject_token") or ""))
    except InvalidToken:
        raise InvalidRequest("subject_token is not a valid VaultGuard access token.") from None
    return ctx.bearer_gate(claim)


def _caller(ctx: Ctx, form: dict[str, str]) -> RequestGate:
    """Introspection and revocation take a bearer API token or client authentication; the
    use case's read confirms it."""
    authorization = ctx.headers.get("authorization") or ""
    if authorization.lower().startswith(("bearer ", "dpop ")):
        return ctx.bearer_gate(ctx.bearer_claim())
    return ctx.client_gate(form)


def _token_param(form: dict[str, str]) -> str:
    unknown = set(form) - TOKEN_PARAM_FORM.names
    if unknown:
        raise InvalidRequest(f"Unknown parameter(s): {', '.join(sorted(unknown))}.")
    if "token" not in form:
        raise InvalidRequest("token is required.")
    return str(token("token", form["token"]))


@endpoint(
    bp,
    "/oauth/introspect",
    methods=["POST"],
    roles=None,
    auth=CLIENT_OR_BEARER,
    content_types=[FORM],
    form=TOKEN_PARAM_FORM,
    responses={200: INTROSPECTION},
    operation_id="introspectToken",
)
def introspect(ctx: Ctx) -> Reply:
    """RFC 7662: whether a delegation token is live (signature, registry, revocation)."""
    form = ctx.form()
    value = _token_param(form)
    gate = _caller(ctx, form)
    principal = None  # a client id and secret: known once the use case's read confirms them
    if isinstance(gate.claim, BearerClaim):
        principal = gate.claim.principal  # confirmed by the use case's read
    elif gate.claim.tenant_id is None:  # no tenant to read in (the platform's, or unknown)
        gate.read()
        principal = gate.principal
    call = Call(principal, ctx.request_id, ctx.now, gate)
    return Reply(ctx.container.verification.verify(call, value), headers=NO_STORE)


@endpoint(
    bp,
    "/oauth/revoke",
    methods=["POST"],
    roles=None,
    auth=CLIENT_OR_BEARER,
    content_types=[FORM],
    form=TOKEN_PARAM_FORM,
    responses={200: obj({})},
    operation_id="revokeToken",
)
def revoke(ctx: Ctx) -> Reply:
    """RFC 7009: 200 whatever the token was; revoked when the caller may revoke it."""
    form = ctx.form()
    value = _token_param(form)
    gate = _caller(ctx, form)
    gate.read()
    call = Call(gate.principal, ctx.request_id, ctx.now, gate)
    ctx.container.verification.revoke_token(call, value)
    return Reply({}, headers=NO_STORE)
