"""Providers a tenant can connect: the presets, and how a provider's endpoints, scopes and
OAuth client are resolved from the preset, the platform's settings and the tenant's own
settings (`PUT /vault/providers/{provider}`).

- `google`: Google's endpoints as published, `access_type=offline` and `prompt=consent` (a
  refresh token every time; no `include_granted_scopes`, so a grant holds only what was
  asked), Calendar and Gmail read-only scopes. Revoking any token of a Google grant ends
  the grant (`revocation_ends_grant`).
- `local-google`: the local stand-in under `make run` (discovery from its issuer;
  `offline_access` asks for the refresh token), when its settings are present. Like Google,
  it keeps one grant per person and client, which revoking any of its tokens ends.
- `oidc`: any OpenID Provider, from its issuer's discovery document.
- `oauth2`: any OAuth 2.0 server, endpoints given explicitly (no ID token: no account id).
- `auth0`: the Auth0 Token Vault backend (chalicelib/vault/auth0.py): Auth0 keeps the
  provider's tokens, VaultGuard keeps Auth0's refresh token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.auth.oidc_http import url_allowed
from chalicelib.config import Settings
from chalicelib.vault import auth0
from chalicelib.vault.auth0 import AUTH0
from chalicelib.vault.client import Endpoints, OAuthClient, ProviderClient, ProviderTransient

GOOGLE, LOCAL_GOOGLE, OIDC, OAUTH2 = "google", "local-google", "oidc", "oauth2"
PROVIDERS = (GOOGLE, LOCAL_GOOGLE, OIDC, OAUTH2, AUTH0)
CALENDAR_READONLY = "https://www.googleapis.com/auth/calendar.readonly"
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"

GOOGLE_ENDPOINTS = Endpoints(
    authorization_endpoint="https://accounts.google.com/o/oauth2/v2/auth",
    token_endpoint="https://oauth2.googleapis.com/token",
    issuer="https://accounts.google.com",
    revocation_endpoint="https://oauth2.googleapis.com/revoke",
    jwks_uri="https://www.googleapis.com/oauth2/v3/certs",
    iss_parameter_supported=False,
)


@dataclass(frozen=True)
class Preset:
    name: str
    kind: str  # "oidc" (discovery or fixed endpoints, ID token) | "oauth2" (no ID token)
    scopes: tuple[str, ...]  # what a connection may ask for
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    offline_scope: str | None = None  # added to every request: the refresh token's scope
    endpoints: Endpoints | None = None  # fixed; else discovery from the issuer
    revocation_ends_grant: bool = False


GOOGLE_PRESET = Preset(
    GOOGLE,
    "oidc",
    ("openid", "email", CALENDAR_READONLY, GMAIL_READONLY),
    {"access_type": "offline", "prompt": "consent"},
    endpoints=GOOGLE_ENDPOINTS,
    revocation_ends_grant=True,
)
LOCAL_GOOGLE_PRESET = Preset(
    LOCAL_GOOGLE,
    "oidc",
    ("openid", "email", "calendar.readonly", "gmail.readonly"),
    {"prompt": "consent"},
    offline_scope="offline_access",
    revocation_ends_grant=True,  # as at Google: one grant per person and client
)


@dataclass(frozen=True)
class TenantProvider:
    """What a tenant set for a provider (`VPROVIDER#<name>`), the secret decrypted."""

    client_id: str
    client_secret: str = field(repr=False)
    issuer: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    revocation_endpoint: str | None = None
    scopes: tuple[str, ...] = ()
    authorize_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    """A provider ready for a connection: its endpoints, client, scopes and whose client."""

    name: str
    endpoints: Endpoints
    client: OAuthClient
    client_source: str  # "tenant" | "platform"
    scopes: tuple[str, ...]
    authorize_params: Mapping[str, str]
    offline_scope: str | None
    expects_id_token: bool
    revocation_ends_grant: bool


class ProviderUnavailable(Exception):
    """The provider is not offered to this tenant (no client, or not configured)."""


def platform_client(settings: Settings, name: str) -> OAuthClient | None:
    if name == GOOGLE and settings.google_client_id and settings.google_client_secret:
        return OAuthClient(settings.google_client_id, settings.google_client_secret)
    if (
        name == LOCAL_GOOGLE
        and settings.local_google_issuer
        and settings.local_google_client_id
        and settings.local_google_client_secret
    ):
        return OAuthClient(settings.local_google_client_id, settings.local_google_client_secret)
    return None


def preset(settings: Settings, name: str) -> Preset | None:
    if name == GOOGLE:
        return GOOGLE_PRESET
    if name == LOCAL_GOOGLE and settings.local_google_issuer:
        return LOCAL_GOOGLE_PRESET
    return None


def offered(settings: Settings, name: str, tenant: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What `GET /vault/providers` says of a provider for a tenant (`tenant`: its stored
    settings, no secret), or None when the tenant cannot use it."""
    known = preset(settings, name)
    if tenant is None and (known is None or platform_client(settings, name) is None):
        return None
    if tenant is None and known is not None:
        return {"provider": name, "kind": known.kind, "client": "platform", "scopes": list(known.scopes)}
    assert tenant is not None
    scopes = list(tenant.get("scopes") or (known.scopes if known else ()))
    kind = known.kind if known is not None else (name if name in (OIDC, AUTH0) else OAUTH2)
    if name == LOCAL_GOOGLE and known is None:
        return None  # the stand-in is off
    return {"provider": name, "kind": kind, "client": "tenant", "scopes": scopes}


