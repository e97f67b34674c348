"""The Auth0 Token Vault backend (issue 13, item 7): Auth0 keeps the provider's (e.g.
Google's) tokens in its Token Vault; VaultGuard keeps only the **Auth0 refresh token**
(encrypted like any other refresh token) and turns it into the provider's access token with
Auth0's federated-connection token exchange whenever the vault would otherwise refresh.

- Settings (`PUT /vault/providers/auth0`): the Auth0 issuer (`https://<domain>/`), a
  confidential Auth0 application's client id and secret, the Auth0 `connection` (e.g.
  `google-oauth2`) and the provider scopes a connection may ask for. The connection name is
  kept in the stored `authorize_params` (it is an authorization request parameter too).
- Connect: Auth0's `/authorize` (from its discovery document) with `connection` (pinned on
  the connection record then, so that changing the setting later does not re-point existing
  connections; records from before the pin fall back to the setting),
  `connection_scope=<provider scopes>`, `access_type=offline` and the Auth0 scope
  `openid email offline_access`, code + PKCE and the ID token as for any OpenID Provider.
  The callback then makes one federated exchange: it proves the Token Vault holds the
  account and yields the provider's access token and granted scopes (the code exchange's
  own access token is Auth0's, never served).
- Refresh: the federated exchange instead of a refresh_token grant; it cannot narrow a
  token's scope (no `scope` parameter), so the answer's `scope` says what the token holds,
  and a connection's `allowed_scopes` may not be narrower than what it was granted (an
  admin connects with only the scopes agents may use instead).
- Revocation: Auth0's `/oauth/revoke` (RFC 7009) for the Auth0 refresh token.
- Every Auth0 call authenticates with client_secret_post, as Auth0's documentation shows.

The exchange, per Auth0's Authentication API, "Token Vault Token Exchange / Get Token"
(https://auth0.com/docs/api/authentication/token-vault-token-exchange/get-token):
`POST /oauth/token` with `grant_type=urn:auth0:params:oauth:grant-type:token-exchange:
federated-connection-access-token`, `client_id`, `client_secret`, `subject_token` (the Auth0
refresh token), `subject_token_type=urn:ietf:params:oauth:token-type:refresh_token`,
`requested_token_type=http://auth0.com/oauth/token-type/federated-connection-access-token`,
`connection`, optional `login_hint`; answer `{access_token, expires_in, scope,
issued_token_type, token_type}` (the SDKs turn `expires_in` into an absolute `expires_at`;
an absolute `expires_at` on the wire is accepted too). Token Vault does not support refresh
token rotation, so the Auth0 application must have rotation off.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings
from chalicelib.domain.vault import parse_scope
from chalicelib.errors import InvalidRequest
from chalicelib.vault.client import (
    RESERVED_PARAMS,
    Endpoints,
    GrantDead,
    OAuthClient,
    ProviderClient,
    ProviderRejected,
    ProviderTransient,
    TokenSet,
    retry_after,
)
from chalicelib.vault.transport import HttpAnswer

if TYPE_CHECKING:
    from chalicelib.store.models import VaultProviderModel
    from chalicelib.vault.providers import Resolved, TenantProvider

AUTH0 = "auth0"
FEDERATED_GRANT = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
FEDERATED_TOKEN_TYPE = "http://auth0.com/oauth/token-type/federated-connection-access-token"
AUTH0_SCOPES = ("openid", "email", "offline_access")  # what VaultGuard asks of Auth0 itself
CONNECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
# The Token Vault has no tokenset for the account and connection (Auth0 answers 401): only
# the person connecting again (through Auth0, to the provider) helps.
NO_FEDERATED_IDENTITY = "no_federated_identity"
# Parameters of the authorization request that this backend sets itself.
OWN_PARAMS = frozenset({"connection", "connection_scope", "access_type"})


# -- settings and resolution ---------------------------------------------------------------------
def settings_fields(settings: Settings, body: Mapping[str, Any]) -> dict[str, Any]:
    """The stored fields of `PUT /vault/providers/auth0` (the secret aside)."""
    from chalicelib.domain.webhooks import check_url

    for name in ("authorization_endpoint", "token_endpoint", "revocation_endpoint"):
        if body.get(name) is not None:
            raise InvalidRequest("Auth0 is given by its issuer (endpoints come from its discovery document).")
    issuer = body.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise InvalidRequest("issuer is required for auth0: https://<your Auth0 domain>/.")
    issuer = issuer if issuer.endswith("/") else issuer + "/"  # Auth0's issuers end in a slash
    try:
        check_url(issuer, require_https=settings.stage != "local")
    except ValueError as exc:
        raise InvalidRequest(f"issuer: {exc}") from None
    connection = body.get("connection")
    if not isinstance(connection, str) or not CONNECTION_NAME.fullmatch(connection):
        raise InvalidRequest(
            "connection is required for auth0: the Auth0 connection's name, e.g. google-oauth2."
        )
    if not body.get("scopes"):
        raise InvalidRequest("scopes is required for auth0: the provider scopes connections may ask for.")
    params = dict(body.get("authorize_params") or {})
    refused = sorted(set(params) & (RESERVED_PARAMS | OWN_PARAMS))
    if refused:
        raise InvalidRequest(f"authorize_params may not set {', '.join(refused)}.")
    return {
        "client_id": body["client_id"],
        "scopes": list(dict.fromkeys(body["scopes"])),
        "authorize_params": {**params, "connection": connection},
        "issuer": issuer,
        "authorization_endpoint": None,
        "token_endpoint": None,
        "revocation_endpoint": None,
    }


def resolve(http: ProviderClient, tenant: TenantProvider) -> Resolved:
    """The tenant's Auth0 as a provider: endpoints from Auth0's discovery document, the
    client authenticating with client_secret_post."""
    from chalicelib.vault.providers import Resolved, discovered_endpoints

    assert tenant.issuer is not None
    endpoints = discovered_endpoints(http, tenant.issuer)
    client = OAuthClient(tenant.client_id, tenant.client_secret, post_credentials=True)
    params = {**tenant.authorize_params, "access_type": "offline"}
    return Resolved(AUTH0, endpoints, client, "tenant", tenant.scopes, params, None, True, False)


def authorization_request(
    provider: str, requested: Sequence[str], asked: list[str], params: Mapping[str, str]
) -> tuple[list[str], Mapping[str, str]]:
    """The authorization request's `scope` and extra parameters: unchanged for other
    providers; for Auth0 the provider scopes go in `connection_scope`, `scope` asks Auth0
    for the ID token and its refresh token."""
    if provider != AUTH0:
        return asked, params
    return list(AUTH0_SCOPES), {**params, "connection_scope": " ".join(requested)}


def can_down_scope(provider: str) -> bool:
    """Whether a refresh can narrow a token to fewer scopes (Auth0's federated exchange cannot)."""
    return provider != AUTH0


def narrowing_problem(provider: str, allowed: Sequence[str], granted: Sequence[str]) -> str | None:
    """Why `allowed_scopes` cannot be set on a connection whose tokens cannot be narrowed
    (every token carries all its granted API scopes), else None."""
    from chalicelib.domain.vault_refresh import api_scopes

    left_out = [s for s in api_scopes(granted) if s not in set(allowed)]
    if can_down_scope(provider) or not left_out:
        return None
    return (
        "Auth0 Token Vault cannot narrow a token's scopes, so every token of this connection "
        f"carries {' '.join(api_scopes(granted))}; allowed_scopes must include them all "
        f"(left out: {' '.join(left_out)}). To let agents use fewer, connect again asking Auth0 "
        "only for the scopes agents may use."
    )


def pinned_connection(provider: str, params: Mapping[str, str]) -> str | None:
    """The Auth0 connection name a new connection is made through (kept on its record)."""
    name = params.get("connection") if provider == AUTH0 else None
    return name if isinstance(name, str) and CONNECTION_NAME.fullmatch(name) else None


def federated_connection(item: VaultProviderModel | None) -> str | None:
    """The Auth0 connection name the tenant configured (None when missing)."""
    params = item.authorize_params.as_dict() if item is not None and item.authorize_params else {}
    name = params.get("connection")
    return name if isinstance(name, str) and CONNECTION_NAME.fullmatch(name) else None


# -- the hooks of the connect callback and of the vault's refresh ---------------------------------
def connect_tokens(
    http: ProviderClient,
    provider: str,
    item: VaultProviderModel | None,
    endpoints: Endpoints,
    client: OAuthClient,
    tokens: TokenSet,
    pinned: str | None = None,
) -> TokenSet:
    """After the code exchange: other providers' tokens as they are; for Auth0, the
    provider's access token and scopes from the Token Vault, with Auth0's refresh token."""
    if provider != AUTH0:
        return tokens
    if tokens.refresh_token is None:
        raise ProviderRejected("no_refresh_token")
    federated = exchange(http, endpoints, client, tokens.refresh_token, _connection_of(item, pinned))
    return TokenSet(
        access_token=federated.access_token,
        token_type=federated.token_type,
        expires_in=federated.expires_in,
        refresh_token=tokens.refresh_token,
        scope=federated.scope,
        id_token=tokens.id_token,
    )


def refresh(
    http: ProviderClient,
    provider: str,
    item: VaultProviderModel | None,
    endpoints: Endpoints,
    client: OAuthClient,
    refresh_token: str,
    scope: Sequence[str] | None,
    pinned: str | None = None,
) -> TokenSet:
    """The vault's refresh: RFC 6749 §6 at other providers, the federated exchange at Auth0
    (which cannot narrow `scope`: the answer's scope is what the token holds)."""
    if provider != AUTH0:
        return http.refresh(endpoints, client, refresh_token, scope)
    return exchange(http, endpoints, client, refresh_token, _connection_of(item, pinned))


def _connection_of(item: VaultProviderModel | None, pinned: str | None) -> str:
    """The connection's own pinned Auth0 connection, else (records made before the pin) the
    tenant's current setting."""
    if pinned is not None and CONNECTION_NAME.fullmatch(pinned):
        return pinned
    name = federated_connection(item)
    if name is None:
        raise ProviderRejected("auth0_connection_not_configured")
    return name


# -- the exchange itself --------------------------------------------------------------------------
def exchange(
    http: ProviderClient,
    endpoints: Endpoints,
    client: OAuthClient,
    refresh_token: str,
    connection: str,
    login_hint: str | None = None,
) -> TokenSet:
    """Auth0's refresh token -> the federated connection's access token (see the module
    docstring for the documented request). Errors: `GrantDead` for a dead Auth0 refresh
    token (400 `invalid_grant`) or no tokenset for the connection (401, reason
    `no_federated_identity`); `ProviderTransient` for 429/5xx/unreachable;
    `ProviderRejected` otherwise (e.g. `invalid_client`, the grant type not enabled)."""
    form = {
        "grant_type": FEDERATED_GRANT,
        "subject_token": refresh_token,
        "subject_token_type": REFRESH_TOKEN_TYPE,
        "requested_token_type": FEDERATED_TOKEN_TYPE,
        "connection": connection,
    }
    if login_hint:
        form["login_hint"] = login_hint
    answer = http.post_form(endpoints.token_endpoint, form, client, "token_endpoint")
    body = _json(answer)
    if answer.status != 200:
        raise _refusal(answer, body)
    if body is None:
        raise ProviderTransient("token_response_not_json")
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise ProviderRejected("token_response_incomplete")
    issued = body.get("issued_token_type")
    if issued is not None and issued != FEDERATED_TOKEN_TYPE:
        raise ProviderRejected("token_response_unexpected_issued_token_type")
    token_type = body.get("token_type")
    return TokenSet(
        access_token=access_token,
        token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
        expires_in=_lifetime(body),
        scope=parse_scope(body.get("scope")),
    )


def _lifetime(body: Mapping[str, Any]) -> int | None:
    expires_in = body.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)
    if isinstance(expires_in, int) and not isinstance(expires_in, bool):
        return max(0, expires_in)
    expires_at = body.get("expires_at")  # absolute seconds, as the SDKs present it
    if isinstance(expires_at, int) and not isinstance(expires_at, bool):
        return max(0, expires_at - int(time.time()))
    return None


def _json(answer: HttpAnswer) -> dict[str, Any] | None:
    import json

    try:
        value = json.loads(answer.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _refusal(answer: HttpAnswer, body: dict[str, Any] | None) -> Exception:
    error = body.get("error") if body is not None else None
    code = error if isinstance(error, str) and error.isascii() and len(error) <= 64 else None
    if answer.status >= 500 or answer.status == 429:
        hinted = (answer.headers.get("retry-after") or "").strip().isdigit()
        return ProviderTransient(
            f"token_endpoint_http_{answer.status}", retry_after(answer.headers), hinted=hinted
        )
    if code == "invalid_client":
        return ProviderRejected("token_endpoint_error: invalid_client")
    if answer.status == 401:
        return GrantDead(NO_FEDERATED_IDENTITY)
    if code == "invalid_grant":
        return GrantDead("invalid_grant")
    return ProviderRejected(
        f"token_endpoint_error: {code}" if code else f"token_endpoint_http_{answer.status}"
    )
