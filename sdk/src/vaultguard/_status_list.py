"""Token Status List (draft-ietf-oauth-status-list) for offline verifiers.

``StatusLists`` holds the issuer's signed status lists in memory and refreshes each one it
has seen in a background thread every ``ttl`` seconds (at most ``max_interval``), so that a
verification is a bit lookup with no network call: a revoked delegation is refused within a
few seconds of its revocation.

A list token is accepted only when it verifies against the issuer's JWKS (RS256), has
``typ: statuslist+jwt``, ``iss`` = the issuer, ``sub`` = the list's URI, ``iat`` not older
than the list held, and an ``exp`` in the future. A refused fetch (tampered, wrong list,
unreachable) keeps the last good list; once that list's ``exp`` has passed, tokens naming it
are refused with ``ServiceUnavailable`` (fail closed). A list never seen before: the first
request naming it waits for the background fetch up to ``first_fetch_timeout`` seconds
(``ServiceUnavailable`` if it has not arrived), and every later one reads memory only.
"""

from __future__ import annotations

import base64
import binascii
import math
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from ._errors import InvalidDelegationToken, ServiceUnavailable
from ._jwks import JWKSCache

__all__ = ["STATUS_LIST_TYP", "StatusLists"]

STATUS_LIST_TYP = "statuslist+jwt"
MAX_LIST_TOKEN_BYTES = 512 * 1024
MAX_LIST_BYTES = 1 << 20  # decompressed: 8 M entries at 1 bit
Fetch = Callable[[str], str]


@dataclass(frozen=True)
class _List:
    bits: bytes
    iat: float
    exp: float
    ttl: float


class _Entry:
    def __init__(self) -> None:
        self.current: _List | None = None
        self.ready = threading.Event()
        self.next_fetch = 0.0
        self.last_used = 0.0
        self.error: str | None = None


