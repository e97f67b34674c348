"""Public keys published at a URL: an agent's `jwks_uri` (RFC 7591 §2) and a trusted issuer's
JWKS found by discovery (OpenID Connect Discovery §4, RFC 8414 §3).

One `RemoteKeys` per process (per Lambda container): each JWK set is turned into key objects
once and kept `JWKS_TTL` seconds; a `kid` it does not hold triggers one early re-fetch (key
rotation), at most once per `REFETCH_INTERVAL` per URL, so tokens with made-up `kid`s cannot
make us hammer the publisher; a URL whose fetch failed is not tried again for `FAILURE_HOLD`,
and a set that cannot be fetched again serves `STALE_GRACE` past its TTL. Discovery
documents are kept `DISCOVERY_TTL`. Fetching goes through the transport it is given (in the
app: the SSRF guard of `services/safe_http.py`, https only outside the local stage, a size cap
and timeouts); a failure to fetch is `KeysUnavailable` (503: we could not check), never a
rejection of the token.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.tokens.rfc7523 import InvalidJwks, KeyEntry, KeySource, usable_keys

JWKS_TTL = 900.0
DISCOVERY_TTL = 3600.0
REFETCH_INTERVAL = 60.0
STALE_GRACE = 3600.0  # a set past its TTL still serves this long while its URL cannot be fetched
FAILURE_HOLD = 10.0  # after a failed fetch, the URL is not fetched again for this long
DISCOVERY_PATH = "/.well-known/openid-configuration"

Fetch = Callable[[str], tuple[int, bytes]]
"""GET `url` -> (status, body); raises for a URL refused or a publisher not reached."""


class KeysUnavailable(Exception):
    """The keys could not be fetched or read (the caller answers 503); `reason` for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Entry:
    keys: tuple[KeyEntry, ...]
    expires: float
    fetched_at: float


class RemoteKeys:
    def __init__(self, fetch: Fetch, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._sets: dict[str, _Entry] = {}
        self._discovered: dict[str, tuple[float, str]] = {}
        self._failed: dict[str, float] = {}

    def keys(self, url: str, *, kid: str | None = None) -> tuple[KeyEntry, ...]:
        """The usable keys published at `url`; fetched again early when `kid` is named and not
        among them (at most once per `REFETCH_INTERVAL`)."""
        with self._lock:
            now = self._clock()
            entry = self._sets.get(url)
            if entry is None or now >= entry.expires:
                entry = self._refresh(url, now, entry)
            elif kid is not None and all(k.kid != kid for k in entry.keys):
                if now - entry.fetched_at >= REFETCH_INTERVAL:
                    entry = self._refresh(url, now, entry)
            return entry.keys

    def source(self, url: str) -> KeySource:
        """The keys at `url` as `verify_assertion` takes them."""
        return lambda kid: self.keys(url, kid=kid)

    def jwks_uri(self, issuer: str) -> str:
        """The issuer's `jwks_uri` from its discovery document, whose `issuer` must be exactly
        the one asked for (OpenID Connect Discovery §4.3)."""
        with self._lock:
            now = self._clock()
            cached = self._discovered.get(issuer)
            if cached is not None and now < cached[0]:
                return cached[1]
        doc = self._json(issuer.rstrip("/") + DISCOVERY_PATH, "discovery")
        if doc.get("issuer") != issuer:
            raise KeysUnavailable("discovery: issuer mismatch")
        uri = doc.get("jwks_uri")
        if not isinstance(uri, str) or not uri:
            raise KeysUnavailable("discovery: no jwks_uri")
        with self._lock:
            self._discovered[issuer] = (self._clock() + DISCOVERY_TTL, uri)
        return uri

    def _refresh(self, url: str, now: float, previous: _Entry | None) -> _Entry:
        try:
            try:
                keys = usable_keys(self._json(url, "jwks"))
            except InvalidJwks as exc:
                raise KeysUnavailable(f"jwks: {exc}") from None
        except KeysUnavailable:
            if previous is None:
                raise
            previous.fetched_at = now  # remember the attempt: no retry storm on a failing host
            if now >= previous.expires + STALE_GRACE:
                raise
            return previous  # the publisher is down for a moment: keep the keys we had
        entry = _Entry(keys, now + JWKS_TTL, now)
        self._sets[url] = entry
        return entry

    def _json(self, url: str, what: str) -> Mapping[str, Any]:
        failed = self._failed.get(url)
        if failed is not None and self._clock() - failed < FAILURE_HOLD:
            raise KeysUnavailable(f"{what}: failed moments ago")
        try:
            return self._fetch_json(url, what)
        except KeysUnavailable:
            self._failed[url] = self._clock()
            raise

    def _fetch_json(self, url: str, what: str) -> Mapping[str, Any]:
        try:
            status, body = self._fetch(url)
        except Exception as exc:  # the transport's refusal or failure, whatever its type
            raise KeysUnavailable(f"{what}: {type(exc).__name__}: {exc}") from None
        if status != 200:
            raise KeysUnavailable(f"{what}: HTTP {status}")
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise KeysUnavailable(f"{what}: not JSON") from None
        if not isinstance(doc, dict):
            raise KeysUnavailable(f"{what}: not a JSON object")
        return doc
