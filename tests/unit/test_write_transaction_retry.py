"""A transaction cancelled by a conflict (another transaction held one of its items, such as
a shared counter shard) applied nothing, so it is tried again a bounded number of times; a
failed condition is never retried."""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError

from chalicelib.store import db
from chalicelib.store.db import ConditionFailed, StoreError, WriteTransaction


def cancelled(*codes: str | None) -> TransactWriteError:
    reasons = [CancellationReason(code=c) if c else None for c in codes]
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=reasons,
    )
    return TransactWriteError("cancelled", cause)


def run(monkeypatch: pytest.MonkeyPatch, outcomes: list[Exception | None]) -> list[int]:
    calls: list[int] = []

    def commit_once(self: Any) -> None:
        calls.append(1)
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(WriteTransaction, "_commit_once", commit_once)
    monkeypatch.setattr(db.time, "sleep", lambda seconds: None)
    WriteTransaction(connection=None).commit()  # type: ignore[arg-type]
    return calls


def test_a_conflict_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(run(monkeypatch, [cancelled(None, "TransactionConflict"), None])) == 2


def test_conflicts_are_retried_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StoreError):
        run(monkeypatch, [cancelled("TransactionConflict")] * db.CONFLICT_ATTEMPTS)


def test_a_failed_condition_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConditionFailed):
        run(monkeypatch, [cancelled("ConditionalCheckFailed", "TransactionConflict"), None])
