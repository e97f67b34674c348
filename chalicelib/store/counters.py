"""Sharded counters: what /tenants/{id}/stats and /metrics answer with, read in one batch.

A tenant's counts live in TENANT_SHARDS items `T#<tenant>/COUNT#<shard>`; the platform's
totals, which every tenant's changes also reach, in PLATFORM_SHARDS items
`PLATFORM#COUNT#<shard>/COUNT`, each its own partition key so that the platform's write rate
is not bound to one partition's. A transaction that changes a counted thing adds its deltas
to one shard of each counter concerned, chosen at random, with `ADD` (no version, no
condition), so concurrent transactions seldom touch the same item and never fail each other's
conditions. A reader sums the shards in one `BatchGetItem`; a shard never written counts zero.

DynamoDB refuses two operations on one item in a transaction, so the deltas of one counter
within one transaction are merged into a single update: it is added to the transaction once,
with an action list that later additions rewrite until the transaction commits.
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chalicelib.domain.principal import TenantScope
from chalicelib.store.db import WriteTransaction
from chalicelib.store.models import PLATFORM_PK, CounterModel, tenant_pk
from chalicelib.store.reads import Key, Snapshot

COUNT = "COUNT#"
TENANT_SHARDS = 8
# Every tenant's changes reach the platform's totals: more shards, fewer collisions.
PLATFORM_SHARDS = 32
FIELDS = tuple(name for name in CounterModel.get_attributes() if name not in ("pk", "sk"))


# Each open transaction's counter updates, by counter: the deltas, the values to set beside
# them, and the action list the transaction holds for them.
_Pending = dict[Key, tuple[dict[str, int], dict[str, Any], list[Action]]]
_open: weakref.WeakKeyDictionary[WriteTransaction, _Pending] = weakref.WeakKeyDictionary()


def _tenant_key(tenant_id: str, shard: int) -> Key:
    return Key(tenant_pk(tenant_id), f"{COUNT}{shard}")


def _platform_key(shard: int) -> Key:
    return Key(f"{PLATFORM_PK}#{COUNT}{shard}", "COUNT")


class CounterRepository:
    def keys(self, scope: TenantScope) -> list[Key]:
        """The shards of the scope's tenant, for a request's batched read."""
        return [_tenant_key(scope.tenant_id, n) for n in range(TENANT_SHARDS)]

    def platform_keys(self) -> list[Key]:
        return [_platform_key(n) for n in range(PLATFORM_SHARDS)]

    def add(self, tx: WriteTransaction, scope: TenantScope, deltas: Mapping[str, int]) -> None:
        """Count `deltas` for the scope's tenant when `tx` commits."""
        _add(tx, self.keys(scope), deltas)

    def add_platform(self, tx: WriteTransaction, deltas: Mapping[str, int]) -> None:
        """Count `deltas` in the platform-wide totals when `tx` commits."""
        _add(tx, self.platform_keys(), deltas)

    @staticmethod
    def totals(snapshot: Snapshot, keys: list[Key]) -> dict[str, int]:
        """Every field summed over the shards at `keys` (zero where none was written)."""
        out = dict.fromkeys(FIELDS, 0)
        for key in keys:
            shard = snapshot.get(CounterModel, key)
            if shard is None:
                continue
            for name in FIELDS:
                out[name] += int(getattr(shard, name) or 0)
        return out


def _add(tx: WriteTransaction, shards: list[Key], deltas: Mapping[str, int]) -> None:
    """Add `deltas` to one of `shards` (the first names the counter) in `tx`."""
    unknown = set(deltas) - set(FIELDS)
    if unknown:
        raise ValueError(f"no such counter: {sorted(unknown)}")
    add_merged(tx, CounterModel, shards[0], deltas, lambda: random.choice(shards))


def add_merged(
    tx: WriteTransaction,
    model: type[Model],
    counter: Key,
    deltas: Mapping[str, int],
    item: Callable[[], Key] | None = None,
    sets: Mapping[str, Any] | None = None,
) -> None:
    """Add `deltas` to numeric attributes of `model` with `ADD`, in `tx`, merged with what
    `tx` already adds to the same `counter`: one update per counter and transaction, written
    to `item()` (default: `counter` itself), chosen when `tx` first touches the counter.
    `sets`: attributes to `SET` in the same update (a later value for a name replaces one
    set earlier in `tx`)."""
    if not deltas:
        return
    pending = _open.setdefault(tx, {})
    entry = pending.get(counter)
    if entry is None:
        key = item() if item is not None else counter
        entry = pending[counter] = ({}, {}, [])
        tx.update(model(pk=key.pk, sk=key.sk), entry[2], versioned=False)
    counts, values, actions = entry
    for name, n in deltas.items():
        counts[name] = counts.get(name, 0) + n
    values.update(sets or {})
    # Rewritten in place: the transaction holds this very list until it commits.
    actions[:] = [
        *(getattr(model, name).add(n) for name, n in counts.items()),
        *(getattr(model, name).set(value) for name, value in values.items()),
    ]
