"""One batched, strongly consistent read of the main table per request.

A request names every item it needs up front (its caller's credential and tenant, its rate
counters, and its own records: policy candidates, the counterpart's tenant, a delegation) and
gets them in a single `BatchGetItem`, so a decision costs one read round trip however many
items it looks at (docs/architecture.md, "Cost budgets").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pynamodb.models import Model

from chalicelib.store.db import Database, StoreError, store_errors

MAX_BATCH_KEYS = 100
MAX_ATTEMPTS = 5
_M = TypeVar("_M", bound=Model)


@dataclass(frozen=True)
class Key:
    pk: str
    sk: str


class Snapshot:
    """The items a batch found, by key; a missing key is an item that does not exist."""

    def __init__(self, items: dict[Key, dict[str, Any]], covered: frozenset[Key] = frozenset()) -> None:
        self._items = items
        self._covered = covered | frozenset(items)

    def get(self, model: type[_M], key: Key | None) -> _M | None:
        if key is None:
            return None
        raw = self._items.get(key)
        return None if raw is None else model.from_raw_data(raw)

    def __contains__(self, key: Key) -> bool:
        return key in self._items

    def covers(self, key: Key) -> bool:
        """Whether the batch asked for `key` (so that a missing item is known not to exist)."""
        return key in self._covered



EMPTY = Snapshot({})


class BatchReader:
    def __init__(self, db: Database, table_name: str) -> None:
        self._db = db
        self._table = table_name

    @store_errors
    def read(self, keys: Iterable[Key]) -> Snapshot:
        """Every existing item among `keys`, in one round trip (more only when DynamoDB
        returns unprocessed keys under throttling)."""
        unique = list(dict.fromkeys(keys))
        if not unique:
            return EMPTY
        if len(unique) > MAX_BATCH_KEYS:
            raise StoreError(f"a batch of {len(unique)} keys exceeds the limit")
        client = self._db.connection.client
        pending: dict[str, Any] = {
            self._table: {
                "Keys": [{"pk": {"S": k.pk}, "sk": {"S": k.sk}} for k in unique],
                "ConsistentRead": True,
            }
        }
        found: dict[Key, dict[str, Any]] = {}
        for _ in range(MAX_ATTEMPTS):
            answer = client.batch_get_item(RequestItems=pending)
            for item in answer.get("Responses", {}).get(self._table, []):
                found[Key(item["pk"]["S"], item["sk"]["S"])] = item
            pending = answer.get("UnprocessedKeys") or {}
            if not pending:
                return Snapshot(found, frozenset(unique))
        raise StoreError("batch read left keys unprocessed")
