"""The agent registry of the caller's tenant (admins only)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._spec import INTEGER, STRING, Answer, enum, links, maybe, obj
from chalicelib.api._validation import Fields, Query, check, text
from chalicelib.domain.federation import MAX_SUBJECT, MAX_URL, FederatedIdentity
from chalicelib.domain.principal import Role
from chalicelib.errors import InvalidRequest
from chalicelib.tokens.rfc7523 import MAX_KEYS, SIGNING_ALGS, InvalidJwks, parse_jwks

bp = Blueprint(__name__)

ADMIN = frozenset({Role.ADMIN})


@check(
    {
        "type": "object",
        "required": ["keys"],
        "additionalProperties": False,
        "properties": {
            "keys": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_KEYS,
                "items": {
                    "type": "object",
                    "required": ["kty"],
                    "properties": {"kty": enum("RSA", "EC", "OKP")},
                },
            }
        },
        "description": "Public JWKs (RFC 7517) for private_key_jwt: RSA of 2048 bits or more (RS256), "
        f"EC P-256 (ES256) or Ed25519 (EdDSA); algorithms {', '.join(SIGNING_ALGS)}; no private members.",
    }
)
def jwks(name: str, value: object) -> list[dict[str, str]]:
    try:
        return parse_jwks(value)
    except InvalidJwks as exc:
        raise InvalidRequest(f"{name}: {exc}") from None


@check(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_URL,
        "description": "Where the agent publishes its public JWK set (private_key_jwt): https "
        "(http to a loopback host on the local stage only); fetched through the SSRF guard, cached.",
    }
)
def jwks_uri(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_URL or not value.isprintable():
        raise InvalidRequest(f"{name} must be a URL of at most {MAX_URL} characters.")
    return value


_URL = {"type": "string", "minLength": 1, "maxLength": MAX_URL}


@check(
    {
        "type": "object",
        "required": ["issuer", "subject"],
        "additionalProperties": False,
        "properties": {
            "issuer": {**_URL, "description": "The trusted issuer, exactly as its tokens' iss (https)."},
            "subject": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_SUBJECT,
                "description": "Its tokens' sub (else client_id, else azp) for this agent.",
            },
            "audience": {
                **_URL,
                "description": "The aud its tokens carry; default VaultGuard's issuer or token endpoint.",
            },
        },
        "description": "A federated agent: tokens of this issuer about this subject are exchanged for "
        "its API tokens (RFC 7523 jwt-bearer grant, RFC 8693 token exchange). One agent per issuer "
        "and subject across VaultGuard.",
    }
)
def federated(name: str, value: object) -> FederatedIdentity:
    if not isinstance(value, dict) or not {"issuer", "subject"} <= set(value) or set(value) - {
        "issuer",
        "subject",
        "audience",
    }:
        raise InvalidRequest(f"{name} must be an object {{issuer, subject, audience?}}.")
    parts = {}
    for key, limit in (("issuer", MAX_URL), ("subject", MAX_SUBJECT), ("audience", MAX_URL)):
        part = value.get(key)
        if part is None and key == "audience":
            continue
        if not isinstance(part, str) or not part or len(part) > limit or not part.isprintable():
            raise InvalidRequest(f"{name}.{key} must be a string of 1 to {limit} printable characters.")
        parts[key] = part
    return FederatedIdentity(parts["issuer"], parts["subject"], parts.get("audience"))


NEW_AGENT = Fields(
    {"name": text(100)},
    {"description": text(500), "jwks": jwks, "jwks_uri": jwks_uri, "federated": federated},
)
NEW_KEYS = Fields({}, {"jwks": jwks, "jwks_uri": jwks_uri})
NO_PARAMS = Query()
_VIEW = {
    "agent_id": STRING,
    "name": STRING,
    "description": maybe(STRING),
    "client_id": STRING,
    "status": enum("ACTIVE", "DISABLED"),
    "created_at": STRING,
    "secret_rotated_at": maybe(STRING),
    "disabled_at": maybe(STRING),
    "last_used_at": {**maybe(STRING), "description": "When it last got an access token; null if never."},
    "token_endpoint_auth_method": {
        **enum("client_secret_basic", "private_key_jwt", "none"),
        "description": "none: a federated agent (it presents its trusted issuer's JWT).",
    },
    "keys_rotated_at": maybe(STRING),
    "jwks_uri": maybe(STRING),
    "federated": maybe(
        obj({"issuer": STRING, "subject": STRING, "audience": maybe(STRING)}, title="FederatedIdentity")
    ),
}
AGENT = obj(_VIEW, title="Agent")
SECRET = {**STRING, "description": "Shown in this answer only."}
AGENT_WITH_SECRET = obj({**_VIEW, "client_secret": SECRET}, title="AgentWithSecret")
AGENTS = obj({"agents": {"type": "array", "items": AGENT}})
DISABLED_AGENT = obj({**_VIEW, "revoked_delegations": INTEGER})


@endpoint(
    bp,
    "/agents",
    methods=["POST"],
    roles=ADMIN,
    body=NEW_AGENT,
    responses={
        201: Answer(
            {"anyOf": [AGENT_WITH_SECRET, AGENT]},
            "With a client secret (shown once); key-only (private_key_jwt) when jwks or jwks_uri was "
            "given; federated (no secret) when federated was given.",
            links=links("agent_id", "getAgent", "rotateAgentSecret", "disableAgent"),
        )
    },
)
def create_agent(ctx: Ctx) -> Reply:
    body = NEW_AGENT(ctx.json())
    agents = ctx.container.agents
    created = agents.create(
        ctx.call,
        body["name"],
        body["description"],
        body["jwks"],
        jwks_uri=body["jwks_uri"],
        federated=body["federated"],
    )
    return Reply(created, 201)


@endpoint(bp, "/agents", roles=ADMIN, query=NO_PARAMS, responses={200: AGENTS})
def list_agents(ctx: Ctx) -> dict[str, Any]:
    NO_PARAMS(ctx.query())
    return ctx.container.agents.list(ctx.call)


@endpoint(bp, "/agents/{agent_id}", roles=ADMIN, prefetch=True, responses={200: AGENT})
def get_agent(ctx: Ctx, agent_id: str) -> dict[str, Any]:
    return ctx.container.agents.get(ctx.call, agent_id)


@endpoint(
    bp, "/agents/{agent_id}", methods=["DELETE"], roles=ADMIN, prefetch=True, responses={200: DISABLED_AGENT}
)
def disable_agent(ctx: Ctx, agent_id: str) -> dict[str, Any]:
    return ctx.container.agents.disable(ctx.call, agent_id)


@endpoint(
    bp,
    "/agents/{agent_id}/rotate-secret",
    methods=["POST"],
    roles=ADMIN,
    prefetch=True,
    responses={200: AGENT_WITH_SECRET},
    errors=(409,),  # a disabled agent
)
def rotate_agent_secret(ctx: Ctx, agent_id: str) -> dict[str, Any]:
    return ctx.container.agents.rotate_secret(ctx.call, agent_id)


@endpoint(
    bp,
    "/agents/{agent_id}/keys",
    methods=["PUT"],
    roles=ADMIN,
    prefetch=True,
    body=NEW_KEYS,
    responses={200: AGENT},
    errors=(409,),  # a disabled or a federated agent
)
def replace_agent_keys(ctx: Ctx, agent_id: str) -> dict[str, Any]:
    """Replace a key-only agent's public keys (private_key_jwt), registered (jwks) or published
    (jwks_uri): the old ones stop at once. An agent with a client secret moves to keys: its
    secret, and every token minted with it, stops working at once (audited)."""
    body = NEW_KEYS(ctx.json())
    return ctx.container.agents.replace_keys(ctx.call, agent_id, body["jwks"], body["jwks_uri"])
