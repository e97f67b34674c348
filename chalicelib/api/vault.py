"""The token vault for admins: providers, connecting (and the provider's redirect back),
and the tenant's connections. Nothing here ever answers a token, a ciphertext or a client
secret — except `POST /vault/exchange`, the agents' way to a provider access token (never a
refresh token), and the admin's forced refresh (`POST /vault/connections/{id}/check`)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._permissions import AUTHENTICATED, Permission
from chalicelib.api._spec import ERROR, INTEGER, STRING, TIMESTAMP, Answer, enum, links, maybe, obj
from chalicelib.api._validation import Check, Fields, Query, check, text
from chalicelib.domain import vault as rules
from chalicelib.domain.ids import AGENT_ID
from chalicelib.domain.principal import Role
from chalicelib.errors import InvalidRequest, NotSignedIn
from chalicelib.services.vault_callback import INVALID_STATE, CallbackQuery
from chalicelib.vault.providers import PROVIDERS

bp = Blueprint(__name__)

ADMIN = frozenset({Role.ADMIN})
AGENT = frozenset({Role.AGENT})
NO_PARAMS = Query()
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_SCOPES = 50
MAX_AGENTS = 50
_SCOPE_CHARS = set(
    "!#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~"
)


@check(
    {
        "type": "array",
        "maxItems": MAX_SCOPES,
        "items": {
            "type": "string",
            "minLength": 1,
            "maxLength": 256,
            "pattern": r"^[\x21\x23-\x5b\x5d-\x7e]+$",
        },
        "description": "OAuth scopes (RFC 6749 §3.3 scope tokens).",
    }
)
def scope_list(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_SCOPES:
        raise InvalidRequest(f"{name} must be a list of at most {MAX_SCOPES} scopes.")
    for item in value:
        if not isinstance(item, str) or not 0 < len(item) <= 256 or not set(item) <= _SCOPE_CHARS:
            raise InvalidRequest(f"{name} must hold scope tokens (printable, no space, quote or backslash).")
    return list(dict.fromkeys(value))


@check(
    {
        "type": "array",
        "maxItems": MAX_AGENTS,
        "items": {"type": "string", "pattern": AGENT_ID.pattern},
        "description": "Agents of this tenant allowed to use the connection.",
    }
)
def agent_list(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_AGENTS:
        raise InvalidRequest(f"{name} must be a list of at most {MAX_AGENTS} agent ids.")
    if not all(isinstance(a, str) and AGENT_ID.fullmatch(a) for a in value):
        raise InvalidRequest(f"{name} must hold agent ids (agt_ followed by 20 hex digits).")
    return list(dict.fromkeys(value))


@check({"type": "string", "enum": list(PROVIDERS)})
def provider_name(name: str, value: Any) -> str:
    if value not in PROVIDERS:
        raise InvalidRequest(f"{name} must be one of {', '.join(PROVIDERS)}.")
    return str(value)


@check(
    {
        "type": "object",
        "maxProperties": 10,
        "additionalProperties": {"type": "string", "maxLength": 256},
        "description": "Extra parameters of the authorization request (not those VaultGuard sets).",
    }
)
def params_map(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 10:
        raise InvalidRequest(f"{name} must be an object of at most 10 parameters.")
    for key, item in value.items():
        if not (0 < len(key) <= 64 and key.isascii() and key.isprintable()):
            raise InvalidRequest(f"{name} has a malformed parameter name.")
        if not isinstance(item, str) or len(item) > 256 or not item.isprintable():
            raise InvalidRequest(f"{name}.{key} must be a printable string of at most 256 characters.")
    return dict(value)


def _url() -> Check:
    return Check(
        lambda name, value: text(2048)(name, value),
        {
            "type": "string",
            "format": "uri",
            "maxLength": 2048,
            "description": "https (http to loopback locally).",
        },
    )


@check({"type": "string", "pattern": rules.CONNECTION_ID.pattern, "description": "A connection id."})
def connection_id_field(name: str, value: Any) -> str:
    if not isinstance(value, str) or not rules.CONNECTION_ID.fullmatch(value):
        raise InvalidRequest(f"{name} must be a connection id (con_ followed by 20 hex digits).")
    return value


PROVIDER_SETTINGS = Fields(
    {"client_id": text(256), "client_secret": text(1024)},
    {
        "issuer": _url(),
        "authorization_endpoint": _url(),
        "token_endpoint": _url(),
        "revocation_endpoint": _url(),
        "scopes": scope_list,
        "authorize_params": params_map,
        "connection": text(128),  # auth0: the Auth0 connection's name (chalicelib/vault/auth0.py)
    },
)
CONNECT = Fields(
    {"provider": provider_name},
    {"scopes": scope_list, "label": text(100), "agent_ids": agent_list},
)
EXCHANGE = Fields({"connection_id": connection_id_field}, {"scopes": scope_list})
UPDATE = Fields({}, {"label": text(100), "agent_ids": agent_list, "allowed_scopes": scope_list})
CALLBACK_QUERY = Query(
    {
        "code": text(4096),
        "state": text(256),
        "iss": text(512),
        "error": text(256),
        "error_description": text(1024),
        "error_uri": text(1024),
        "scope": text(4096),
        "authuser": text(16),
        "hd": text(256),
        "prompt": text(64),
        "session_state": text(512),
    }
)

STRINGS = {"type": "array", "items": STRING}
PROVIDER = obj(
    {
        "provider": enum(*PROVIDERS),
        "kind": enum("oidc", "oauth2", "auth0"),
        "client": {**enum("tenant", "platform"), "description": "Whose OAuth client is used."},
        "scopes": STRINGS,
        "client_id": {**maybe(STRING), "description": "The tenant's own client id; null for the platform's."},
    },
    title="VaultProvider",
)
PROVIDERS_ANSWER = obj({"providers": {"type": "array", "items": PROVIDER}})
PROVIDER_SETTINGS_ANSWER = obj(
    {
        "provider": enum(*PROVIDERS),
        "client": enum("tenant"),
        "client_id": STRING,
        "issuer": maybe(STRING),
        "authorization_endpoint": maybe(STRING),
        "token_endpoint": maybe(STRING),
        "revocation_endpoint": maybe(STRING),
        "scopes": STRINGS,
        "authorize_params": {"type": "object", "additionalProperties": STRING},
        "created_at": STRING,
        "updated_at": STRING,
    },
    title="VaultProviderSettings",
    description="The client secret is stored encrypted and never shown.",
)
STATUS = enum(*(s.value for s in rules.Status))
CONNECTION = obj(
    {
        "connection_id": STRING,
        "provider": STRING,
        "label": maybe(STRING),
        "status": STATUS,
        "status_reason": maybe(STRING),
        "client": enum("tenant", "platform"),
        "provider_account": {
            "type": ["object", "null"],
            "properties": {"sub": STRING, "email": maybe(STRING)},
        },
        "requested_scopes": STRINGS,
        "granted_scopes": STRINGS,
        "missing_scopes": {**STRINGS, "description": "Requested but not granted by the provider."},
        "allowed_scopes": {**STRINGS, "description": "What agents may ask for (within the granted)."},
        "agent_ids": {**STRINGS, "description": "The agents allowed to use the connection."},
        "created_at": STRING,
        "created_by": STRING,
        "connected_at": maybe(STRING),
        "connected_by": maybe(STRING),
        "updated_at": maybe(STRING),
        "last_refresh_at": maybe(STRING),
        "last_used_at": maybe(STRING),
        "superseded_by": maybe(STRING),
        "deleted_at": maybe(STRING),
    },
    title="VaultConnection",
    description="Never a token, a ciphertext or a client secret.",
)
CONNECTIONS = obj({"connections": {"type": "array", "items": CONNECTION}})
CONNECT_ANSWER = obj(
    {
        "connection_id": STRING,
        "authorize_url": {**STRING, "description": "Send the admin's browser here."},
        "expires_at": {**TIMESTAMP, "description": "The connect must finish before this."},
    },
    title="VaultConnectStarted",
)
DELETED = obj(
    {
        "connection_id": STRING,
        "status": enum("deleted"),
        "provider_revocation": enum("revoked", "nothing_to_revoke", "not_supported", "failed"),
    }
)
EXCHANGED = obj(
    {
        "access_token": {**STRING, "description": "The provider's access token; never a refresh token."},
        "token_type": enum("Bearer"),
        "expires_in": INTEGER,
        "scope": {**STRING, "description": "The token's scopes, space-delimited."},
        "connection_id": STRING,
        "provider": STRING,
    },
    title="VaultToken",
)
NEEDS_REAUTH = obj(
    {
        "error": enum("connection_needs_reauthorization"),
        "error_description": STRING,
        "connection_id": STRING,
        "reason": {**STRING, "description": "The provider's word, e.g. invalid_grant."},
        "request_id": STRING,
    },
    title="ConnectionNeedsReauthorization",
)
SCOPE_REFUSED = obj(
    {"error": STRING, "error_description": STRING, "request_id": STRING},
    {"missing_scopes": {**STRINGS, "description": "invalid_scope: what the connection does not allow."}},
    title="VaultExchangeRefused",
)
REDIRECT = Answer(
    None,
    "To the dashboard's connections page, with `connected=<id>` or `error=<code>`.",
    headers=("Location",),
)
WITH_VAULT_KEYS = AUTHENTICATED | {Permission.KMS_ENCRYPT}


@endpoint(
    bp, "/vault/providers", roles=ADMIN, prefetch=True, query=NO_PARAMS, responses={200: PROVIDERS_ANSWER}
)
def list_vault_providers(ctx: Ctx) -> dict[str, Any]:
    """The providers this tenant can connect, their scopes and whose OAuth client is used."""
    NO_PARAMS(ctx.query())
    return ctx.container.vault.list_providers(ctx.call)


@endpoint(
    bp,
    "/vault/providers/{provider}",
    methods=["PUT"],
    roles=ADMIN,
    prefetch=True,
    body=PROVIDER_SETTINGS,
    permissions=WITH_VAULT_KEYS,
    responses={200: PROVIDER_SETTINGS_ANSWER, 201: PROVIDER_SETTINGS_ANSWER},
    errors=(404,),
)
def put_vault_provider(ctx: Ctx, provider: str) -> Reply:
    """Use the tenant's own OAuth client with a provider (recommended for Google); for
    `oidc` give the issuer, for `oauth2` the endpoints, for `auth0` (the Auth0 Token Vault)
    the issuer and the Auth0 `connection`. The secret is stored encrypted."""
    body = PROVIDER_SETTINGS(ctx.json())
    created, view = ctx.container.vault.put_provider(ctx.call, provider, body)
    return Reply(view, 201 if created else 200)


@endpoint(
    bp,
    "/vault/connect",
    methods=["POST"],
    roles=ADMIN,
    prefetch=True,
    body=CONNECT,
    permissions=WITH_VAULT_KEYS,
    responses={201: Answer(CONNECT_ANSWER, links=links("connection_id", "getVaultConnection"))},
    errors=(503,),
)
def connect_vault(ctx: Ctx) -> Reply:
    """Start connecting a provider account: a pending connection and the URL to send the
    browser to (authorization code + PKCE S256; the state is single use for 10 minutes)."""
    body = CONNECT(ctx.json())
    answer = ctx.container.vault.connect(
        ctx.call, body["provider"], body["scopes"], body["label"], body["agent_ids"] or []
    )
    return Reply(answer, 201, NO_STORE)


@endpoint(
    bp,
    "/vault/callback",
    roles=None,
    query=CALLBACK_QUERY,
    permissions=WITH_VAULT_KEYS,
    responses={302: REDIRECT},
    operation_id="vaultCallback",
)
def vault_callback(ctx: Ctx) -> Reply:
    """The provider sends the admin's browser back here. Needs the session of an admin of
    the connection's tenant; every failure redirects with an `error` and gives nothing away."""
    service = ctx.container.vault_callback
    query = CALLBACK_QUERY(ctx.query())  # malformed (not a provider's answer): 400, nothing read
    try:
        ctx.session_gate()
        location = service.finish(
            ctx.gate,
            ctx.request_id,
            ctx.now,
            CallbackQuery(query["code"], query["state"], query["iss"], query["error"]),
        )
    except (NotSignedIn, InvalidRequest):
        ctx.gate = None  # nobody confirmed: nothing was read for anyone, nothing changed
        location = service.page(error=INVALID_STATE)
    return Reply("", 302, {"Location": location, **NO_STORE})


