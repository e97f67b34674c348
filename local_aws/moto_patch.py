"""moto 5.2.5, patched so that the embedded stack (`make run`) and the tests stay fast and
small however much data they hold. `apply()` is called by both, so they behave alike.

- `TransactWriteItems` rolls back from backups of the items it touched. moto deep-copies
  every table a transaction touches, once per item, to be able to roll back, so each
  transaction cost O(table size). A cancelled transaction leaves no item behind (items it
  created are removed again), no index entry (moto derives indexes from the items) and no
  stream record.
- Memory follows the data, nothing more: moto's instance registry (`BaseModel.instances_tracked`,
  read only by moto's own dashboard) no longer keeps every DynamoDB item, stream record and
  shard iterator ever created (copies included); a stream keeps its last
  `MAX_STREAM_RECORDS` records (DynamoDB keeps 24 hours' worth; moto kept all, each with a
  full image of the item); the streams backend keeps at most `MAX_SHARD_ITERATORS` shard
  iterators (DynamoDB's expire after 15 minutes; moto's never did); items share one copy
  of each attribute name and of recent short string values.
- DynamoDB and DynamoDB Streams requests run one at a time (one lock), so a transaction is
  atomic with respect to every other request, under `mock_aws` as in moto's server.
- Attribute values already in wire form skip moto's shape-walking response serialiser.
- moto's server no longer lists its package directory on every request.
- `ChangeFeed`: the items written since the last look, for the local stack's journal.

Pinned to `MOTO_VERSION`: `apply()` refuses any other version, because the replacement of
`transact_write_items` is a copy of moto's own with the backup changed.
"""

from __future__ import annotations

import copy
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

MOTO_VERSION = "5.2.5"
MAX_SHARD_ITERATORS = 1000
MAX_STREAM_RECORDS = 10_000  # per shard; trimmed by a tenth at a time
SHARED_VALUES = 4096

LOCK = threading.RLock()  # held for every DynamoDB and DynamoDB Streams request
_applied = False
_feeds: list[ChangeFeed] = []


class MotoVersionError(RuntimeError):
    pass


def apply() -> None:
    """Patch moto (once per process); raises MotoVersionError on any moto but MOTO_VERSION."""
    global _applied
    with LOCK:
        if _applied:
            return
        installed = metadata.version("moto")
        if installed != MOTO_VERSION:
            raise MotoVersionError(
                f"local_aws/moto_patch.py is written against moto=={MOTO_VERSION}, found moto=={installed}: "
                "re-check moto's DynamoDBBackend.transact_write_items, Table.put_item/delete_item, "
                "StreamShard and BaseModel before changing the pin"
            )
        _patch_transactions()
        _patch_registry()
        _patch_shard_iterators()
        _patch_stream_retention()
        _patch_attribute_names()
        _patch_locking()
        _patch_change_hooks()
        _patch_service_lookup()
        _patch_attribute_value_serialisation()
        _applied = True


# -- transactions ----------------------------------------------------------------------------------


@dataclass
class _ItemBackup:
    table: Any  # moto Table
    hash_key: Any  # DynamoType
    range_key: Any  # DynamoType | None
    previous: Any  # the Item as it was, or None if there was none


