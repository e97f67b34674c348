"""The vault's OAuth 2.0 client: what VaultGuard asks of a provider's endpoints.

- the authorization request (RFC 6749 §4.1.1 with PKCE S256, RFC 7636 §4.3, and an OIDC
  nonce when the provider is an OpenID Provider);
- the authorization response's `iss` (RFC 9207 §2.4: mix-up defence);
- the code exchange (RFC 6749 §4.1.3), the refresh (§6, optionally down-scoped) and
  revocation (RFC 7009 §2.1), all with client_secret_basic (§2.3.1);
- ID token validation, reusing the sign-in's validator (`chalicelib/auth/oidc_idtoken.py`)
  with the provider's JWKS, cached per JWKS URI for the process.

Errors say what the caller should do: `GrantDead` (only the person reconnecting helps:
`invalid_grant`, `invalid_rapt`, `admin_policy_enforced`), `ProviderTransient` (5xx, 429,
timeouts: try again after `retry_after`), `ProviderRejected` (any other refusal, e.g.
`invalid_client`, `invalid_scope`: a configuration problem). Their `reason` is for logs and
`status_reason`; it never contains a token.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from chalicelib.auth.oidc import IdentityClaims, ProviderConfig, ProviderUnavailable, SignInRejected
from chalicelib.auth.oidc_http import TransportError
from chalicelib.domain.vault import DEAD_GRANT_ERRORS, parse_scope
from chalicelib.vault.transport import HttpAnswer, ProviderTransport, RequestsProviderTransport

DISCOVERY_PATH = "/.well-known/openid-configuration"
METADATA_TTL_SECONDS = 3600.0
DEFAULT_RETRY_AFTER = 30
MAX_RETRY_AFTER = 3600
RESERVED_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    }
)


# Exact alternative `iss` values of an issuer: Google's ID tokens carry either
# "https://accounts.google.com" or "accounts.google.com" (Google Identity, "Validating an ID
# token"); exactly those two are accepted for it, nothing else is relaxed.
ISSUER_ALIASES: dict[str | None, tuple[str, ...]] = {"https://accounts.google.com": ("accounts.google.com",)}


class ProviderError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GrantDead(ProviderError):
    """The grant no longer works (`reason` is the provider's error code)."""


class ProviderTransient(ProviderError):
    """The provider could not answer now; try again after `retry_after` seconds."""

    def __init__(self, reason: str, retry_after: int = DEFAULT_RETRY_AFTER, *, hinted: bool = False) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.hinted = hinted  # the provider said when (Retry-After), rather than our default


class ProviderRejected(ProviderError):
    """The provider refused for another reason (client, scope or configuration)."""


@dataclass(frozen=True)
class Endpoints:
    """Where a provider is, resolved from a preset, discovery or the tenant's settings."""

    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None = None
    revocation_endpoint: str | None = None
    jwks_uri: str | None = None
    iss_parameter_supported: bool = False


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str = field(repr=False)
    # client_secret_post (RFC 6749 §2.3.1, credentials in the form) instead of
    # client_secret_basic: Auth0 applications authenticate so (chalicelib/vault/auth0.py).
    post_credentials: bool = False


@dataclass(frozen=True)
class TokenSet:
    """A token endpoint's successful answer (RFC 6749 §5.1); `scope` None when not sent."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int | None
    refresh_token: str | None = field(default=None, repr=False)
    scope: tuple[str, ...] | None = None
    id_token: str | None = field(default=None, repr=False)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def retry_after(headers: Mapping[str, str]) -> int:
    """Seconds from a `Retry-After` header (RFC 9110 §10.2.3, delay-seconds form), bounded."""
    raw = (headers.get("retry-after") or "").strip()
    if raw.isdigit():
        return max(1, min(int(raw), MAX_RETRY_AFTER))
    return DEFAULT_RETRY_AFTER


class ProviderClient:
    """One per process: stateless towards providers except for cached discovery documents
    and JWKS keys."""

    def __init__(
        self, transport: ProviderTransport | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self._discovered: dict[str, tuple[float, dict[str, Any]]] = {}
        self._keys: dict[str, Any] = {}

    @property
    def _http(self) -> ProviderTransport:
        if self._transport is None:
            self._transport = RequestsProviderTransport()
        return self._transport

    # -- discovery -------------------------------------------------------------------------------
    def discover(self, issuer: str) -> dict[str, Any]:
        """The provider's discovery document (OIDC Discovery §4), its issuer checked (§4.3);
        cached for an hour. ProviderTransient when it cannot be fetched or used."""
        now = self._clock()
        with self._lock:
            cached = self._discovered.get(issuer)
            if cached is not None and now < cached[0]:
                return cached[1]
        doc = self._get_json(issuer.rstrip("/") + DISCOVERY_PATH, "discovery")
        if doc.get("issuer") != issuer:
            raise ProviderTransient("discovery_issuer_mismatch")
        with self._lock:
            self._discovered[issuer] = (now + METADATA_TTL_SECONDS, doc)
        return doc

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            status, body = self._http.get(url)
        except TransportError as exc:
            raise ProviderTransient(f"{what}_unreachable: {exc}") from None
        doc = _json_object(body) if status == 200 else None
        if doc is None:
            raise ProviderTransient(f"{what}_http_{status}")
        return doc

    # -- the authorization request and response -------------------------------------------------
    def authorization_url(
        self,
        endpoints: Endpoints,
        client: OAuthClient,
        *,
        redirect_uri: str,
        scopes: Sequence[str],
        state: str,
        code_challenge: str,
        nonce: str | None,
        extra: Mapping[str, str] | None = None,
    ) -> str:
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if nonce is not None:
            params["nonce"] = nonce
        for name, value in (extra or {}).items():
            if name in RESERVED_PARAMS:
                raise ValueError(f"{name} is set by VaultGuard")
            params[name] = value
        base = endpoints.authorization_endpoint
        return base + ("&" if urlsplit(base).query else "?") + urlencode(params)

    @staticmethod
    def response_issuer_problem(expected: str | None, iss: str | None, *, required: bool) -> str | None:
        """RFC 9207 §2.4: None when acceptable, else `iss_missing` or `iss_mismatch`."""
        if iss is None:
            return "iss_missing" if required else None
        if expected is None or iss != expected:
            return "iss_mismatch"
        return None

    # -- the token endpoint ----------------------------------------------------------------------
    def exchange_code(
        self, endpoints: Endpoints, client: OAuthClient, *, code: str, redirect_uri: str, code_verifier: str
    ) -> TokenSet:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        return self._token_request(endpoints, client, form)

    def refresh(
        self,
        endpoints: Endpoints,
        client: OAuthClient,
        refresh_token: str,
        scope: Sequence[str] | None = None,
    ) -> TokenSet:
        """RFC 6749 §6; `scope` narrows the new access token (it must be within the grant).
        A rotating provider answers a new `refresh_token`, which replaces the old one."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scope:
            form["scope"] = " ".join(scope)
        return self._token_request(endpoints, client, form)

    def _token_request(self, endpoints: Endpoints, client: OAuthClient, form: dict[str, str]) -> TokenSet:
        answer = self._post(endpoints.token_endpoint, form, client, "token_endpoint")
        body = _json_object(answer.body)
        if answer.status != 200:
            raise _refusal(answer, body, "token_endpoint")
        if body is None:
            raise ProviderTransient("token_response_not_json")
        access_token = body.get("access_token")
        token_type = body.get("token_type")
        if not isinstance(access_token, str) or not access_token or not isinstance(token_type, str):
            raise ProviderRejected("token_response_incomplete")
        expires_in = body.get("expires_in")
        if isinstance(expires_in, str) and expires_in.isdigit():
            expires_in = int(expires_in)
        refresh_token = body.get("refresh_token")
        id_token = body.get("id_token")
        return TokenSet(
            access_token=access_token,
            token_type=token_type,
            expires_in=expires_in
            if isinstance(expires_in, int) and not isinstance(expires_in, bool)
            else None,
            refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
            scope=parse_scope(body.get("scope")),
            id_token=id_token if isinstance(id_token, str) and id_token else None,
        )

    # -- revocation ------------------------------------------------------------------------------
    def revoke(
        self, endpoints: Endpoints, client: OAuthClient, token: str, token_type_hint: str = "refresh_token"
    ) -> None:
        """RFC 7009 §2.1. A token the provider no longer knows counts as revoked (§2.2:
        invalid tokens get 200; Google answers 400 `invalid_token`)."""
        if endpoints.revocation_endpoint is None:
            raise ProviderRejected("no_revocation_endpoint")
        form = {"token": token, "token_type_hint": token_type_hint}
        answer = self._post(endpoints.revocation_endpoint, form, client, "revocation_endpoint")
        if answer.status == 200:
            return
        body = _json_object(answer.body)
        if answer.status == 400 and body is not None and body.get("error") == "invalid_token":
            return
        raise _refusal(answer, body, "revocation_endpoint")

    def post_form(self, url: str, form: dict[str, str], client: OAuthClient, what: str) -> HttpAnswer:
        """A form POST with the client's authentication; any HTTP status is an answer
        (extension grants parse it themselves, e.g. chalicelib/vault/auth0.py)."""
        return self._post(url, form, client, what)

    def _post(self, url: str, form: dict[str, str], client: OAuthClient, what: str) -> HttpAnswer:
        basic: tuple[str, str] | None = (client.client_id, client.client_secret)
        if client.post_credentials:
            form, basic = {**form, "client_id": client.client_id, "client_secret": client.client_secret}, None
        try:
            return self._http.post(url, form, basic)
        except TransportError as exc:
            raise ProviderTransient(f"{what}_unreachable: {exc}") from None

    # -- ID tokens -------------------------------------------------------------------------------
    def validate_id_token(
        self, endpoints: Endpoints, client: OAuthClient, id_token: str, *, nonce: str
    ) -> IdentityClaims:
        """OIDC Core §3.1.3.7 by the sign-in's validator: signature with a key of the
        provider's JWKS, exact `iss`, `aud` = our client id, `nonce`, times. ProviderRejected
        (`id_token_invalid: ...`) or ProviderTransient (JWKS unreachable)."""
        from chalicelib.auth import oidc_idtoken

        if endpoints.issuer is None or endpoints.jwks_uri is None:
            raise ProviderRejected("id_token_invalid: the provider has no issuer or JWKS")
        jwks_uri = endpoints.jwks_uri
        with self._lock:
            keys = self._keys.get(jwks_uri)
            if keys is None:
                keys = oidc_idtoken.ProviderKeys(lambda: self._jwks(jwks_uri), self._clock)
                self._keys[jwks_uri] = keys
        canonical = ProviderConfig(
            issuer=endpoints.issuer,
            client_id=client.client_id,
            client_secret=client.client_secret,
            scopes=("openid",),
        )
        issuers = (endpoints.issuer, *ISSUER_ALIASES.get(endpoints.issuer, ()))
        for issuer in issuers:
            config = copy.copy(canonical)
            object.__setattr__(config, "issuer", issuer)  # an alias is not a URL: no re-check
            try:
                return oidc_idtoken.validate(
                    id_token, keys=keys, config=config, nonce=nonce, max_age=None, now=self._clock()
                )
            except ProviderUnavailable as exc:
                raise ProviderTransient(f"jwks: {exc.reason}") from None
            except SignInRejected as exc:
                if exc.reason == "wrong_issuer" and issuer != issuers[-1]:
                    continue  # an exact alternative spelling of the same issuer
                raise ProviderRejected(f"id_token_invalid: {exc.reason}") from None
        raise ProviderRejected("id_token_invalid: wrong_issuer")

    def _jwks(self, url: str) -> dict[str, Any]:
        try:
            return self._get_json(url, "jwks")
        except ProviderTransient as exc:
            raise ProviderUnavailable(exc.reason) from None


def _refusal(answer: HttpAnswer, body: dict[str, Any] | None, what: str) -> ProviderError:
    """RFC 6749 §5.2 errors by what the caller should do about them."""
    error = body.get("error") if body is not None else None
    code = error if isinstance(error, str) and error.isascii() and len(error) <= 64 else None
    if answer.status >= 500 or answer.status == 429:
        hinted = (answer.headers.get("retry-after") or "").strip().isdigit()
        return ProviderTransient(f"{what}_http_{answer.status}", retry_after(answer.headers), hinted=hinted)
    subtype = body.get("error_subtype") if body is not None else None
    if code == "invalid_grant" and subtype in DEAD_GRANT_ERRORS:  # Google: invalid_rapt
        return GrantDead(str(subtype))
    if code in DEAD_GRANT_ERRORS:
        return GrantDead(code or "invalid_grant")
    return ProviderRejected(f"{what}_error: {code}" if code else f"{what}_http_{answer.status}")
