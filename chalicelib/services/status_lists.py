"""Token status lists (draft-ietf-oauth-status-list): taking an index at issuance, setting
its bit at revocation and expiry, and serving the signed list.

Issuance reads `keys()` in its one batched read and calls `allocate()` before it signs, in
the transaction that creates the delegation: no round trip of its own. Revocation and the
cleanup job call `invalidate()` in the transaction that writes their audit event.

`serve()` answers `GET /statuslists/{list_id}`: one consistent read of the list (plus, the
first time a container sees the id, the id's tenant), and a signature only when the list
changed or its token is `RESIGN_AFTER` seconds old, so KMS signs at most a few times a
minute per list however often verifiers poll.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from chalicelib.auth.scope import system_scope
from chalicelib.config import Settings
from chalicelib.domain.principal import TenantScope
from chalicelib.domain.status_list import (
    RESIGN_AFTER,
    STATUS_LIST_TYP,
    TTL,
    Allocation,
    choose_index,
    draw_candidates,
    encode_list,
    is_list_id,
    list_token_claims,
    status_claim,
)
from chalicelib.errors import NotFound, ServiceUnavailable
from chalicelib.store.db import WriteTransaction
from chalicelib.store.reads import Key, Snapshot
from chalicelib.store.status_lists import StatusListRepository
from chalicelib.tokens import Signer, SigningUnavailable, encode_jwt

MAX_CACHED = 1024


@dataclass(frozen=True)
class Draw:
    """The candidate indices an issuance drew, and the keys that read them with the head."""

    scope: TenantScope
    candidates: list[int]
    keys: list[Key]


@dataclass(frozen=True)
class _Signed:
    invalid: frozenset[int]
    token: str
    iat: int


@dataclass(frozen=True)
class ServedList:
    token: str
    max_age: int


class StatusListService:
    def __init__(self, settings: Settings, repo: StatusListRepository, signer: Signer) -> None:
        self._settings = settings
        self._repo = repo
        self._signer = signer
        self._lock = threading.Lock()
        self._tenants: OrderedDict[str, str] = OrderedDict()  # list id -> tenant (never changes)
        self._signed: OrderedDict[str, _Signed] = OrderedDict()

    # -- issuance, revocation, expiry ------------------------------------------------------

    def draw(self, receiving: TenantScope) -> Draw:
        candidates = draw_candidates()
        return Draw(receiving, candidates, self._repo.allocation_keys(receiving, candidates))

    def allocate(self, tx: WriteTransaction, draw: Draw, snapshot: Snapshot, now: int) -> Allocation:
        """Take an index of the receiving tenant's list in `tx` (the read `snapshot` covered
        `draw.keys`); a concurrent issuance that took the same index makes `tx` fail."""
        head = self._repo.head(draw.scope, snapshot)
        taken = self._repo.taken(draw.scope, snapshot, draw.candidates)
        alloc = choose_index(head, draw.candidates, taken, now)
        self._repo.claim(tx, draw.scope, alloc, now)
        return alloc

    def claim(self, list_id: str | None, idx: float | None) -> dict[str, Any] | None:
        """The token's `status` claim for a record's entry (None: a record without one)."""
        if list_id is None or idx is None:
            return None
        return status_claim(self._settings.issuer, list_id, int(idx))

    def invalidate(
        self, tx: WriteTransaction, receiving: TenantScope, list_id: str | None, idx: float | None, now: int
    ) -> None:
        """Mark a token's entry INVALID in `tx` (nothing for a record without one)."""
        if list_id is not None and idx is not None:
            self._repo.invalidate(tx, receiving, list_id, int(idx), now)

    # -- serving ---------------------------------------------------------------------------

    def serve(self, list_id: str, now: int) -> ServedList:
        """The signed status list token for `list_id`; NotFound, the same for every id that
        is not a live list (malformed, unknown, past its retention)."""
        if not is_list_id(list_id):
            raise NotFound()
        tenant_id = self._tenant_of(list_id)
        if tenant_id is None:
            raise NotFound()
        item = self._repo.get(system_scope(tenant_id), list_id)
        if item is None or int(item.expires_at) <= now:
            raise NotFound()
        invalid = frozenset(int(i) for i in (item.invalid or ()))
        with self._lock:
            signed = self._signed.get(list_id)
        stale = signed is None or not 0 <= now - signed.iat < RESIGN_AFTER
        if signed is None or stale or signed.invalid != invalid:
            claims = list_token_claims(self._settings.issuer, list_id, encode_list(invalid), now)
            try:
                token = encode_jwt(self._signer, claims, typ=STATUS_LIST_TYP)
            except SigningUnavailable as exc:
                raise ServiceUnavailable() from exc
            signed = _Signed(invalid, token, now)
            with self._lock:
                _remember(self._signed, list_id, signed)
        return ServedList(signed.token, TTL)

    def _tenant_of(self, list_id: str) -> str | None:
        with self._lock:
            known = self._tenants.get(list_id)
        if known is not None:
            return known
        tenant_id = self._repo.tenant_of(list_id)
        if tenant_id is not None:
            with self._lock:
                _remember(self._tenants, list_id, tenant_id)
        return tenant_id


def _remember(cache: OrderedDict[str, Any], key: str, value: Any) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > MAX_CACHED:
        cache.popitem(last=False)
