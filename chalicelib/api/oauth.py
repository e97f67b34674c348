"""OAuth 2.0 endpoints: token (RFC 6749), introspection (RFC 7662), revocation (RFC 7009)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api._http import FORM, Ctx, Reply, endpoint
from chalicelib.api._validation import token
from chalicelib.auth.authenticator import principal_of
from chalicelib.domain.principal import Principal
from chalicelib.errors import InvalidRequest
from chalicelib.services.call import Call

bp = Blueprint(__name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@endpoint(bp, "/oauth/token", methods=["POST"], roles=None, content_types=[FORM])
def token_endpoint(ctx: Ctx) -> Reply:
    form = ctx.form()
    return Reply(ctx.container.token_endpoint(ctx.call, ctx.headers, form), headers=NO_STORE)


def _caller(ctx: Ctx, form: dict[str, str]) -> Principal:
    """Introspection and revocation take a bearer API token or client authentication."""
    authorization = ctx.headers.get("authorization") or ""
    if authorization.lower().startswith("bearer "):
        return ctx.container.authenticator.bearer(authorization)
    cred = ctx.container.authenticator.client(ctx.headers, form, request_id=ctx.request_id)
    return principal_of(cred)


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
    principal = _caller(ctx, form)
    value = _token_param(form)
    call = Call(principal, ctx.request_id)
    return Reply(ctx.container.verification.verify(call, value), headers=NO_STORE)


@endpoint(bp, "/oauth/revoke", methods=["POST"], roles=None, content_types=[FORM])
def revoke(ctx: Ctx) -> Reply:
    form = ctx.form()
    principal = _caller(ctx, form)
    value = _token_param(form)
    call = Call(principal, ctx.request_id)
    ctx.container.verification.revoke_token(call, value)
    return Reply({}, headers=NO_STORE)
