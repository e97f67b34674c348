"""OAuth 2.0 endpoints: token (RFC 6749), introspection (RFC 7662), revocation (RFC 7009)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api._http import FORM, Ctx, Reply, endpoint
from chalicelib.api._validation import token
from chalicelib.auth.authenticator import BearerClaim
from chalicelib.errors import InvalidRequest
from chalicelib.services.call import Call
from chalicelib.services.gate import RequestGate

bp = Blueprint(__name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@endpoint(bp, "/oauth/token", methods=["POST"], roles=None, content_types=[FORM])
def token_endpoint(ctx: Ctx) -> Reply:
    form = ctx.form()

    def open_gate(charge: bool) -> RequestGate:
        return ctx.client_gate(form, charge=charge)

    return Reply(ctx.container.token_endpoint(ctx.call, form, open_gate), headers=NO_STORE)


def _caller(ctx: Ctx, form: dict[str, str]) -> RequestGate:
    """Introspection and revocation take a bearer API token or client authentication; the
    use case's read confirms it."""
    authorization = ctx.headers.get("authorization") or ""
    if authorization.lower().startswith("bearer "):
        return ctx.bearer_gate(ctx.container.authenticator.bearer(authorization))
    return ctx.client_gate(form)


def _token_param(form: dict[str, str]) -> str:
    unknown = set(form) - {"token", "token_type_hint", "client_id", "client_secret"}
    if unknown:
        raise InvalidRequest(f"Unknown parameter(s): {', '.join(sorted(unknown))}.")
    if "token" not in form:
        raise InvalidRequest("token is required.")
    return str(token("token", form["token"]))


@endpoint(bp, "/oauth/introspect", methods=["POST"], roles=None, content_types=[FORM])
def introspect(ctx: Ctx) -> Reply:
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


@endpoint(bp, "/oauth/revoke", methods=["POST"], roles=None, content_types=[FORM])
def revoke(ctx: Ctx) -> Reply:
    form = ctx.form()
    value = _token_param(form)
    gate = _caller(ctx, form)
    gate.read()
    call = Call(gate.principal, ctx.request_id, ctx.now, gate)
    ctx.container.verification.revoke_token(call, value)
    return Reply({}, headers=NO_STORE)