@endpoint(bp, "/vault/connections", roles=ADMIN, query=NO_PARAMS, responses={200: CONNECTIONS})
def list_vault_connections(ctx: Ctx) -> dict[str, Any]:
    NO_PARAMS(ctx.query())
    return ctx.container.vault.list_connections(ctx.call)


@endpoint(
    bp,
    "/vault/connections/{connection_id}",
    roles=ADMIN,
    prefetch=True,
    responses={200: CONNECTION},
    operation_id="getVaultConnection",
)
def get_vault_connection(ctx: Ctx, connection_id: str) -> dict[str, Any]:
    return ctx.container.vault.get(ctx.call, connection_id)


@endpoint(
    bp,
    "/vault/connections/{connection_id}",
    methods=["PATCH"],
    roles=ADMIN,
    prefetch=True,
    body=UPDATE,
    responses={200: CONNECTION},
)
def update_vault_connection(ctx: Ctx, connection_id: str) -> dict[str, Any]:
    """Change the label, the allowed agents or the allowed scopes (within the granted)."""
    body = UPDATE(ctx.json())
    return ctx.container.vault.update(
        ctx.call,
        connection_id,
        label=body["label"],
        agent_ids=body["agent_ids"],
        allowed_scopes=body["allowed_scopes"],
    )


