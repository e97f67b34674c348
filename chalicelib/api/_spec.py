"""What each route declares about itself beside its definition (through `endpoint(...)`):
its input (the same `Fields`/`Query`/`Check` objects that parse it), its answers by status
and who may call it. `chalicelib.api.openapi` turns these declarations and Chalice's route
table into the OpenAPI document; nothing here runs on a request.

Also the few JSON Schemas that several routes answer with: the one error shape, the
delegation view and the OAuth token answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.api._validation import Check, Fields, Query, Schema
from chalicelib.domain.principal import Role

JSON_MEDIA = "application/json"

# Who authenticates how: a bearer API token (from /oauth/token), client authentication
# (client_secret_basic or client_secret_post, RFC 6749 §2.3.1), either, or nobody.
BEARER, CLIENT, CLIENT_OR_BEARER, PUBLIC = "bearer", "client", "client_or_bearer", "public"


@dataclass(frozen=True)
class Answer:
    """One documented response: its body schema (None: no body) and media type."""

    schema: Schema | None
    description: str = ""
    media_type: str = JSON_MEDIA
    headers: tuple[str, ...] = ()  # response headers besides x-request-id, e.g. "Location"
    links: Mapping[str, Link] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: the operation a response leads to, its parameters taken from this
    response's body (`{"agent_id": "agent_id"}` -> `$response.body#/agent_id`)."""

    operation_id: str
    parameters: Mapping[str, str]

    def document(self) -> dict[str, Any]:
        params = {name: f"$response.body#/{field}" for name, field in self.parameters.items()}
        return {"operationId": self.operation_id, "parameters": params}


def links(field_name: str, *operation_ids: str, parameter: str | None = None) -> dict[str, Link]:
    """Links from an answer to operations that take one of its fields as a path parameter."""
    return {op: Link(op, {parameter or field_name: field_name}) for op in operation_ids}


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    handler: Callable[..., Any]
    roles: frozenset[Role] | None
    auth: str
    operation_id: str
    responses: Mapping[int, Answer]
    body: Fields | None = None
    form: Fields | None = None
    form_open: bool = False  # the form takes parameters beyond those listed (RFC 6749 §3.2)
    query: Query | None = None
    headers: Mapping[str, Check] = field(default_factory=dict)
    path_params: Mapping[str, Check] = field(default_factory=dict)
    errors: frozenset[int] = frozenset()  # error statuses besides those the builder derives

    @property
    def tag(self) -> str:
        return self.handler.__module__.rsplit(".", 1)[-1]


OPERATIONS: dict[tuple[str, str], Operation] = {}


def declare(operation: Operation) -> None:
    OPERATIONS[(operation.path, operation.method)] = operation


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def answers(responses: Mapping[int, Answer | Schema] | None) -> dict[int, Answer]:
    """`{201: schema}` or `{201: Answer(...)}` -> `{201: Answer}`; by default a 200 object."""
    if responses is None:
        return {200: Answer({"type": "object"})}
    return {status: a if isinstance(a, Answer) else Answer(a) for status, a in responses.items()}


# --- JSON Schema helpers ---------------------------------------------------------------

STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}


def maybe(schema: Schema) -> Schema:
    """The schema or null (a field always present, sometimes empty)."""
    return {**schema, "type": [schema["type"], "null"]}


def obj(required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None, **extra: Any) -> Schema:
    """An object with these properties, the first ones always present. Further properties
    are allowed: a client must ignore what it does not know."""
    out: Schema = {"type": "object", "properties": {**required, **(optional or {})}, **extra}
    if required:
        out["required"] = list(required)
    return out


def const(value: str) -> Schema:
    return {"type": "string", "const": value}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


ERROR = obj(
    {"error": STRING, "error_description": STRING, "request_id": STRING},
    description="The one error shape of every 4xx and 5xx response.",
)
DELEGATION_STATUS = enum("PENDING", "ACTIVE", "REJECTED", "REVOKED", "EXPIRED")
DELEGATION = obj(
    {
        "delegation_id": STRING,
        "direction": enum("inbound", "outbound"),
        "requesting_tenant_id": STRING,
        "receiving_tenant_id": STRING,
        "agent_id": STRING,
        "action": STRING,
        "decision": maybe(STRING),
        "status": DELEGATION_STATUS,
        "expires_in": maybe(INTEGER),
        "requesting_tenant_name": maybe(STRING),
        "receiving_tenant_name": {
            **maybe(STRING),
            "description": "As when the delegation was created; null for delegations created "
            "before the receiving tenant's name was kept with them.",
        },
        "agent_name": maybe(STRING),
        "auth_req_id": maybe(STRING),
        "purpose": maybe(STRING),
        "binding_message": maybe(STRING),
        "ttl_seconds": INTEGER,
        "created_at": maybe(STRING),
        "issued_at": maybe(STRING),
        "expires_at": maybe(STRING),
        "stepup_expires_at": maybe(STRING),
        "revoked_at": maybe(STRING),
        "revoked_by": {
            **maybe(STRING),
            "description": "The revoking person or client (its subject) when of the caller's tenant.",
        },
        "revoked_by_tenant_id": {**maybe(STRING), "description": "The tenant whose principal revoked it."},
        "decided_at": maybe(STRING),
        "decided_by": {
            **maybe(STRING),
            "description": "Who approved or rejected it (its subject); on inbound delegations only.",
        },
        "decision_reason": {
            **maybe(STRING),
            "description": "The reason given with the approval or rejection.",
        },
    },
    title="Delegation",
)
API_TOKEN = obj(
    {"access_token": STRING, "token_type": const("Bearer"), "expires_in": INTEGER},
    title="ApiToken",
    description="client_credentials: an access token for VaultGuard's own API.",
)
DELEGATION_TOKEN = obj(
    {
        "access_token": STRING,
        "token_type": const("Bearer"),
        "expires_in": INTEGER,
        "scope": STRING,
        "delegation_id": STRING,
    },
    title="CibaToken",
    description="The CIBA grant: the approved delegation's token, handed out once.",
)
TOKEN_ERROR = obj(
    {
        "error": enum(
            "invalid_request",
            "invalid_grant",
            "unsupported_grant_type",
            "unauthorized_client",
            "authorization_pending",
            "slow_down",
            "expired_token",
            "access_denied",
        ),
        "error_description": STRING,
        "request_id": STRING,
    },
    {"interval": {**INTEGER, "description": "seconds to wait before the next poll"}},
    title="TokenError",
    description="RFC 6749 §5.2 and OpenID CIBA Core §11: `authorization_pending` while the approver has "
    "not decided, `slow_down` when polled faster than `interval` (which then grows by 5 s), "
    "`expired_token`, `access_denied` once rejected, `invalid_grant` once the token was handed out.",
)
INTROSPECTION = obj(
    {"active": BOOLEAN},
    {
        "token_type": STRING,
        "delegation_id": STRING,
        "status": STRING,
        "iss": STRING,
        "sub": STRING,
        "aud": {"type": ["string", "array"]},
        "client_id": STRING,
        "iat": INTEGER,
        "nbf": INTEGER,
        "exp": INTEGER,
        "jti": STRING,
        "scope": STRING,
        "tenant_id": STRING,
        "receiving_tenant_id": STRING,
        "act": obj({"sub": STRING}),
    },
    title="Introspection",
    description='RFC 7662: `{"active": false}` for any token that is not live, whatever the reason.',
)