def resolve(settings: Settings, http: ProviderClient, name: str, tenant: TenantProvider | None) -> Resolved:
    """The provider `name` for a tenant with (or without) its own settings; discovery is
    fetched (cached) for OpenID Providers without fixed endpoints. ProviderUnavailable when
    not offered; ProviderTransient when discovery fails."""
    known = preset(settings, name)
    if name == LOCAL_GOOGLE and known is None:
        raise ProviderUnavailable(name)
    if name == AUTH0:
        if tenant is None:
            raise ProviderUnavailable(name)
        return auth0.resolve(http, tenant)
    client = (
        OAuthClient(tenant.client_id, tenant.client_secret)
        if tenant is not None
        else platform_client(settings, name)
    )
    if client is None:
        raise ProviderUnavailable(name)
    source = "tenant" if tenant is not None else "platform"
    if known is not None:
        endpoints = known.endpoints
        if endpoints is None:
            issuer = settings.local_google_issuer if name == LOCAL_GOOGLE else None
            assert issuer is not None
            endpoints = discovered_endpoints(http, issuer)
        scopes = tenant.scopes if tenant is not None and tenant.scopes else known.scopes
        params = {**known.authorize_params, **(tenant.authorize_params if tenant else {})}
        return Resolved(
            name,
            endpoints,
            client,
            source,
            scopes,
            params,
            known.offline_scope,
            True,
            known.revocation_ends_grant,
        )
    assert tenant is not None
    if name == OIDC:
        assert tenant.issuer is not None
        endpoints = discovered_endpoints(http, tenant.issuer)
        return Resolved(
            name, endpoints, client, source, tenant.scopes, tenant.authorize_params, None, True, False
        )
    assert tenant.authorization_endpoint is not None and tenant.token_endpoint is not None
    endpoints = Endpoints(
        authorization_endpoint=tenant.authorization_endpoint,
        token_endpoint=tenant.token_endpoint,
        issuer=tenant.issuer,
        revocation_endpoint=tenant.revocation_endpoint,
    )
    return Resolved(
        name, endpoints, client, source, tenant.scopes, tenant.authorize_params, None, False, False
    )


def discovered_endpoints(http: ProviderClient, issuer: str) -> Endpoints:
    doc = http.discover(issuer)
    urls: dict[str, str | None] = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "revocation_endpoint"):
        value = doc.get(name)
        required = name != "revocation_endpoint"
        if value is None and not required:
            urls[name] = None
            continue
        if not isinstance(value, str) or not url_allowed(value):
            raise ProviderTransient(f"discovery_bad_{name}")
        urls[name] = value
    authorization, token = urls["authorization_endpoint"], urls["token_endpoint"]
    assert authorization is not None and token is not None
    return Endpoints(
        authorization_endpoint=authorization,
        token_endpoint=token,
        issuer=issuer,
        revocation_endpoint=urls["revocation_endpoint"],
        jwks_uri=urls["jwks_uri"],
        iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
    )