class StatusLists:
    """The status lists of one issuer, kept fresh in the background (one per verifier)."""

    def __init__(
        self,
        issuer: str,
        jwks: JWKSCache,
        *,
        max_interval: float = 2.0,
        first_fetch_timeout: float = 2.0,
        idle_after: float = 600.0,
        max_lists: int = 256,
        timeout: float = 5.0,
        session: requests.Session | None = None,
        fetch: Fetch | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_interval <= 0 or first_fetch_timeout < 0 or max_lists < 1:
            raise ValueError("max_interval must be positive, first_fetch_timeout non-negative")
        self.issuer = issuer
        self.prefix = issuer.rstrip("/") + "/statuslists/"
        self.jwks = jwks
        self._max_interval = max_interval
        self._first_wait = first_fetch_timeout
        self._idle_after = idle_after
        self._max_lists = max_lists
        self._timeout = timeout
        self._session = session
        self._fetch = fetch or self._http_fetch
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fetch_count = 0

    # -- the request path ------------------------------------------------------------------

    def check(self, status: Any) -> None:
        """Refuse a token whose ``status`` claim names an INVALID entry; ``ServiceUnavailable``
        when its list is not (or no longer) known to be current."""
        ref = status.get("status_list") if isinstance(status, dict) else None
        if not isinstance(ref, dict):
            raise InvalidDelegationToken("missing_claim", "status.status_list is required")
        idx, uri = ref.get("idx"), ref.get("uri")
        if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
            raise InvalidDelegationToken(
                "invalid_claim", "status.status_list.idx must be a non-negative integer"
            )
        if not isinstance(uri, str) or not uri.startswith(self.prefix) or len(uri) > len(self.prefix) + 64:
            raise InvalidDelegationToken("invalid_claim", "status.status_list.uri is not the issuer's")
        entry = self._entries.get(uri)
        if entry is None:
            entry = self._track(uri)
        now = self._clock()
        entry.last_used = now
        held = entry.current
        if held is None:
            if not entry.ready.wait(self._first_wait):
                raise ServiceUnavailable("the token's status list has not been fetched yet")
            held = entry.current
            if held is None:
                raise ServiceUnavailable(f"could not load the status list: {entry.error}")
        if held.exp <= now:
            raise ServiceUnavailable("the status list held has expired and could not be refreshed")
        byte = idx >> 3
        if byte >= len(held.bits):
            raise InvalidDelegationToken("invalid_claim", "status.status_list.idx is outside the list")
        if held.bits[byte] >> (idx & 7) & 1:
            raise InvalidDelegationToken("revoked", "the delegation is no longer valid (status list)")

    # -- background ------------------------------------------------------------------------

    def _track(self, uri: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(uri)
            if entry is not None:
                return entry
            if len(self._entries) >= self._max_lists:
                oldest = min(self._entries, key=lambda u: self._entries[u].last_used)
                del self._entries[oldest]
            entry = self._entries[uri] = _Entry()
            self._start_locked()
        self._wake.set()
        return entry

    def _start_locked(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="vaultguard-status-lists", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the background thread (it also dies with the process)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def refresh_now(self) -> None:
        """Fetch every tracked list once, now (tests, warm-up)."""
        for uri, entry in list(self._entries.items()):
            self._refresh(uri, entry)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self._clock()
            due = []
            with self._lock:
                for uri, entry in list(self._entries.items()):
                    if entry.current is not None and now - entry.last_used > self._idle_after:
                        del self._entries[uri]  # nobody asked for it lately: stop polling it
                    elif entry.next_fetch <= now:
                        due.append((uri, entry))
            for uri, entry in due:
                self._refresh(uri, entry)
            with self._lock:
                upcoming = min((e.next_fetch for e in self._entries.values()), default=now + 1.0)
            self._wake.wait(min(max(upcoming - self._clock(), 0.05), 1.0))
            self._wake.clear()

    def _refresh(self, uri: str, entry: _Entry) -> None:
        now = self._clock()
        try:
            self.fetch_count += 1
            fresh = self._verify(uri, self._fetch(uri), now)
            held = entry.current
            if held is not None and fresh.iat < held.iat:
                raise InvalidDelegationToken("stale", "an older list than the one held")
            entry.current = fresh
            entry.error = None
            entry.next_fetch = now + min(fresh.ttl, self._max_interval)
        except (InvalidDelegationToken, ServiceUnavailable) as exc:
            entry.error = str(exc)  # keep the last good list until its exp
            entry.next_fetch = now + min(1.0, self._max_interval)
        except Exception as exc:  # a custom fetch may raise anything
            entry.error = type(exc).__name__
            entry.next_fetch = now + min(1.0, self._max_interval)
        finally:
            entry.ready.set()

    def _verify(self, uri: str, token: str, now: float) -> _List:
        """The list of a status list token that passes every check, else an exception."""
        from ._verifier import _RS256, _json_object, _split_any, normalise_typ

        header, signing_input, payload_segment, signature = _split_any(token, MAX_LIST_TOKEN_BYTES)
        if header.get("alg") != "RS256" or "crit" in header or "b64" in header:
            raise InvalidDelegationToken("bad_header", "status list token: RS256 only, no crit")
        if normalise_typ(header.get("typ")) != STATUS_LIST_TYP:
            raise InvalidDelegationToken("bad_typ", "not a status list token (typ statuslist+jwt)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidDelegationToken("bad_header", "kid is missing")
        key = self.jwks.get(kid)
        if not _RS256.verify(signing_input, key, signature):
            raise InvalidDelegationToken("bad_signature", "the status list signature does not verify")
        claims = _json_object(_b64(payload_segment), "payload")
        if claims.get("iss") != self.issuer:
            raise InvalidDelegationToken("wrong_issuer", "status list from another issuer")
        if claims.get("sub") != uri:
            raise InvalidDelegationToken("wrong_list", "the status list is not the one asked for")
        iat, exp, ttl = (_number(claims, n) for n in ("iat", "exp", "ttl"))
        if exp <= now or ttl <= 0:
            raise InvalidDelegationToken("expired", "the status list token has expired")
        body = claims.get("status_list")
        if not isinstance(body, dict) or body.get("bits") != 1 or not isinstance(body.get("lst"), str):
            raise InvalidDelegationToken("invalid_claim", "status_list must be {bits: 1, lst}")
        inflater = zlib.decompressobj()
        try:
            bits = inflater.decompress(_b64(body["lst"]), MAX_LIST_BYTES)
        except zlib.error:
            raise InvalidDelegationToken("malformed", "status_list.lst is not zlib data") from None
        if inflater.unconsumed_tail or not inflater.eof:
            raise InvalidDelegationToken("malformed", "status_list.lst is too large or truncated")
        return _List(bits, iat, exp, ttl)

    def _http_fetch(self, uri: str) -> str:
        session = self._session or requests
        try:
            with session.get(
                uri,
                timeout=self._timeout,
                headers={"Accept": "application/statuslist+jwt"},
                allow_redirects=False,
                stream=True,
            ) as reply:
                if reply.status_code != 200:
                    raise ServiceUnavailable(f"status list fetch answered HTTP {reply.status_code}")
                body = reply.raw.read(MAX_LIST_TOKEN_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"could not reach the status list: {type(exc).__name__}") from None
        if len(body) > MAX_LIST_TOKEN_BYTES:
            raise ServiceUnavailable("the status list token is too large")
        try:
            return str(body.decode("ascii").strip())
        except UnicodeDecodeError:
            raise InvalidDelegationToken("malformed", "the status list token is not ASCII") from None


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidDelegationToken("invalid_claim", f"status list {name} must be a number")
    return float(value)


def _b64(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidDelegationToken("malformed", "invalid base64url") from None
