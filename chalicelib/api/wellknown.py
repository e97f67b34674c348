"""Discovery: RFC 8414 authorization server metadata, OIDC discovery, the JWKS."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._permissions import Permission
from chalicelib.api._spec import STRING, obj
from chalicelib.domain.federation import JWT_BEARER
from chalicelib.tokens.rfc7523 import PRIVATE_KEY_JWT, SIGNING_ALGS

bp = Blueprint(__name__)

CACHEABLE = {"Cache-Control": "public, max-age=300"}
METADATA = obj(
    {"issuer": STRING, "token_endpoint": STRING, "jwks_uri": STRING},
    title="AuthorizationServerMetadata",
    description="RFC 8414 authorization server metadata (also served as OpenID discovery).",
)
JWKS = obj(
    {"keys": {"type": "array", "items": obj({"kty": STRING, "kid": STRING}, {"n": STRING, "e": STRING})}},
    title="JsonWebKeySet",
)


CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT]


def metadata(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "grant_types_supported": [
            "client_credentials",
            "urn:openid:params:grant-type:ciba",
            "urn:ietf:params:oauth:grant-type:token-exchange",  # vault tokens; federated agents' JWTs
            JWT_BEARER,  # federated agents (RFC 7523 §2.1): a trusted issuer's JWT
        ],
        "backchannel_authentication_endpoint": f"{issuer}/bc-authorize",
        "backchannel_token_delivery_modes_supported": ["poll"],
        "backchannel_user_code_parameter_supported": False,
        # none: a federated agent (RFC 7591 `none`) sends its client_id with the jwt-bearer or
        # token-exchange grant, its issuer's JWT the proof; no other grant takes it
        "token_endpoint_auth_methods_supported": [*CLIENT_AUTH_METHODS, "none"],
        "introspection_endpoint_auth_methods_supported": [*CLIENT_AUTH_METHODS, "bearer"],
        "revocation_endpoint_auth_methods_supported": [*CLIENT_AUTH_METHODS, "bearer"],
        # private_key_jwt assertions (RFC 8414 §2): the algorithms a registered key may use
        "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGS),
        "introspection_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGS),
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "scopes_supported": [],
    }


@endpoint(
    bp,
    "/.well-known/oauth-authorization-server",
    permissions=(),
    roles=None,
    responses={200: METADATA},
    operation_id="getAuthorizationServerMetadata",
)
def authorization_server(ctx: Ctx) -> Reply:
    return Reply(metadata(ctx.container.settings.issuer), headers=CACHEABLE)


@endpoint(
    bp,
    "/.well-known/openid-configuration",
    permissions=(),
    roles=None,
    responses={200: METADATA},
    operation_id="getOpenIdConfiguration",
)
def openid_configuration(ctx: Ctx) -> Reply:
    return Reply(metadata(ctx.container.settings.issuer), headers=CACHEABLE)


@endpoint(
    bp,
    "/.well-known/jwks.json",
    roles=None,
    responses={200: JWKS},
    operation_id="getJwks",
    permissions=[Permission.KMS_PUBLIC_KEY],
)
def jwks(ctx: Ctx) -> Reply:
    return Reply(ctx.container.keys.document(), headers=CACHEABLE)
