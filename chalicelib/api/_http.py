"""The one wrapper every route goes through: authentication, role check, body parsing,
and the mapping of every error to the single JSON error shape.

Chalice middleware never sees exceptions raised in a view, so the mapping lives here. What
API Gateway answers itself (an unknown route, a throttled call) is rendered from the same
errors and headers by `gateway_responses`, and the local server (`chalicelib.local`) answers
the same way.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api import _cors, _permissions
from chalicelib.api._context import REQUEST_ID_HEADER, current_request_id
from chalicelib.api._middleware import SECURITY_HEADERS
from chalicelib.api._spec import BEARER, PUBLIC, Answer, Operation, answers, camel, declare
from chalicelib.api._validation import Check, Fields, Query, Schema
from chalicelib.auth.authenticator import BearerClaim, DPoPEvidence
from chalicelib.auth.session import SESSION_COOKIE, SessionClaim, cookie_value
from chalicelib.domain.principal import Principal, Role
from chalicelib.errors import (
    Forbidden,
    InvalidClient,
    InvalidDPoPProof,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ReauthRequired,
    ServiceUnavailable,
    UnsupportedMediaType,
    VaultGuardError,
)
from chalicelib.observability import logger
from chalicelib.services.call import Call
from chalicelib.services.container import Container, get_container
from chalicelib.services.gate import RequestGate
from chalicelib.services.ratelimit import begin_request, defer_write
from chalicelib.store import scoped_credentials
from chalicelib.tokens.dpop import DPoPRejected

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
ANY_ROLE = frozenset(Role)
UNKNOWN_ROUTE = "No route matches the request's method and path."
REST_API = {"Ref": "RestAPI"}  # the REST API's logical id in `chalice package` output


@dataclass
class Reply:
    body: Any
    status_code: int = 200
    headers: Mapping[str, str | list[str]] = field(default_factory=dict)  # a list: one header per value


@dataclass
class Ctx:
    """What a route handler gets: the caller, the parsed request and the services."""

    request: Request
    principal: Principal | None  # on a `prefetch` route: verified, confirmed by the first read
    container: Container
    request_id: str
    gate: RequestGate | None = None
    session_claim: SessionClaim | None = None  # a person signed in through the IdP
    now: float = field(default_factory=lambda: time.time())  # patchable in tests

    @property
    def call(self) -> Call:
        return Call(self.principal, self.request_id, self.now, self.gate)

    @property
    def source(self) -> str:
        """The caller's address: API Gateway's source IP, or the first address of the
        configured header when a proxy (CloudFront) stands in front."""
        header = self.container.settings.client_ip_header
        if header:
            forwarded = (self.headers.get(header) or "").split(",")[0].strip()
            if forwarded:
                return forwarded[:64]
        identity = (self.request.context or {}).get("identity") or {}
        return str(identity.get("sourceIp") or "unknown")[:64]

    def client_gate(self, form: Mapping[str, str], *, charge: bool = True) -> RequestGate:
        """A gate for client authentication (RFC 6749 §2.3.1), charged to the client's write
        budget unless `charge` is False (CIBA polls: `slow_down` governs them)."""
        container = self.container
        claim = container.authenticator.client(
            self.headers, form, source=self.source, request_id=self.request_id, now=int(self.now)
        )
        scoped_credentials.bind_tenant(claim.tenant_id)
        charges = (
            [
                container.rate_limiter.client_charge_for(
                    claim.tenant_id, claim.client_id, write=True, now=int(self.now)
                )
            ]
            if charge
            else []
        )
        self.gate = RequestGate(container.batch_reader, container.rate_limiter, claim, charges, int(self.now))
        if self.headers.get("dpop"):  # RFC 9449 §5: a token request's proof, binding what it issues
            try:
                self.gate.dpop = self.dpop_evidence().verify()
            except DPoPRejected as exc:
                raise InvalidDPoPProof(f"The DPoP proof was refused ({exc.reason}).") from None
        return self.gate

    def dpop_evidence(self) -> DPoPEvidence:
        """The request's `DPoP` header with the method and URI its proof must name: the
        issuer's origin and the route's path with its parameters (what the client called)."""
        path = self.request.path
        for name, value in (self.request.uri_params or {}).items():
            path = path.replace("{" + name + "}", quote(value, safe=""))
        url = self.container.settings.issuer + path
        return DPoPEvidence(self.headers.get("dpop"), self.request.method, url, self.now)

    def bearer_claim(self) -> BearerClaim:
        """The request's `Authorization: Bearer` (or `DPoP` with its proof) API token."""
        return self.container.authenticator.bearer(self.headers.get("authorization"), self.dpop_evidence())

    def session_gate(self) -> RequestGate:
        """A gate for a person's session cookie: the CSRF check first (no read for a forged
        write), then the session, person and tenant in the request's first batched read."""
        container = self.container
        sessions = container.sessions
        claim = sessions.claim(cookie_value(self.headers, SESSION_COOKIE), int(self.now))
        scoped_credentials.bind_tenant(claim.tenant_id)
        sessions.check_csrf(self.request.method, self.headers, claim.secret)
        write = self.request.method not in ("GET", "HEAD")
        limiter = container.rate_limiter
        charge = limiter.session_charge(claim.tenant_id, claim.user_id, write=write, now=int(self.now))
        self.gate = RequestGate(container.batch_reader, limiter, claim, [charge], int(self.now))
        self.session_claim = claim
        return self.gate

    def confirm_session(self) -> Principal:
        """Read and confirm the session (one round trip); keep its last activity current."""
        assert self.gate is not None and self.session_claim is not None
        self.gate.read()
        self.principal = self.gate.principal
        claim, people, now = self.session_claim, self.container.people_repo, int(self.now)
        if claim.needs_touch and claim.session is not None:
            session = claim.session
            defer_write(lambda tx: people.touch_session(tx, session, now))
        return self.principal

    def require_recent_sign_in(self, return_to: str) -> None:
        """A decision by a person needs a sign-in no older than the approval maximum age;
        else 401 `reauth_required` with a login URL that forces re-authentication."""
        claim = self.session_claim
        if claim is None or claim.session is None:
            return  # a machine's bearer token: no person, no sign-in age
        if int(self.now) - int(claim.session.auth_time) > self.container.settings.approval_max_age_seconds:
            raise ReauthRequired(self.container.sign_in.login_url(return_to, reauth=True))

    def bearer_gate(self, claim: BearerClaim) -> RequestGate:
        scoped_credentials.bind_tenant(claim.tenant_id)
        container = self.container
        write = self.request.method not in ("GET", "HEAD")
        charge = container.rate_limiter.client_charge(claim.principal, write=write, now=int(self.now))
        limiter = container.rate_limiter
        self.gate = RequestGate(container.batch_reader, limiter, claim, [charge], int(self.now))
        self.principal = claim.principal
        return self.gate

    @property
    def headers(self) -> Mapping[str, str]:
        return self.request.headers

    def query(self) -> dict[str, str]:
        return dict(self.request.query_params or {})

    def multi_query(self, name: str) -> list[str]:
        params = self.request.query_params
        return list(params.getlist(name)) if params is not None and name in params else []

    def _raw(self) -> bytes:
        raw = self.request.raw_body or b""
        if isinstance(raw, str):
            raw = raw.encode()
        if len(raw) > self.container.settings.max_body_bytes:
            raise PayloadTooLarge(f"The request body exceeds {self.container.settings.max_body_bytes} bytes.")
        return raw

    def json(self) -> dict[str, Any]:
        """The body as a JSON object: duplicate keys, NaN and non-objects are refused."""
        raw = self._raw()
        ctype = (self.headers.get("content-type") or JSON).split(";")[0].strip().lower()
        if ctype != JSON:
            raise UnsupportedMediaType("Send the body as application/json.")
        if not raw.strip():
            raise InvalidRequest("A JSON object body is required.")
        try:
            body = json.loads(
                raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants
            )
            # "\ud800" escapes decode to lone surrogates, which no store can hold.
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except RecursionError:
            raise InvalidRequest("The body is nested too deeply.") from None
        except (UnicodeError, ValueError) as exc:
            raise InvalidRequest(f"The body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise InvalidRequest("The body must be a JSON object.")
        return body

    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body; a repeated parameter is refused
        (RFC 6749 §3.2)."""
        raw = self._raw()
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("The form body is malformed.") from None
        out: dict[str, str] = {}
        for key, value in pairs:
            if key in out:
                raise InvalidRequest(f"Parameter {key!r} is repeated.")
            out[key] = value
        return out


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def error_response(error: VaultGuardError, request_id: str) -> Response:
    headers: dict[str, str | list[str]] = {"Content-Type": JSON, **error.headers}
    return Response(body=error.body(request_id), status_code=error.status_code, headers=headers)


def response_headers(request_id: str) -> dict[str, str]:
    """What every response carries besides its own headers (the middleware adds the same)."""
    return {REQUEST_ID_HEADER: request_id, **SECURITY_HEADERS, "Cache-Control": "no-store"}


def route_not_found() -> NotFound:
    return NotFound(UNKNOWN_ROUTE)


def _gateway_errors() -> dict[str, VaultGuardError]:
    """What each API Gateway response type answers; DEFAULT_* keep API Gateway's status."""
    not_found = route_not_found()
    return {
        "DEFAULT_4XX": InvalidRequest(),
        "DEFAULT_5XX": VaultGuardError(),
        # An unknown path, or a method the path lacks: API Gateway's 403 "Missing
        # Authentication Token" (with an Authorization header it talks about SigV4 instead).
        "MISSING_AUTHENTICATION_TOKEN": not_found,
        "INVALID_SIGNATURE": not_found,  # no route uses IAM auth, so: an unknown route
        "RESOURCE_NOT_FOUND": not_found,
        "BAD_REQUEST_BODY": InvalidRequest(),
        "BAD_REQUEST_PARAMETERS": InvalidRequest(),
        "REQUEST_TOO_LARGE": PayloadTooLarge(),
        "UNSUPPORTED_MEDIA_TYPE": UnsupportedMediaType(),
        "THROTTLED": RateLimited(1),
        "QUOTA_EXCEEDED": RateLimited(60),
        "INTEGRATION_FAILURE": ServiceUnavailable(),
        "INTEGRATION_TIMEOUT": ServiceUnavailable(),
    }


def gateway_responses(rest_api_id: Any = None) -> dict[str, dict[str, Any]]:
    """The `AWS::ApiGateway::GatewayResponse` properties, by response type, that make API
    Gateway's own answers (unknown route, throttling, integration failure) carry the error
    shape, x-request-id (API Gateway's request id) and the security headers.

    `rest_api_id` defaults to the REST API of `chalice package`'s template.
    """
    out: dict[str, dict[str, Any]] = {}
    for response_type, error in _gateway_errors().items():
        static = {**error.headers, **response_headers("")}
        parameters = {f"gatewayresponse.header.{name}": f"'{value}'" for name, value in static.items()}
        parameters[f"gatewayresponse.header.{REQUEST_ID_HEADER}"] = "context.requestId"
        properties: dict[str, Any] = {
            "RestApiId": dict(REST_API) if rest_api_id is None else rest_api_id,
            "ResponseType": response_type,
            "ResponseParameters": parameters,
            "ResponseTemplates": {JSON: json.dumps(error.body("$context.requestId"))},
        }
        if not response_type.startswith("DEFAULT_"):  # a status there would apply to every 4XX/5XX
            properties["StatusCode"] = str(error.status_code)
        out[response_type] = properties
    return out


def _uses_session(ctx: Ctx) -> bool:
    """A person's session cookie, unless the request names a bearer token (machines)."""
    return not ctx.headers.get("authorization") and cookie_value(ctx.headers, SESSION_COOKIE) is not None


def _flush_charges(ctx: Ctx) -> None:
    """Charge the budgets of a confirmed request that committed no transaction."""
    if ctx.gate is None or not ctx.gate.confirmed:
        return
    try:
        ctx.container.rate_limiter.flush(int(ctx.now))
    except (InvalidClient, InvalidDPoPProof):
        raise  # a client assertion or DPoP proof used before: the request's bookkeeping carried its jti
    except VaultGuardError as exc:
        logger.warning("could not charge the request's budget", extra={"detail": str(exc)})


def _tenant_scoped(view: Callable[..., Response]) -> Callable[..., Response]:
    """The tenant a request binds (its gate) scopes its AWS credentials until it ends."""

    @functools.wraps(view)
    def scoped(**params: str) -> Response:
        with scoped_credentials.request_block():
            return view(**params)

    return scoped


# path -> the methods its routes answer, for the path's preflight (`_preflight_route`)
_PATH_METHODS: dict[str, set[str]] = {}
NO_CONTENT = Answer(None, "No content: a CORS preflight's answer is in its headers.", headers=("Allow",))


def _preflight_route(bp: Blueprint, path: str) -> None:
    """One `OPTIONS` route per path: the CORS preflight (`chalicelib/api/_cors.py`). It reads
    nothing and authenticates nobody (browsers send preflights without credentials)."""

    def preflight(**params: str) -> Response:
        methods = _PATH_METHODS[path]
        headers: dict[str, str | list[str]] = {**_cors.preflight_headers(bp.current_request, methods)}
        return Response(body="", status_code=204, headers=headers)

    route_name = _permissions.function_name("OPTIONS", path)
    preflight.__name__ = "preflight" + route_name.removeprefix("RouteOptions")
    preflight.__doc__ = "CORS preflight: the path's methods for an allow-listed origin."
    preflight.__module__ = bp._import_name  # documented under the path's own tag
    bp.route(path, methods=["OPTIONS"])(preflight)
    _permissions.declare(path, ["OPTIONS"], _permissions.STATIC)
    declare(
        Operation(
            path=path,
            method="OPTIONS",
            handler=preflight,
            roles=None,
            auth=PUBLIC,
            operation_id=camel(preflight.__name__),
            responses={204: NO_CONTENT},
        )
    )


def endpoint(
    bp: Blueprint,
    path: str,
    *,
    methods: Iterable[str] = ("GET",),
    roles: frozenset[Role] | None = ANY_ROLE,
    content_types: list[str] | None = None,
    prefetch: bool = False,
    responses: Mapping[int, Answer | Schema] | None = None,
    body: Fields | None = None,
    form: Fields | None = None,
    form_open: bool = False,
    query: Query | None = None,
    headers: Mapping[str, Check] | None = None,
    path_params: Mapping[str, Check] | None = None,
    errors: Iterable[int] = (),
    auth: str | None = None,
    operation_id: str | None = None,
    permissions: Iterable[_permissions.Permission] = _permissions.AUTHENTICATED,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `handler(ctx, **path_params)` as a route. `roles=None` means public (or
    authenticated by the handler itself, as the token endpoint does: say how with `auth`).

    The rest declares the route for the OpenAPI document (`chalicelib/api/_spec.py`): its
    answers by status, its body, form, query and header validators (the handler parses its
    input with the same objects) and its operation id (default: the handler's name).

    The caller's bearer token is verified here; its credential is confirmed by the request's
    first batched read. On a `prefetch` route that read is the use case's own (which then
    costs no extra round trip); elsewhere it happens here, before the handler runs. Either
    way nothing reaches the caller unless the confirmation passed.

    `permissions` is the AWS access the route's own Lambda gets (`chalicelib/api/_permissions.py`,
    turned into its IAM role by `infra/package.py`); the default suits an authenticated route."""

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        @_tenant_scoped
        @functools.wraps(handler)
        def view(**params: str) -> Response:
            request_id = current_request_id()
            try:
                container = get_container()
                begin_request()
                ctx = Ctx(bp.current_request, None, container, request_id)
                if roles is not None and _uses_session(ctx):
                    ctx.session_gate()
                    if ctx.confirm_session().role not in roles:
                        raise Forbidden()
                elif roles is not None:
                    claim = ctx.bearer_claim()
                    gate = ctx.bearer_gate(claim)
                    if not prefetch or claim.principal.role not in roles:
                        gate.read()  # a disabled credential gets 401 before any 403
                    if claim.principal.role not in roles:
                        raise Forbidden()
                try:
                    result = handler(ctx, **params)
                    if ctx.gate is not None:
                        ctx.gate.principal  # noqa: B018 - raises if the handler never confirmed its caller
                finally:
                    _flush_charges(ctx)
            except VaultGuardError as exc:
                if exc.status_code >= 500:
                    detail = getattr(exc, "detail", None) or repr(exc.__cause__)
                    logger.warning("request failed", extra={"error": exc.error, "detail": detail})
                return error_response(exc, request_id)
            except Exception:
                logger.exception("unhandled error")
                return error_response(VaultGuardError(), request_id)
            reply = result if isinstance(result, Reply) else Reply(result)
            headers: dict[str, str | list[str]] = {"Content-Type": JSON, **reply.headers}
            return Response(body=reply.body, status_code=reply.status_code, headers=headers)

        if form is not None and content_types is None:
            raise TypeError("a form route declares content_types=[FORM]")
        bp.route(path, methods=list(methods), content_types=content_types or [JSON])(view)
        if path not in _PATH_METHODS:
            _PATH_METHODS[path] = set()
            _preflight_route(bp, path)
        _PATH_METHODS[path].update(m.upper() for m in methods)
        _permissions.declare(path, methods, permissions)
        for method in methods:
            declare(
                Operation(
                    path=path,
                    method=method,
                    handler=handler,
                    roles=roles,
                    auth=auth or (PUBLIC if roles is None else BEARER),
                    operation_id=operation_id or camel(handler.__name__),
                    responses=answers(responses),
                    body=body,
                    form=form,
                    form_open=form_open,
                    query=query,
                    headers=dict(headers or {}),
                    path_params=dict(path_params or {}),
                    errors=frozenset(errors),
                )
            )
        return view

    return decorate