class _Undo:
    """What one transaction changed: the touched items as they were, and each touched
    table's stream length; `rollback` puts both back."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self._items: list[_ItemBackup] = []
        self._streams: dict[int, tuple[Any, int]] = {}  # shard, its next sequence number

    def remember(self, table_name: str, key: dict[str, Any], current: Any, in_place: bool) -> None:
        """Before an item is written: `current` is the live item (or None); an update changes
        it in place, so it is copied then (only then: a put replaces it, a delete pops it)."""
        table = self._backend.get_table(table_name)
        hash_key, range_key = self._backend.get_keys_value(table, key)
        previous = copy.deepcopy(current) if in_place and current is not None else current
        self._items.append(_ItemBackup(table, hash_key, range_key, previous))
        shard = table.stream_shard
        if shard is not None and id(shard) not in self._streams:
            self._streams[id(shard)] = (shard, _next_sequence_number(shard))

    def rollback(self) -> None:
        for backup in reversed(self._items):
            _restore_item(backup)
            _notify(backup.table, backup.hash_key, backup.range_key)
        for shard, next_before in self._streams.values():
            added = _next_sequence_number(shard) - next_before
            if 0 < added <= len(shard.items):  # (moto empties the list after a Lambda delivery)
                del shard.items[-added:]


def _next_sequence_number(shard: Any) -> int:
    return int(shard.starting_sequence_number) + len(shard.items)


def _restore_item(backup: _ItemBackup) -> None:
    items = backup.table.items
    if backup.table.has_range_key:
        bucket = items[backup.hash_key]
        if backup.previous is None:
            bucket.pop(backup.range_key, None)
            if not bucket:
                del items[backup.hash_key]
        else:
            bucket[backup.range_key] = backup.previous
    elif backup.previous is None:
        items.pop(backup.hash_key, None)
    else:
        items[backup.hash_key] = backup.previous


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's DynamoDBBackend.transact_write_items with per-item backups instead of
    whole-table copies (and a rollback for a multi-operation item too)."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = _Undo(self)

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            undo.rollback()
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression,
                    expression_attribute_names,
                    expression_attribute_values,
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                undo.remember(table_name, key, current, in_place=op_type == "Update")
            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            undo.rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - moto reports every other failure as a reason
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]

    if any(code is not None for code, _, _ in errors):
        undo.rollback()
        raise TransactionCanceledException(errors)


def _patch_transactions() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]


# -- moto's instance registry and shard iterators --------------------------------------------------


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


def _patch_registry() -> None:
    """BaseModel.__new__ appends every instance to its class's `instances_tracked` list,
    forever; these classes are made per write or per stream read, so they skip it."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord
    from moto.dynamodbstreams.models import ShardIterator

    classes: tuple[Any, ...] = (Item, StreamRecord, ShardIterator)
    for cls in classes:
        cls.__new__ = _untracked_new
        cls.instances_tracked.clear()


def _trim_iterators(iterators: dict[str, Any]) -> None:
    while len(iterators) > MAX_SHARD_ITERATORS:
        del iterators[next(iter(iterators))]  # the oldest (dicts keep insertion order)


