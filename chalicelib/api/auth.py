"""People's sign-in (OIDC, backend-for-frontend): login, callback, session, logout.

The browser only ever holds HttpOnly cookies: a pre-login cookie while it is at the identity
provider, then `__Host-vg_session`. `GET /auth/session` tells the dashboard who is signed in
and the CSRF token its writes must carry.
"""

from __future__ import annotations

import html

from chalice import Blueprint

from chalicelib.api._http import FORM, Ctx, Reply, endpoint
from chalicelib.api._spec import BOOLEAN, INTEGER, STRING, TIMESTAMP, Answer, enum, maybe, obj
from chalicelib.api._validation import Fields, Query, one_of, text
from chalicelib.auth.session import LOGIN_COOKIE, SESSION_COOKIE, clear_cookie, cookie_value, origin_of
from chalicelib.domain.principal import PERSON_ROLES
from chalicelib.errors import CsrfFailed, NotSignedIn
from chalicelib.services.call import iso
from chalicelib.services.signin import REGISTER_COOKIE, SignInFailed

bp = Blueprint(__name__)

HTML = "text/html; charset=utf-8"
LOGIN_QUERY = Query({"return_to": text(512), "invitation": text(128), "reauth": one_of("1")})
CALLBACK_QUERY = Query(
    {
        "code": text(2048),
        "state": text(256),
        "iss": text(512),
        "error": text(256),
        "error_description": text(1024),
        "error_uri": text(1024),
        "session_state": text(512),
    }
)
NO_PARAMS = Query()
SESSION = obj(
    {
        "user_id": STRING,
        "email": STRING,
        "name": maybe(STRING),
        "tenant_id": maybe(STRING),
        "tenant_name": maybe(STRING),
        "role": enum(*sorted(r.value for r in PERSON_ROLES)),
        "expires_at": TIMESTAMP,
        "idle_timeout_seconds": INTEGER,
        "csrf_token": {**STRING, "description": "Send it as X-CSRF-Token with every write."},
    },
    title="Session",
)
SIGNED_OUT = obj({"signed_out": BOOLEAN, "end_session_url": maybe(STRING)})
REDIRECT = Answer(
    None,
    "To the identity provider, or back to the page the sign-in started from.",
    headers=("Location", "Set-Cookie"),
)
FAILURE_PAGE = Answer({"type": "string"}, "A page saying why; no session.", media_type="text/html")


def _page(title: str, message: str, login_url: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}</h1>"
        f'<p>{html.escape(message)}</p><p><a href="{html.escape(login_url)}">Sign in again</a></p>'
        "</main></body></html>"
    )


@endpoint(bp, "/auth/login", roles=None, query=LOGIN_QUERY, responses={302: REDIRECT}, operation_id="signIn")
def sign_in(ctx: Ctx) -> Reply:
    query = LOGIN_QUERY(ctx.query())
    redirect = ctx.container.sign_in.begin(
        return_to=query["return_to"],
        invitation=query["invitation"],
        reauth=query["reauth"] == "1",
        now=int(ctx.now),
    )
    return Reply("", 302, {"Location": redirect.location, "Set-Cookie": list(redirect.cookies)})


@endpoint(
    bp,
    "/auth/callback",
    roles=None,
    query=CALLBACK_QUERY,
    responses={302: REDIRECT, 400: FAILURE_PAGE, 403: FAILURE_PAGE},
    operation_id="signInCallback",
)
def sign_in_callback(ctx: Ctx) -> Reply:
    query = CALLBACK_QUERY(ctx.query())
    service = ctx.container.sign_in
    try:
        redirect = service.finish(
            login_cookie=cookie_value(ctx.headers, LOGIN_COOKIE),
            state=query["state"],
            code=query["code"],
            iss=query["iss"],
            error=query["error"],
            request_id=ctx.request_id,
            now=ctx.now,
        )
    except SignInFailed as exc:
        page = _page("Not signed in", exc.description, service.login_url("/dashboard/"))
        return Reply(page, exc.status_code, {"Content-Type": HTML, "Set-Cookie": clear_cookie(LOGIN_COOKIE)})
    return Reply("", 302, {"Location": redirect.location, "Set-Cookie": list(redirect.cookies)})


