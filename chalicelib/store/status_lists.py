"""Token status lists (chalicelib/domain/status_list.py), in the receiving tenant's partition.

- `SLHEAD`: the tenant's current list (id, generation, creation time).
- `SLIDX#<idx>`: index `idx` is taken by a token of the lists of generation `gen`. An issuance
  reads the head and the markers of a few random candidate indices in its one batched read,
  and claims a free one in its one transaction (a conditional put: free = no marker, or one
  of an older generation), so taking an index costs no round trip of its own and never reads
  the list. When every candidate is taken (or the list is a week old), the same transaction
  starts the next generation's list instead.
- `SL#<list_id>`: the list: the indices whose tokens are no longer valid (a number set that
  revocation and expiry `ADD` to, in the transaction that writes their audit events).
- `STATUSLIST#<list_id>` / `STATUSLIST` (no tenant's partition): which tenant a list belongs
  to, for the public `GET /statuslists/{list_id}` that knows only the random id. The one
  tenantless lookup besides authentication; it reveals nothing the id did not already name.
"""

from __future__ import annotations

import weakref

from pynamodb.expressions.update import Action

from chalicelib.domain.principal import TenantScope
from chalicelib.domain.status_list import LIST_RETENTION, Allocation, Head
from chalicelib.store.db import WriteTransaction, store_errors
from chalicelib.store.models import (
    StatusListHeadModel,
    StatusListIndexModel,
    StatusListLookupModel,
    StatusListModel,
    tenant_pk,
)
from chalicelib.store.reads import Key, Snapshot

HEAD_SK = "SLHEAD"
INDEX = "SLIDX#"
LIST = "SL#"
LOOKUP = "STATUSLIST#"
LOOKUP_SK = "STATUSLIST"

# Each open transaction's invalidations, by list: DynamoDB refuses two operations on one item
# in a transaction, so a transaction that revokes several tokens of one list adds one update.
_open: weakref.WeakKeyDictionary[WriteTransaction, dict[Key, tuple[set[int], list[Action]]]] = (
    weakref.WeakKeyDictionary()
)


def head_key(tenant_id: str) -> Key:
    return Key(tenant_pk(tenant_id), HEAD_SK)


def index_key(tenant_id: str, idx: int) -> Key:
    return Key(tenant_pk(tenant_id), f"{INDEX}{idx}")


def list_key(tenant_id: str, list_id: str) -> Key:
    return Key(tenant_pk(tenant_id), f"{LIST}{list_id}")


class StatusListRepository:
    def allocation_keys(self, scope: TenantScope, candidates: list[int]) -> list[Key]:
        """What an issuance reads (in its batched read) to take an index of the scope's list."""
        return [head_key(scope.tenant_id), *(index_key(scope.tenant_id, i) for i in candidates)]

    def head(self, scope: TenantScope, snapshot: Snapshot) -> Head:
        item = snapshot.get(StatusListHeadModel, head_key(scope.tenant_id))
        if item is None:
            return Head(None, 0, 0)
        return Head(item.list_id, int(item.gen), int(item.created_at))

    def taken(self, scope: TenantScope, snapshot: Snapshot, candidates: list[int]) -> dict[int, int]:
        """Candidate -> the generation whose lists hold it, for the candidates with a marker."""
        out: dict[int, int] = {}
        for idx in candidates:
            marker = snapshot.get(StatusListIndexModel, index_key(scope.tenant_id, idx))
            if marker is not None:
                out[idx] = int(marker.gen)
        return out

    def claim(self, tx: WriteTransaction, scope: TenantScope, alloc: Allocation, now: int) -> None:
        """Take `alloc.idx` in `tx` (fails it if a concurrent issuance took the index in this
        generation meanwhile); for a new list, create it and make it the tenant's current."""
        pk = tenant_pk(scope.tenant_id)
        expires_at = now + LIST_RETENTION
        marker = StatusListIndexModel(
            pk=pk, sk=f"{INDEX}{alloc.idx}", gen=alloc.gen, list_id=alloc.list_id, ttl=expires_at
        )
        tx.put(marker, StatusListIndexModel.pk.does_not_exist() | (StatusListIndexModel.gen < alloc.gen))
        if not alloc.rotated:
            return
        head = StatusListHeadModel(pk=pk, sk=HEAD_SK, list_id=alloc.list_id, gen=alloc.gen, created_at=now)
        # Never back to an older generation; a concurrent start of the same one may win (its
        # list is as good: markers are per generation, so both lists' indices stay unique).
        tx.put(head, StatusListHeadModel.pk.does_not_exist() | (StatusListHeadModel.gen <= alloc.gen))
        tx.create(
            StatusListModel(
                pk=pk,
                sk=f"{LIST}{alloc.list_id}",
                gen=alloc.gen,
                created_at=now,
                expires_at=expires_at,
                ttl=expires_at,
            )
        )
        tx.create(
            StatusListLookupModel(
                pk=f"{LOOKUP}{alloc.list_id}",
                sk=LOOKUP_SK,
                tenant_id=scope.tenant_id,
                expires_at=expires_at,
                ttl=expires_at,
            )
        )

    def invalidate(self, tx: WriteTransaction, scope: TenantScope, list_id: str, idx: int, now: int) -> None:
        """Set the bit of `idx` in the scope's list `list_id` when `tx` commits (merged with the
        transaction's other invalidations of the same list)."""
        key = list_key(scope.tenant_id, list_id)
        pending = _open.setdefault(tx, {})
        entry = pending.get(key)
        if entry is None:
            entry = pending[key] = (set(), [])
            tx.update(StatusListModel(pk=key.pk, sk=key.sk), entry[1], versioned=False)
        indices, actions = entry
        indices.add(int(idx))
        # Rewritten in place: the transaction holds this very list until it commits.
        actions[:] = [
            StatusListModel.invalid.add(set(indices)),
            StatusListModel.ttl.set(StatusListModel.ttl | (now + LIST_RETENTION)),
        ]

    @store_errors
    def tenant_of(self, list_id: str) -> str | None:
        """The tenant whose list `list_id` is (public list ids name no tenant)."""
        try:
            item = StatusListLookupModel.get(f"{LOOKUP}{list_id}", LOOKUP_SK, consistent_read=True)
        except StatusListLookupModel.DoesNotExist:
            return None
        return item.tenant_id

    @store_errors
    def get(self, scope: TenantScope, list_id: str) -> StatusListModel | None:
        try:
            return StatusListModel.get(tenant_pk(scope.tenant_id), f"{LIST}{list_id}", consistent_read=True)
        except StatusListModel.DoesNotExist:
            return None
