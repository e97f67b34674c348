"""The token vault's shared part: what `/vault/exchange` is sent, how its answers and refusals
are read, and the per-client cache of vault tokens. No I/O, as in `_core`."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ._core import UTC, Reply, error_from_reply, error_parts, retry_after_seconds, unexpected
from ._errors import (
    ConnectionNeedsReauth,
    ConnectionNotFound,
    VaultAccessDenied,
    VaultGuardError,
    VaultScopeError,
    VaultUnavailable,
)
from ._models import VaultToken

VAULT_REUSE_MARGIN = 60.0  # reuse a cached vault token only while it has more than this left

VaultKey = tuple[str, tuple[str, ...] | None]


def scope_list(scopes: str | Iterable[str] | None) -> list[str] | None:
    """Scopes as a list without repeats; a string is read as OAuth's space-separated form."""
    if scopes is None:
        return None
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    if not all(isinstance(item, str) and item for item in items):
        raise TypeError("scopes must be non-empty strings")
    return list(dict.fromkeys(items))


def vault_key(connection_id: str, scopes: list[str] | None) -> VaultKey:
    """The cache key: the connection and the requested scopes in a canonical order (None: all
    the connection allows, which is not the same request as an empty list)."""
    return connection_id, None if scopes is None else tuple(sorted(set(scopes)))


def vault_body(connection_id: str, scopes: list[str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"connection_id": connection_id}
    if scopes is not None:
        body["scopes"] = scopes
    return body


@dataclass(frozen=True)
class VaultRequest:
    """One `vault_token` call as both clients make it: the cache key and the body to send."""

    connection_id: str
    key: VaultKey
    body: dict[str, Any]


def vault_request(connection_id: str, scopes: str | Iterable[str] | None) -> VaultRequest:
    wanted = scope_list(scopes)
    return VaultRequest(connection_id, vault_key(connection_id, wanted), vault_body(connection_id, wanted))


def vault_error_from_reply(reply: Reply, connection_id: str) -> VaultGuardError:
    """The typed exception for a refused `/vault/exchange`; what is not the vault's own
    (401, 429, other 5xx...) maps as for any call."""
    status, error = reply.status_code, reply.error
    body = reply.body if isinstance(reply.body, dict) else {}
    message, common = error_parts(reply)
    if status == 404:
        return ConnectionNotFound(message, **common)
    if status == 409 and error == "connection_needs_reauthorization":
        served = body.get("connection_id")
        reason = body.get("reason")
        return ConnectionNeedsReauth(
            message,
            connection_id=served if isinstance(served, str) else connection_id,
            reason=reason if isinstance(reason, str) else None,
            **common,
        )
    if status == 403 and error in ("forbidden", "access_denied"):
        return VaultAccessDenied(message, **common)
    if status == 400 and error == "invalid_scope":
        missing = body.get("missing_scopes")
        scopes = [s for s in missing if isinstance(s, str)] if isinstance(missing, list) else []
        return VaultScopeError(message, missing_scopes=scopes, **common)
    if status == 503:
        return VaultUnavailable(message, retry_after=retry_after_seconds(reply.headers), **common)
    return error_from_reply(reply)


def vault_token_from(reply: Reply, connection_id: str, *, now: datetime | None = None) -> VaultToken:
    """A VaultToken from a 200 of `/vault/exchange`; a refusal raised as its typed error."""
    if not reply.ok:
        raise vault_error_from_reply(reply, connection_id)
    body = reply.body if isinstance(reply.body, dict) else {}
    token, expires_in = body.get("access_token"), body.get("expires_in")
    if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
        raise unexpected(reply, "the vault exchange")
    scope = body.get("scope")
    served_id, provider = body.get("connection_id"), body.get("provider")
    return VaultToken(
        access_token=token,
        token_type=str(body.get("token_type") or "Bearer"),
        expires_in=int(expires_in),
        expires_at=(now or datetime.now(UTC)) + timedelta(seconds=int(expires_in)),
        scope=scope.split() if isinstance(scope, str) else [],
        connection_id=served_id if isinstance(served_id, str) else connection_id,
        provider=provider if isinstance(provider, str) else "",
    )


class VaultTokenCache:
    """Vault tokens of one client, in memory only, by (connection, sorted scopes); each is
    reused while it has more than VAULT_REUSE_MARGIN seconds left by the monotonic clock.
    The tokens are never logged, and `repr` shows only how many there are."""

    def __init__(self) -> None:
        self._entries: dict[VaultKey, tuple[VaultToken, float]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VaultTokenCache({len(self._entries)} token(s))"

    def get(self, key: VaultKey, now: float) -> VaultToken | None:
        """The cached token with `expires_in` counted down to `now`; None when absent or stale."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            token, expires = entry
            if expires - now <= VAULT_REUSE_MARGIN:
                del self._entries[key]
                return None
        return replace(token, expires_in=int(expires - now))

    def put(self, key: VaultKey, token: VaultToken, now: float) -> None:
        with self._lock:
            self._entries[key] = (token, now + token.expires_in)

    def forget(self, connection_id: str) -> None:
        """Drop every token of a connection (it was refused, e.g. needs reauthorization)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == connection_id]:
                del self._entries[key]

    def settle(self, request: VaultRequest, reply: Reply, started: float) -> VaultToken:
        """The token of `/vault/exchange`'s answer, cached from `started` (when it was asked
        for); a refusal that says the connection is gone or closed to us also drops its
        cached tokens before it is raised."""
        try:
            token = vault_token_from(reply, request.connection_id)
        except (ConnectionNotFound, ConnectionNeedsReauth, VaultAccessDenied):
            self.forget(request.connection_id)
            raise
        self.put(request.key, token, started)
        return token