@endpoint(
    bp,
    "/vault/connections/{connection_id}",
    methods=["DELETE"],
    roles=ADMIN,
    prefetch=True,
    responses={200: DELETED},
)
def delete_vault_connection(ctx: Ctx, connection_id: str) -> dict[str, Any]:
    """Revoke the grant at the provider (RFC 7009, best effort: the outcome is in the answer
    and the audit event), destroy the stored tokens, keep the record as a tombstone."""
    return ctx.container.vault.delete(ctx.call, connection_id)


@endpoint(
    bp,
    "/vault/connections/{connection_id}/check",
    methods=["POST"],
    roles=ADMIN,
    prefetch=True,
    permissions=WITH_VAULT_KEYS,
    responses={200: CONNECTION},
    errors=(503,),
)
def check_vault_connection(ctx: Ctx, connection_id: str) -> dict[str, Any]:
    """Refresh the connection's token now (through the same lease as the agents' exchanges)
    and show the connection afterwards: `active`, `refresh_failing` or `needs_reauth`."""
    return ctx.container.vault_exchange.check(ctx.call, connection_id)


@endpoint(
    bp,
    "/vault/exchange",
    methods=["POST"],
    roles=AGENT,
    prefetch=True,
    body=EXCHANGE,
    permissions=WITH_VAULT_KEYS,
    responses={
        200: Answer(EXCHANGED, "A provider access token for the connection (`Cache-Control: no-store`)."),
        400: Answer(SCOPE_REFUSED, "`invalid_scope` (with `missing_scopes`) or a malformed request."),
        403: Answer(ERROR, "The connection does not allow this agent (or is disabled)."),
        404: Answer(ERROR, "No such connection: unknown, deleted and another tenant's look the same."),
        409: Answer(NEEDS_REAUTH, "The grant is dead; an admin must reconnect the connection."),
        503: Answer(
            ERROR,
            "The provider failed or throttles; retry after `Retry-After` seconds.",
            headers=("Retry-After",),
        ),
    },
    operation_id="exchangeVaultToken",
)
def exchange_vault_token(ctx: Ctx) -> Reply:
    """An access token of a connection of the agent's own tenant, within the scopes the
    connection allows (down-scoped at the provider when fewer are asked for). The agent
    never sees a refresh token."""
    body = EXCHANGE(ctx.json())
    answer = ctx.container.vault_exchange.exchange(ctx.call, body["connection_id"], body["scopes"])
    return Reply(answer, 200, NO_STORE)