def _patch_shard_iterators() -> None:
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

    original_new = DynamoDBStreamsBackend.get_shard_iterator
    original_get = ShardIterator.get

    def get_shard_iterator(self: Any, *args: Any, **kwargs: Any) -> Any:
        iterator = original_new(self, *args, **kwargs)
        _trim_iterators(self.shard_iterators)
        return iterator

    def get(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original_get(self, *args, **kwargs)
        _trim_iterators(self.streams_backend.shard_iterators)
        return result

    DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator  # type: ignore[method-assign]
    ShardIterator.get = get  # type: ignore[method-assign]


def _patch_stream_retention() -> None:
    """Drop a stream's oldest records beyond MAX_STREAM_RECORDS (sequence numbers go on);
    a reader behind the trim horizon continues from the oldest record kept."""
    from moto.dynamodb.models.table import StreamShard

    original_add = StreamShard.add
    original_get = StreamShard.get

    def add(self: Any, *args: Any, **kwargs: Any) -> None:
        original_add(self, *args, **kwargs)
        if len(self.items) > MAX_STREAM_RECORDS:
            drop = len(self.items) - MAX_STREAM_RECORDS + MAX_STREAM_RECORDS // 10
            del self.items[:drop]
            self.starting_sequence_number += drop

    def get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        return original_get(self, max(int(start), int(self.starting_sequence_number)), quantity)

    StreamShard.add = add  # type: ignore[method-assign]
    StreamShard.get = get  # type: ignore[method-assign]


class _RecentValues:
    """One shared copy of each short string attribute value seen lately (tenant ids, event
    types, the ids an audit event repeats from its delegation): the last `size` distinct
    ones. moto never changes a string value in place (an update replaces it), so items can
    share it."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._seen: dict[str, Any] = {}  # the string -> its DynamoType

    def share(self, value: Any) -> Any:
        if value.type != "S" or not isinstance(value.value, str) or len(value.value) > 80:
            return value
        kept = self._seen.get(value.value)
        if kept is not None:
            return kept
        if len(self._seen) >= self._size:
            del self._seen[next(iter(self._seen))]  # the oldest
        self._seen[value.value] = value
        return value


_recent = _RecentValues(SHARED_VALUES)


def _patch_attribute_names() -> None:
    """Each item holds its own copy of every attribute name and value (parsed from its
    request): names are interned and short string values shared, so that 50,000 audit
    events share a dozen names and their tenants' ids."""
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    original_init = Item.__init__

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        original_init(self, hash_key, range_key, attrs)
        shared = LimitedSizeDict.__new__(LimitedSizeDict)  # validated above: no size check again
        dict.__init__(shared, ((sys.intern(k), _recent.share(v)) for k, v in self.attrs.items()))
        self.attrs = shared

    Item.__init__ = __init__  # type: ignore[method-assign]


# -- one request at a time -------------------------------------------------------------------------


def _patch_locking() -> None:
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        original = handler.call_action

        def call_action(self: Any, _original: Callable[[Any], Any] = original) -> Any:
            with LOCK:
                return _original(self)

        handler.call_action = call_action  # type: ignore[method-assign]


def _patch_service_lookup() -> None:
    """moto's server lists its own package directory (listdir + a stat per entry) on every
    request to tell a service name from a host name; the list never changes."""
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


# -- response serialisation ------------------------------------------------------------------------

_SCALAR_TYPES: dict[str, type] = {"S": str, "N": str, "NULL": bool, "BOOL": bool}
_SET_TYPES = ("SS", "NS")


def _already_wire_form(value: Any) -> bool:
    """An AttributeValue that moto's serialiser would copy member by member unchanged: one
    string, number, boolean or null, or a string/number set (maps, lists and binary values
    still take moto's own path)."""
    if type(value) is not dict or len(value) != 1:
        return False
    [(kind, inner)] = value.items()
    if kind in _SCALAR_TYPES:
        return type(inner) is _SCALAR_TYPES[kind]
    return kind in _SET_TYPES and type(inner) is list and all(type(v) is str for v in inner)


def _patch_attribute_value_serialisation() -> None:
    """moto 5.2 serialises every response by walking botocore's shapes, and each attribute
    value of each item is a structure of ten members looked up under several spellings: that
    walk was a fifth of the embedded stack's CPU per request (and most of reading a stream).
    Attribute values that are already in wire form are copied as they are."""
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize_type_structure

    def _serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and _already_wire_form(value):
            serialized[key] = value
            return
        original(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure  # type: ignore[method-assign]


# -- change feed -----------------------------------------------------------------------------------

Change = tuple[str, dict[str, Any], dict[str, Any] | None]  # table, key, item (None: deleted)


class ChangeFeed:
    """The items of the named tables that were written in this process since the last
    `drain()`; each drained with its current value, read under LOCK (so never halfway
    through a transaction). Costs O(keys changed), whatever the table sizes."""

    def __init__(self, tables: Iterable[str]) -> None:
        self._tables = frozenset(tables)
        self._dirty: dict[tuple[str, Any, Any], Any] = {}
        self._mutex = threading.Lock()

    def __enter__(self) -> ChangeFeed:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        apply()
        with LOCK:
            if self not in _feeds:
                _feeds.append(self)

    def close(self) -> None:
        with LOCK:
            if self in _feeds:
                _feeds.remove(self)

    def _mark(self, table: Any, hash_key: Any, range_key: Any) -> None:
        if table.name in self._tables:
            with self._mutex:
                self._dirty[(table.name, hash_key, range_key)] = table

    def pending(self) -> int:
        with self._mutex:
            return len(self._dirty)

    def drain(self) -> list[Change]:
        """Every changed item (key order unspecified), and forget them."""
        with LOCK:
            with self._mutex:
                dirty, self._dirty = self._dirty, {}
            out: list[Change] = []
            for (name, hash_key, range_key), table in dirty.items():
                key = {table.hash_key_attr: hash_key.to_json()}
                if table.has_range_key:
                    key[table.range_key_attr] = range_key.to_json()
                item = table.get_item(hash_key, range_key)
                out.append((name, key, None if item is None else item.to_json()["Attributes"]))
            return out


def _notify(table: Any, hash_key: Any, range_key: Any) -> None:
    for feed in _feeds:
        feed._mark(table, hash_key, range_key)


def _patch_change_hooks() -> None:
    """Every item write in moto goes through Table.put_item, Table.delete_item or (an
    update in place) DynamoDBBackend.update_item; each tells the open feeds."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original_put = Table.put_item
    original_delete = Table.delete_item
    original_update = DynamoDBBackend.update_item

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = original_put(self, *args, **kwargs)
        if _feeds:
            _notify(self, item.hash_key, item.range_key)
        return item

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        item = original_delete(self, hash_key, range_key)
        if _feeds and item is not None:
            _notify(self, item.hash_key, item.range_key)
        return item

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return original_update(self, table_name, key, *args, **kwargs)
        finally:
            if _feeds:  # also after a failure: an update may have changed the item halfway
                try:
                    table = self.get_table(table_name)
                    hash_key, range_key = self.get_keys_value(table, key)
                except Exception:  # noqa: BLE001 - no such table or key: nothing was written
                    pass
                else:
                    _notify(table, hash_key, range_key)

    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
