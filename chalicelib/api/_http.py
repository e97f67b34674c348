"""The one wrapper every route goes through: authentication, role check, body parsing,
and the mapping of every error to the single JSON error shape.

Chalice middleware never sees exceptions raised in a view, so the mapping lives here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api._context import current_request_id
from chalicelib.domain.principal import Principal, Role
from chalicelib.errors import (
    Forbidden,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    VaultGuardError,
)
from chalicelib.observability import logger
from chalicelib.services.call import Call
from chalicelib.services.container import Container, get_container

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
ANY_ROLE = frozenset(Role)


@dataclass
class Reply:
    body: Any
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    """What a route handler gets: the caller, the parsed request and the services."""

    request: Request
    principal: Principal | None
    container: Container
    request_id: str

    @property
    def call(self) -> Call:
        return Call(self.principal, self.request_id)

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


def endpoint(
    bp: Blueprint,
    path: str,
    *,
    methods: Iterable[str] = ("GET",),
    roles: frozenset[Role] | None = ANY_ROLE,
    content_types: list[str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `handler(ctx, **path_params)` as a route. `roles=None` means public."""

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def view(**params: str) -> Response:
            request_id = current_request_id()
            try:
                container = get_container()
                request = bp.current_request
                principal = None
                if roles is not None:
                    principal = container.authenticator.bearer(request.headers.get("authorization"))
                    if principal.role not in roles:
                        raise Forbidden()
                result = handler(Ctx(request, principal, container, request_id), **params)
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

        bp.route(path, methods=list(methods), content_types=content_types or [JSON])(view)
        return view

    return decorate
