"""OpenID Connect relying party: VaultGuard as a confidential client of the people's IdP (BFF).

Authorization code flow with PKCE S256 (OIDC Core §3.1, RFC 7636), discovery (OIDC Discovery
§4, cached for an hour), the authorization response `iss` parameter (RFC 9207), the code
exchange with client_secret_basic (RFC 6749 §2.3.1, §4.1.3), ID token validation (OIDC Core
§3.1.3.7, in `oidc_idtoken`) and RP-initiated logout (OIDC RP-Initiated Logout 1.0 §2).

Errors: `SignInRejected` (the answer is not acceptable, a 4xx) and its subclass
`ProviderUnavailable` (the provider could not be asked or answered nonsense, a 503). Their
`reason` is for logs only. Importing this module loads neither `requests` nor `cryptography`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from .oidc_http import HttpTransport, RequestsTransport, TransportError, url_allowed

if TYPE_CHECKING:
    from .oidc_idtoken import ProviderKeys

__all__ = [
    "HttpTransport",
    "IdentityClaims",
    "OidcClient",
    "ProviderConfig",
    "ProviderMetadata",
    "ProviderUnavailable",
    "RequestsTransport",
    "SignInRejected",
    "TransportError",
    "new_pkce_pair",
]

DISCOVERY_PATH = "/.well-known/openid-configuration"
METADATA_TTL_SECONDS = 3600.0
_PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 §4.1
_PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url(SHA-256), no padding
_PROMPTS = frozenset({"none", "login", "consent", "select_account"})  # OIDC Core §3.1.2.1
_ERROR_CODE = re.compile(r"[a-z0-9_.:-]{1,64}")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token


class SignInRejected(Exception):
    """The provider's answer or the ID token is not acceptable; ``reason`` is for logs only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderUnavailable(SignInRejected):
    """The provider could not be reached, or its discovery document or JWKS is unusable."""


@dataclass(frozen=True)
class ProviderConfig:
    """One identity provider, by issuer (its discovery document is found from it)."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    tenant_claim: str | None = None  # e.g. Auth0 "org_id", Entra "tid", Keycloak "organization"

    def __post_init__(self) -> None:
        if not isinstance(self.issuer, str) or not url_allowed(self.issuer) or urlsplit(self.issuer).query:
            raise ValueError("issuer must be an https URL without query (http only on a loopback host)")
        if not self.client_id or not self.client_secret:
            raise ValueError("client_id and client_secret are required")
        if "openid" not in self.scopes or not all(_SCOPE_TOKEN.fullmatch(s) for s in self.scopes):
            raise ValueError("scopes must be scope tokens and include 'openid'")


@dataclass(frozen=True)
class ProviderMetadata:
    """What VaultGuard uses from the discovery document (OIDC Discovery §3, RFC 9207 §3)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    iss_parameter_supported: bool


@dataclass(frozen=True)
class IdentityClaims:
    """A validated ID token. A person is (issuer, subject), never their email alone."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool  # only a JSON `true`; "true" (a string) counts as not verified
    name: str | None
    auth_time: int | None
    tenant_hint: str | None  # the value of ProviderConfig.tenant_claim, when a string
    id_token: str = field(repr=False)


def new_pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge) for PKCE S256 (RFC 7636 §4.1-4.2); 256 random bits."""
    verifier = secrets.token_urlsafe(32)  # 43 characters
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _with_query(endpoint: str, params: Mapping[str, str]) -> str:
    """The endpoint with ``params`` appended to any query it already has (e.g. Entra B2C's ?p=)."""
    return endpoint + ("&" if urlsplit(endpoint).query else "?") + urlencode(params)


