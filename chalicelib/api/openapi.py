"""The OpenAPI 3.1 document, built from Chalice's route table (`app.routes`) and what each
route declared through `endpoint(...)` (`chalicelib/api/_spec.py`): its validators, its
answers, who may call it. A route added later appears without extra work; one registered
outside `endpoint(...)` appears too, marked `x-undeclared` (a test refuses that).

Built on first use and kept for the life of the process (nothing here runs at import time).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from chalice import Chalice
from chalice.app import RouteEntry

from chalicelib.api._http import FORM, JSON
from chalicelib.api._spec import (
    BEARER,
    CLIENT,
    CLIENT_OR_BEARER,
    ERROR,
    OPERATIONS,
    PUBLIC,
    Answer,
    Operation,
    camel,
)
from chalicelib.api._validation import Check, Fields, Schema
from chalicelib.auth.session import SESSION_COOKIE

TITLE = "VaultGuard API"
CSRF_NAME = "X-CSRF-Token"  # the header as documented (HTTP header names are case-insensitive)
VERSION = "1.0.0"
ERROR_REF = {"$ref": "#/components/schemas/Error"}
REQUEST_ID = {"$ref": "#/components/headers/RequestId"}
PATH_PARAM = re.compile(r"{([^}]+)}")
DEFAULT_PATH_PARAM: Schema = {"type": "string", "minLength": 1}
ERROR_TEXT = {
    400: "The request is malformed (the error names the field).",
    401: "Authentication failed (missing, invalid or expired credentials).",
    403: "The caller may not do this.",
    404: "No such resource (also for another tenant's).",
    409: "The resource is not in a state that allows this.",
    411: "Send the body with a Content-Length (a chunked body is refused).",
    413: "The body is too large.",
    415: "The body's content type is not supported.",
    422: "The Idempotency-Key was used with a different request.",
    429: "A rate limit was reached; retry after Retry-After seconds.",
    503: "A dependency is unavailable; retry later.",
}
SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A VaultGuard API access token (RS256 JWT, `typ` vg-api+jwt) from POST /oauth/token "
        "with grant_type=client_credentials.",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "A person's session (HttpOnly), set by GET /auth/callback after signing in at the "
        "identity provider. Writes carry the session's CSRF token as well (GET /auth/session tells it).",
    },
    "csrfToken": {
        "type": "apiKey",
        "in": "header",
        "name": CSRF_NAME,
        "description": "The session's CSRF token, required with the session cookie on every write.",
    },
    "clientSecretBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "client_secret_basic (RFC 6749 §2.3.1): the client id and secret. With "
        "client_secret_post they travel in the form as client_id and client_secret instead.",
    },
}
# OpenAPI cannot name form parameters as a security scheme: `{}` stands for
# client_secret_post (the credentials are the form's client_id and client_secret).
# A route for a role takes a machine's bearer token or a person's session (see `_security`).
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    BEARER: [{"bearerAuth": []}],
    CLIENT: [{"clientSecretBasic": []}, {}],
    CLIENT_OR_BEARER: [{"bearerAuth": []}, {"clientSecretBasic": []}, {}],
    PUBLIC: [],
}

_lock = threading.Lock()
_document: dict[str, Any] | None = None


def document(app: Chalice, server_url: str) -> dict[str, Any]:
    """The document for this process (built on the first call)."""
    global _document
    with _lock:
        if _document is None:
            _document = build(app, server_url)
        return _document


def build(app: Chalice, server_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    tags: set[str] = set()
    for path, methods in sorted(app.routes.items()):
        for method, entry in sorted(methods.items()):
            declared = OPERATIONS.get((path, method))
            op = declared or _undeclared(entry)
            paths.setdefault(path, {})[method.lower()] = _operation(op, declared is not None)
            tags.add(op.tag)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "summary": "The trust broker for agent-to-agent authorization across organisations.",
            "description": "Every response carries `x-request-id`; every error has the shape "
            '`{"error", "error_description", "request_id"}`. Machines call with '
            "`Authorization: Bearer <token>` from `POST /oauth/token`. `x-vaultguard-roles` on an "
            "operation names the roles that may call it. A successful JSON `GET` (bar `no-store` answers) "
            "carries a strong `ETag`; sent back in `If-None-Match`, it answers `304 Not Modified` "
            "without a body while the data is unchanged.",
        },
        "servers": [{"url": server_url}],
        "tags": [{"name": tag} for tag in sorted(tags)],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "headers": {
                "RequestId": {
                    "description": "The request's id: the caller's x-request-id when well formed, else a "
                    "new one. It is in every log line and audit event of the request.",
                    "required": True,
                    "schema": {"type": "string"},
                }
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _undeclared(entry: RouteEntry) -> Operation:
    """A route registered without `endpoint(...)`: documented as far as the table tells."""
    return Operation(
        path=entry.uri_pattern,
        method=entry.method,
        handler=entry.view_function,
        roles=None,
        auth=PUBLIC,
        operation_id=camel(entry.view_name),
        responses={200: Answer({"type": "object"})},
    )


def _operation(op: Operation, declared: bool = True) -> dict[str, Any]:
    doc = (op.handler.__doc__ or "").strip()
    summary, _, description = doc.partition("\n\n")
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "tags": [op.tag],
        "summary": " ".join(summary.split()) or _words(op.operation_id),
    }
    if description:
        out["description"] = " ".join(description.split())
    if op.roles is not None:
        out["x-vaultguard-roles"] = sorted(role.value for role in op.roles)
    if not declared:
        out["x-undeclared"] = True
    out["security"] = _security(op)
    parameters = _parameters(op)
    if parameters:
        out["parameters"] = parameters
    body = _request_body(op)
    if body is not None:
        out["requestBody"] = body
    out["responses"] = _responses(op)
    return out


def _security(op: Operation) -> list[dict[str, list[str]]]:
    security = list(SECURITY[op.auth])
    if op.auth == BEARER:
        write = op.method not in ("GET", "HEAD")
        security.append({"sessionCookie": [], **({"csrfToken": []} if write else {})})
    return security


def _words(operation_id: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r" \1", operation_id).capitalize()


def _parameters(op: Operation) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in PATH_PARAM.findall(op.path):
        check = op.path_params.get(name)
        out.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": check.schema if check else DEFAULT_PATH_PARAM,
            }
        )
    if op.query is not None:
        for name, check in op.query.params.items():
            param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": check.schema}
            if check.schema.get("type") == "array":
                param.update(style="form", explode=True)
            out.append(param)
    for name, check in op.headers.items():
        out.append({"name": name, "in": "header", "required": False, "schema": check.schema})
    return out


def _request_body(op: Operation) -> dict[str, Any] | None:
    if op.body is not None:
        media, fields = JSON, op.body
        schema = fields.schema
    elif op.form is not None:
        media, fields = FORM, op.form
        schema = _form_schema(fields, op.form_open)
    else:
        return None
    return {"required": bool(fields.required), "content": {media: {"schema": schema}}}


def _form_schema(fields: Fields, open_form: bool) -> Schema:
    """Form values are strings; optional ones are simply absent (there is no null)."""
    properties = {name: check.schema for name, check in {**fields.required, **fields.optional}.items()}
    out: Schema = {"type": "object", "properties": properties, "additionalProperties": open_form}
    if fields.required:
        out["required"] = list(fields.required)
    return out


def _responses(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, answer in sorted(op.responses.items()):
        out[str(status)] = _response(status, answer)
    for status in sorted(_error_statuses(op) - set(op.responses)):
        out[str(status)] = {
            "description": ERROR_TEXT.get(status, "An error."),
            "headers": _headers(status),
            "content": {JSON: {"schema": ERROR_REF}},
        }
    return out


def _response(status: int, answer: Answer) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": answer.description or ("OK" if status < 300 else ERROR_TEXT.get(status, "")),
        "headers": _headers(status, answer.headers),
    }
    if answer.schema is not None:
        out["content"] = {answer.media_type: {"schema": answer.schema}}
        if status >= 400 and answer.media_type != JSON:
            # A page for a browser (a failed sign-in) besides the errors any route may raise,
            # which `endpoint(...)` always answers in the JSON error shape.
            out["content"][JSON] = {"schema": ERROR_REF}
    if answer.links:
        out["links"] = {name: link.document() for name, link in answer.links.items()}
    return out


def _headers(status: int, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"x-request-id": REQUEST_ID}
    if status == 429:
        out["Retry-After"] = {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}
    for name in extra:
        out[name] = {"required": True, "schema": {"type": "string"}}
    return out


def _error_statuses(op: Operation) -> set[int]:
    """The errors every route of its kind can answer, besides those it names itself."""
    statuses = {503} | set(op.errors)
    has_input = op.body is not None or op.form is not None or op.query is not None or bool(op.headers)
    if has_input or PATH_PARAM.search(op.path):
        statuses.add(400)
    if op.body is not None or op.form is not None:
        statuses |= {400, 411, 413, 415}
    if op.auth != PUBLIC:
        statuses |= {400, 401, 429}  # 400: a malformed Authorization header or form
    if op.roles is not None:
        statuses.add(403)
    if PATH_PARAM.search(op.path):
        statuses.add(404)
    return statuses


def checks_of(op: Operation) -> Mapping[str, Check]:
    """Every validator an operation declares, by where it applies (for the tests)."""
    out: dict[str, Check] = {}
    for prefix, fields in (("body", op.body), ("form", op.form)):
        if fields is not None:
            out.update({f"{prefix}.{n}": c for n, c in {**fields.required, **fields.optional}.items()})
    if op.query is not None:
        out.update({f"query.{n}": c for n, c in op.query.params.items()})
    out.update({f"header.{n}": c for n, c in op.headers.items()})
    out.update({f"path.{n}": c for n, c in op.path_params.items()})
    return out
