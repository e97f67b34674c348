"""A small JWK Set cache (RFC 7517 §5) for verifying VaultGuard-signed tokens offline.

Keys come only from the configured JWKS URL, never from a token's header (RFC 8725 §3.10).
An unknown ``kid`` triggers at most one refetch per lookup, and refetches are rate-limited
so that a caller spraying random kids cannot turn the verifier into a request amplifier.
Failing to fetch the set is "could not check" (``ServiceUnavailable``), never "token invalid".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from ._errors import InvalidDelegationToken, ServiceUnavailable

__all__ = ["JWKSCache", "jwks_url_for"]

MAX_JWKS_BYTES = 256 * 1024

Fetch = Callable[[str], Mapping[str, Any]]


def jwks_url_for(issuer: str) -> str:
    """The JWKS VaultGuard publishes for ``issuer`` (``<issuer>/.well-known/jwks.json``)."""
    return issuer.rstrip("/") + "/.well-known/jwks.json"


class JWKSCache:
    """RSA verification keys by ``kid``, fetched lazily and refreshed on an unknown kid.

    ``min_refresh_interval``: a successful fetch is not repeated sooner than this, whatever
    kids are asked for. ``error_backoff``: after a failed fetch, lookups that need the network
    fail fast with ``ServiceUnavailable`` for this long. ``max_age``: a set older than this is
    refetched before use, so a key withdrawn from the JWKS stops being accepted.
    """

    def __init__(
        self,
        jwks_url: str,
        *,
        min_refresh_interval: float = 30.0,
        error_backoff: float = 5.0,
        max_age: float = 3600.0,
        max_keys: int = 16,
        timeout: float = 5.0,
        session: requests.Session | None = None,
        fetch: Fetch | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(jwks_url, str) or not jwks_url.startswith(("https://", "http://")):
            raise ValueError("jwks_url must be an http(s) URL")
        if max_keys < 1 or min_refresh_interval < 0 or error_backoff < 0 or max_age <= 0:
            raise ValueError("max_keys must be positive and intervals non-negative")
        self.jwks_url = jwks_url
        self._min_refresh = min_refresh_interval
        self._error_backoff = error_backoff
        self._max_age = max_age
        self._max_keys = max_keys
        self._timeout = timeout
        self._session = session
        self._fetch = fetch or self._http_fetch
        self._clock = clock
        # Replaced as a whole (never mutated), so readers need no lock.
        self._keys: dict[str, RSAPublicKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._last_error: ServiceUnavailable | None = None
        self._lock = threading.Lock()
        self.fetch_count = 0

    def get(self, kid: str) -> RSAPublicKey:
        """The key for ``kid``; ``InvalidDelegationToken("unknown_kid")`` when it is not ours."""
        if not isinstance(kid, str) or not kid:
            raise InvalidDelegationToken("bad_header", "kid is missing")
        key = self._keys.get(kid)
        if key is not None and not self._stale():
            return key
        with self._lock:
            key = self._keys.get(kid)
            if key is not None and not self._stale():
                return key  # another thread refreshed while we waited
            self._refresh_locked()
            key = self._keys.get(kid)
        if key is None:
            raise InvalidDelegationToken("unknown_kid", "kid is not in the issuer's key set")
        return key

    def _stale(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at >= self._max_age

    def _refresh_locked(self) -> None:
        now = self._clock()
        if self._attempted_at is not None:
            since = now - self._attempted_at
            if self._last_error is not None and since < self._error_backoff:
                raise ServiceUnavailable(str(self._last_error))
            if self._last_error is None and since < self._min_refresh and not self._stale():
                return  # rate-limited: the set we hold is recent enough to say "unknown kid"
        self._attempted_at = now
        self.fetch_count += 1
        try:
            document = self._fetch(self.jwks_url)
            keys = self._parse(document)
        except ServiceUnavailable as exc:
            self._last_error = exc
            raise
        except Exception as exc:  # a custom fetch may raise anything
            self._last_error = ServiceUnavailable(f"could not load the JWKS: {type(exc).__name__}")
            raise self._last_error from None
        self._keys = keys
        self._fetched_at = now
        self._last_error = None

    def _parse(self, document: Mapping[str, Any]) -> dict[str, RSAPublicKey]:
        entries = document.get("keys") if isinstance(document, Mapping) else None
        if not isinstance(entries, list):
            raise ServiceUnavailable("the JWKS document has no key list")
        keys: dict[str, RSAPublicKey] = {}
        for jwk in entries:
            if len(keys) >= self._max_keys:
                break
            key = _rsa_signing_key(jwk)
            if key is not None:
                keys.setdefault(jwk["kid"], key)
        return keys

    def _http_fetch(self, url: str) -> Mapping[str, Any]:
        session = self._session or requests
        try:
            with session.get(
                url,
                timeout=self._timeout,
                headers={"Accept": "application/json"},
                allow_redirects=False,
                stream=True,
            ) as reply:
                if reply.status_code != 200:
                    raise ServiceUnavailable(
                        f"JWKS fetch answered HTTP {reply.status_code}", status_code=reply.status_code
                    )
                body = reply.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"could not reach the JWKS: {type(exc).__name__}") from None
        if len(body) > MAX_JWKS_BYTES:
            raise ServiceUnavailable("the JWKS document is too large")
        try:
            document = json.loads(body)
        except ValueError:
            raise ServiceUnavailable("the JWKS document is not JSON") from None
        if not isinstance(document, dict):
            raise ServiceUnavailable("the JWKS document is not a JSON object")
        return document


def _rsa_signing_key(jwk: Any) -> RSAPublicKey | None:
    """An RS256 signing key from one JWK entry, or None for anything else (skipped)."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
        return None
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        return None
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
        return None
    public = {name: jwk[name] for name in ("kty", "n", "e") if name in jwk}
    try:
        key = jwt.PyJWK(public, algorithm="RS256").key
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if isinstance(key, RSAPrivateKey):  # unreachable with public members only; be explicit
        key = key.public_key()
    if not isinstance(key, RSAPublicKey) or key.key_size < 2048:
        return None
    return key
