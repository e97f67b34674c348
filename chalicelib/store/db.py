"""Connections, the write transaction shared by repositories, and store-level errors."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.config import Settings
from chalicelib.errors import ServiceUnavailable

MAX_TRANSACTION_ITEMS = 100
CONFLICT_ATTEMPTS = 3
_T = TypeVar("_T")


def share_botocore_data_loader() -> None:
    """One botocore data loader for every pynamodb connection in this process.

    pynamodb opens a botocore session per model class, and each new session re-reads and
    re-parses botocore's JSON models (~0.1 s each): with a dozen models that was 1.5 s of
    Lambda cold start, 0.3 s with one shared (read-only, cached) loader.
    """
    import botocore.loaders
    import botocore.session
    import pynamodb.connection.base as pynamodb_base

    from chalicelib.store.scoped_credentials import ScopedSession

    if getattr(pynamodb_base.get_session, "_vaultguard_shared", False):
        return
    loader = botocore.loaders.create_loader()

    def get_session() -> botocore.session.Session:
        # signs with a request's tenant-scoped credentials once it has bound its tenant
        session = ScopedSession()
        session.register_component("data_loader", loader)
        return session

    get_session._vaultguard_shared = True  # type: ignore[attr-defined]
    pynamodb_base.get_session = get_session


class StoreError(ServiceUnavailable):
    """The store could not be reached or answered with an error: a 503 for the caller,
    whose description stays generic (the detail is for the log only)."""

    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = detail


class ConditionFailed(Exception):
    """A conditional write lost: the item exists already, or changed under us. `labels`
    names the labelled operations whose condition failed (e.g. a rate-limit counter)."""

    def __init__(self, detail: str, labels: frozenset[str] = frozenset()) -> None:
        super().__init__(detail)
        self.labels = labels


class Database:
    """The connection used for transactions; model connections are configured in models."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(region=self._settings.aws_region, host=self._settings.aws_endpoint)
        return self._connection

    def transaction(self) -> WriteTransaction:
        return WriteTransaction(self.connection)


class WriteTransaction:
    """Collects puts and updates across partitions and tables, commits them atomically.

    Services use one of these whenever a state change and its audit events must land
    together: either every item is written or none is.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._ops: list[tuple[str, Model, Any, Any]] = []
        self._labels: dict[int, str] = {}

    def create(self, item: Model) -> None:
        """Put a new item; fails the whole transaction if the key already exists."""
        hash_attr = type(item)._hash_keyname
        assert hash_attr is not None
        self._ops.append(("put", item, type(item)._attributes[hash_attr].does_not_exist(), None))

    def put(self, item: Model, condition: Condition | None = None) -> None:
        self._ops.append(("put", item, condition, None))

    def update(
        self,
        item: Model,
        actions: list[Action],
        condition: Condition | None = None,
        *,
        versioned: bool = True,
        label: str | None = None,
    ) -> None:
        """Update `item`; `versioned` adds the optimistic-locking check on its version;
        `label` names the operation in a `ConditionFailed` when its condition fails."""
        if label is not None:
            self._labels[len(self._ops)] = label
        self._ops.append(("update" if versioned else "update_unversioned", item, condition, actions))

    def delete(self, item: Model, condition: Condition | None = None) -> None:
        self._ops.append(("delete", item, condition, None))

    def check(self, item: Model, condition: Condition, *, label: str | None = None) -> None:
        """Require `condition` of an item the transaction does not change (a DynamoDB
        ConditionCheck): the whole transaction fails when it does not hold."""
        if label is not None:
            self._labels[len(self._ops)] = label
        self._ops.append(("check", item, condition, None))

    def __len__(self) -> int:
        return len(self._ops)

    def commit(self) -> None:
        if len(self._ops) > MAX_TRANSACTION_ITEMS:
            raise StoreError(f"transaction of {len(self._ops)} items exceeds the limit")
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self._commit_once()
                return
            except TransactWriteError as exc:
                reasons = [r.code if r is not None else None for r in exc.cancellation_reasons]
                if "ConditionalCheckFailed" in reasons:
                    labels = frozenset(
                        label
                        for index, label in self._labels.items()
                        if index < len(reasons) and reasons[index] == "ConditionalCheckFailed"
                    )
                    raise ConditionFailed(str(reasons), labels) from exc
                if "TransactionConflict" in reasons and attempt + 1 < CONFLICT_ATTEMPTS:
                    # Another transaction held one of the items (a shared counter shard):
                    # nothing was applied, so trying again is safe.
                    time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
                    continue
                raise StoreError(f"transaction failed: {exc.cause_response_code} {reasons}") from exc
            except PynamoDBException as exc:
                raise StoreError(str(exc)) from exc

    def _commit_once(self) -> None:
        with TransactWrite(connection=self._connection) as tx:
            for kind, item, condition, actions in self._ops:
                if kind == "put":
                    tx.save(item, condition=condition)
                elif kind == "delete":
                    tx.delete(item, condition=condition)
                elif kind == "check":
                    model = type(item)
                    hash_key = getattr(item, model._hash_keyname or "")
                    range_key = getattr(item, model._range_keyname) if model._range_keyname else None
                    tx.condition_check(model, hash_key, range_key, condition=condition)
                else:
                    tx.update(
                        item,
                        actions=actions,
                        condition=condition,
                        add_version_condition=kind == "update",
                    )


def store_errors(func: Any) -> Any:
    """Turn any pynamodb/botocore failure inside a repository call into StoreError."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (PynamoDBException, BotoCoreError, ClientError) as exc:
            raise StoreError(f"{func.__qualname__}: {exc}") from exc

    return wrapper


def guarded(items: Iterable[_T]) -> Iterator[_T]:
    """Iterate a lazy query, turning a failure half-way into StoreError."""
    try:
        yield from items
    except (PynamoDBException, BotoCoreError) as exc:
        raise StoreError(f"query failed: {exc}") from exc