@endpoint(
    bp,
    "/auth/session",
    roles=PERSON_ROLES,
    query=NO_PARAMS,
    responses={200: SESSION},
    operation_id="getSession",
)
def get_session(ctx: Ctx) -> Reply:
    NO_PARAMS(ctx.query())
    claim = ctx.session_claim
    if claim is None or claim.session is None or claim.user is None:
        raise NotSignedIn()  # a machine's bearer token has no session
    user, tenant = claim.user, claim.tenant
    body = {
        "user_id": user.user_id,
        "email": user.email,
        "name": user.name,
        "tenant_id": claim.tenant_id,
        "tenant_name": tenant.name if tenant is not None else None,
        "role": user.role,
        "expires_at": iso(claim.expires_at),
        "idle_timeout_seconds": claim.idle_seconds,
        "csrf_token": ctx.container.sessions.csrf_token(claim.secret),
    }
    return Reply(body, headers={"Cache-Control": "no-store"})  # the CSRF token: kept nowhere


@endpoint(
    bp,
    "/auth/logout",
    methods=["POST"],
    roles=None,
    query=NO_PARAMS,
    responses={200: SIGNED_OUT},
    operation_id="signOut",
)
def sign_out(ctx: Ctx) -> Reply:
    """Ends the session server-side (with its CSRF token) and clears the cookie; signing out
    without a live session just clears it."""
    NO_PARAMS(ctx.query())
    end_session_url = None
    if cookie_value(ctx.headers, SESSION_COOKIE) is not None:
        try:
            ctx.session_gate()
            ctx.confirm_session()
            assert ctx.session_claim is not None
            end_session_url = ctx.container.sign_in.sign_out(ctx.call, ctx.session_claim)
        except NotSignedIn:
            pass
    body = {"signed_out": True, "end_session_url": end_session_url}
    return Reply(body, 200, {"Set-Cookie": clear_cookie(SESSION_COOKIE)})


# -- self-registration (VAULTGUARD_SELF_SIGNUP) ---------------------------------------------------

REGISTRATION = Fields({"organisation": text(100)})
REGISTER_PAGE = Answer(
    {"type": "string"}, "The form that names the new organisation.", media_type="text/html"
)


def _register_form(email: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Create your organisation</title>"
        "</head><body><main><h1>Create your organisation</h1>"
        f"<p>You are signed in as {html.escape(email)}, and no organisation on VaultGuard has invited you. "
        "Create one and become its administrator:</p>"
        '<form method="post" action="/auth/register">'
        '<label for="organisation">Organisation name</label> '
        '<input id="organisation" name="organisation" required maxlength="100"> '
        '<button type="submit">Create organisation</button></form></main></body></html>'
    )


@endpoint(
    bp,
    "/auth/register",
    roles=None,
    query=NO_PARAMS,
    responses={200: REGISTER_PAGE, 400: FAILURE_PAGE},
    operation_id="registrationForm",
)
def registration_form(ctx: Ctx) -> Reply:
    NO_PARAMS(ctx.query())
    service = ctx.container.sign_in
    pending = service.pending_registration(cookie_value(ctx.headers, REGISTER_COOKIE), ctx.now)
    if pending is None:
        page = _page(
            "Not signed in", "This registration expired or was already used.", service.login_url("/")
        )
        return Reply(page, 400, {"Content-Type": HTML})
    return Reply(_register_form(pending.email), 200, {"Content-Type": HTML})


@endpoint(
    bp,
    "/auth/register",
    methods=["POST"],
    roles=None,
    content_types=[FORM],
    form=REGISTRATION,
    responses={303: REDIRECT, 400: FAILURE_PAGE, 403: FAILURE_PAGE},
    operation_id="register",
)
def register(ctx: Ctx) -> Reply:
    """Create the organisation named in the form, with the signed-in person as its admin."""
    service = ctx.container.sign_in
    if ctx.headers.get("origin") != origin_of(ctx.container.settings.public_url):
        raise CsrfFailed()
    organisation = REGISTRATION(ctx.form())["organisation"]
    try:
        redirect = service.register(
            cookie=cookie_value(ctx.headers, REGISTER_COOKIE),
            organisation=organisation,
            request_id=ctx.request_id,
            now=ctx.now,
            tenants=ctx.container.tenants,
        )
    except SignInFailed as exc:
        page = _page("Not registered", exc.description, service.login_url("/dashboard/"))
        return Reply(page, exc.status_code, {"Content-Type": HTML})
    return Reply("", 303, {"Location": redirect.location, "Set-Cookie": list(redirect.cookies)})
