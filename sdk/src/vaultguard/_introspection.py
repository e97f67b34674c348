"""Online revocation check through VaultGuard's RFC 7662 introspection endpoint.

A receiving API that wants "revoked means refused within seconds" passes an ``Introspector``
to ``DelegationVerifier``. Answers are cached for a short TTL, keyed by the token's SHA-256
fingerprint (the token itself is never kept), so a busy API asks once per token per TTL.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from ._errors import ServiceUnavailable

__all__ = ["Introspector"]


def _basic(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: form-urlencode id and secret, then HTTP Basic (RFC 7617)."""
    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class Introspector:
    """``introspector(token) -> bool``: is the delegation still ACTIVE in VaultGuard's registry?

    Authenticates with ``client_secret_basic`` as a principal of the *receiving* tenant (the
    server answers ``active: false`` to anyone else). Network errors, 5xx and refused
    credentials raise ``ServiceUnavailable``: the token could not be checked, it is not
    thereby invalid. ``ttl=0`` disables the cache.
    """

    def __init__(
        self,
        api_url: str,
        client_id: str,
        client_secret: str,
        *,
        ttl: float = 10.0,
        timeout: float = 5.0,
        max_entries: int = 1024,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(api_url, str) or not api_url.startswith(("https://", "http://")):
            raise ValueError("api_url must be an http(s) URL")
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are required")
        if ttl < 0 or max_entries < 1:
            raise ValueError("ttl must not be negative and max_entries must be positive")
        self.url = api_url.rstrip("/") + "/oauth/introspect"
        self._authorization = _basic(client_id, client_secret)
        self._ttl = ttl
        self._timeout = timeout
        self._max_entries = max_entries
        self._session = session
        self._clock = clock
        self._cache: dict[str, tuple[bool, float]] = {}  # fingerprint -> (active, valid until)
        self._lock = threading.Lock()
        self.request_count = 0

    def __call__(self, token: str) -> bool:
        fingerprint = hashlib.sha256(token.encode()).hexdigest()
        if self._ttl > 0:
            with self._lock:
                hit = self._cache.get(fingerprint)
                if hit is not None and hit[1] > self._clock():
                    return hit[0]
        active = self.introspect(token).get("active") is True
        if self._ttl > 0:
            self._remember(fingerprint, active)
        return active

    def introspect(self, token: str) -> dict[str, Any]:
        """The raw RFC 7662 answer (uncached)."""
        session = self._session or requests
        self.request_count += 1
        try:
            reply = session.post(
                self.url,
                data={"token": token, "token_type_hint": "access_token"},
                headers={"Authorization": self._authorization, "Accept": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"could not reach introspection: {type(exc).__name__}") from None
        if reply.status_code in (401, 403):
            raise ServiceUnavailable(
                "introspection refused this API's client credentials", status_code=reply.status_code
            )
        if reply.status_code != 200:
            raise ServiceUnavailable(
                f"introspection answered HTTP {reply.status_code}", status_code=reply.status_code
            )
        try:
            body = reply.json()
        except ValueError:
            raise ServiceUnavailable("introspection answer is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
            raise ServiceUnavailable("introspection answer has no boolean 'active'")
        return body

    def _remember(self, fingerprint: str, active: bool) -> None:
        with self._lock:
            now = self._clock()
            if len(self._cache) >= self._max_entries:
                for key in [k for k, (_, until) in self._cache.items() if until <= now]:
                    del self._cache[key]
                while len(self._cache) >= self._max_entries:
                    del self._cache[next(iter(self._cache))]  # oldest first
            self._cache[fingerprint] = (active, now + self._ttl)