class OidcClient:
    """One per provider and process: it caches the discovery document and the JWKS keys."""

    def __init__(
        self,
        config: ProviderConfig,
        transport: HttpTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._metadata_expires = 0.0
        self._keys: ProviderKeys | None = None

    @property
    def _http(self) -> HttpTransport:
        if self._transport is None:
            self._transport = RequestsTransport()
        return self._transport

    # -- discovery ---------------------------------------------------------------------------

    def metadata(self) -> ProviderMetadata:
        """The provider's metadata, fetched on first use and again after an hour."""
        with self._lock:
            now = self._clock()
            if self._metadata is None or now >= self._metadata_expires:
                self._metadata = self._discover()
                self._metadata_expires = now + METADATA_TTL_SECONDS
            return self._metadata

    def _discover(self) -> ProviderMetadata:
        """OIDC Discovery §4: the issuer without its trailing slash, then the well-known path;
        §4.3: the document's issuer must be identical to the configured one."""
        doc = self.get_json(self.config.issuer.rstrip("/") + DISCOVERY_PATH, "discovery")
        if doc.get("issuer") != self.config.issuer:
            raise ProviderUnavailable("discovery_issuer_mismatch")
        urls: dict[str, str] = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = doc.get(name)
            if not isinstance(value, str) or not url_allowed(value):
                raise ProviderUnavailable(f"discovery_bad_{name}")
            urls[name] = value
        end_session = doc.get("end_session_endpoint")
        if end_session is not None and not (isinstance(end_session, str) and url_allowed(end_session)):
            raise ProviderUnavailable("discovery_bad_end_session_endpoint")
        return ProviderMetadata(
            issuer=self.config.issuer,
            end_session_endpoint=end_session,
            iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
            **urls,
        )

    def get_json(self, url: str, what: str) -> dict[str, Any]:
        """GET a JSON object from the provider (discovery, JWKS) or ProviderUnavailable."""
        try:
            status, body = self._http.get(url)
        except TransportError as exc:
            raise ProviderUnavailable(f"{what}_unreachable: {exc}") from None
        if status != 200:
            raise ProviderUnavailable(f"{what}_http_{status}")
        doc = _json_object(body)
        if doc is None:
            raise ProviderUnavailable(f"{what}_not_json")
        return doc

    # -- the authorization request and response ----------------------------------------------

    def authorization_url(
        self,
        *,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_challenge: str,
        prompt: str | None = None,
        max_age: int | None = None,
    ) -> str:
        """OIDC Core §3.1.2.1 with PKCE S256 (RFC 7636 §4.3). ``prompt="login"`` and
        ``max_age`` force a fresh sign-in (step-up approvals)."""
        if not state or not nonce:
            raise ValueError("state and nonce are required")
        if not _PKCE_CHALLENGE.fullmatch(code_challenge):
            raise ValueError("code_challenge must be an S256 challenge")
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.config.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if prompt is not None:
            if not prompt or not set(prompt.split(" ")) <= _PROMPTS:
                raise ValueError(f"unknown prompt value: {prompt!r}")
            params["prompt"] = prompt
        if max_age is not None:
            params["max_age"] = str(_non_negative(max_age))
        return _with_query(self.metadata().authorization_endpoint, params)

    def check_response_issuer(self, iss_param: str | None) -> None:
        """RFC 9207 §2.4: an ``iss`` parameter must equal the issuer, and is required when the
        provider says it sends one (a mix-up attack strips or swaps it)."""
        metadata = self.metadata()
        if iss_param is None:
            if metadata.iss_parameter_supported:
                raise SignInRejected("iss_parameter_missing")
        elif iss_param != metadata.issuer:
            raise SignInRejected("iss_parameter_mismatch")

    # -- the token request ---------------------------------------------------------------------

    def sign_in(
        self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str, max_age: int | None = None
    ) -> IdentityClaims:
        """Exchange the code (RFC 6749 §4.1.3, client_secret_basic, PKCE verifier), then
        validate the ID token of the answer (OIDC Core §3.1.3.5-3.1.3.7)."""
        if not isinstance(code, str) or not code or len(code) > 4096:
            raise SignInRejected("missing_code")
        if not _PKCE_VERIFIER.fullmatch(code_verifier):
            raise ValueError("code_verifier is not an RFC 7636 verifier")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        credentials = (self.config.client_id, self.config.client_secret)
        try:
            status, body = self._http.post_form(self.metadata().token_endpoint, form, credentials)
        except TransportError as exc:
            raise ProviderUnavailable(f"token_endpoint_unreachable: {exc}") from None
        answer = _json_object(body)
        if status != 200:
            error = answer.get("error") if answer else None
            valid = isinstance(error, str) and _ERROR_CODE.fullmatch(error)
            reason = f"token_endpoint_error: {error}" if valid else f"token_endpoint_http_{status}"
            raise (ProviderUnavailable if status >= 500 else SignInRejected)(reason)
        if answer is None:
            raise SignInRejected("token_response_not_json")
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise SignInRejected("token_response_without_id_token")
        return self.validate_id_token(id_token, nonce=nonce, max_age=max_age)

    def validate_id_token(self, id_token: str, *, nonce: str, max_age: int | None = None) -> IdentityClaims:
        """OIDC Core §3.1.3.7 (see `oidc_idtoken`); SignInRejected when not acceptable."""
        from . import oidc_idtoken  # cryptography is loaded by the first validation only

        if not nonce:
            raise ValueError("the nonce sent in the authorization request is required")
        if max_age is not None:
            _non_negative(max_age)
        if self._keys is None:
            with self._lock:
                if self._keys is None:
                    self._keys = oidc_idtoken.ProviderKeys(
                        lambda: self.get_json(self.metadata().jwks_uri, "jwks"), self._clock
                    )
        return oidc_idtoken.validate(
            id_token,
            keys=self._keys,
            config=self.config,
            nonce=nonce,
            max_age=max_age,
            now=self._clock(),
        )

    # -- logout ----------------------------------------------------------------------------------

    def end_session_url(self, *, id_token_hint: str | None, post_logout_redirect_uri: str) -> str | None:
        """OIDC RP-Initiated Logout 1.0 §2, or None when the provider has no end-session endpoint."""
        endpoint = self.metadata().end_session_endpoint
        if endpoint is None:
            return None
        params = {"client_id": self.config.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        if id_token_hint:
            params["id_token_hint"] = id_token_hint
        return _with_query(endpoint, params)


def _non_negative(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("max_age must be a non-negative integer of seconds")
    return value
