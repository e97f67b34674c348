"""Fixed-window rate counters, read in the request's batch and charged in its transaction.

A counter is `RATE#<kind>#<subject>#<window start>` in the caller's tenant partition (the
platform's for its own clients; `SRC#<address>` for failed authentications by source). The
request reads the counter with everything else it needs; its increment rides in the same
`TransactWriteItems` as the request's state change, conditioned on staying within the limit,
so a request over the limit fails as a whole. Windows are fixed: at a boundary a client may
briefly send up to twice the limit. Counters expire by TTL.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.store.db import StoreError, WriteTransaction, store_errors
from chalicelib.store.models import RateCounterModel
from chalicelib.store.reads import Key, Snapshot

RATE_LABEL = "rate-limit"


@dataclass(frozen=True)
class Charge:
    """One request against one budget: the counter to increment and its limit."""

    key: Key
    limit: int
    window_end: int

    def retry_after(self, now: int) -> int:
        return max(1, self.window_end - now)

    def spent(self, snapshot: Snapshot) -> int:
        counter = snapshot.get(RateCounterModel, self.key)
        return int(counter.n) if counter is not None and counter.n is not None else 0


def counter_key(pk: str, kind: str, subject: str, window_start: int) -> Key:
    return Key(pk, f"RATE#{kind}#{subject}#{window_start}")


def _model(charge: Charge) -> RateCounterModel:
    return RateCounterModel(pk=charge.key.pk, sk=charge.key.sk)


def _actions(charge: Charge) -> list[Action]:
    return [RateCounterModel.n.add(1), RateCounterModel.ttl.set(charge.window_end + 3600)]


def _within(charge: Charge) -> Condition:
    return RateCounterModel.n.does_not_exist() | (RateCounterModel.n < charge.limit)


def charge_in(tx: WriteTransaction, charge: Charge) -> None:
    """Add the increment to the request's transaction; it fails if over the limit."""
    tx.update(_model(charge), _actions(charge), _within(charge), versioned=False, label=RATE_LABEL)


def count_in(tx: WriteTransaction, charge: Charge, *, source: str | None = None) -> None:
    """Count without a limit (failures are counted even past it), noting `source`."""
    actions = _actions(charge)
    if source is not None:
        actions.append(RateCounterModel.sources.add({source}))
    tx.update(_model(charge), actions, versioned=False)


class RateLimitRepository:

    @store_errors
    def charge_now(self, charge: Charge) -> bool:
        """Charge a request that writes nothing else; False when it is over the limit."""
        try:
            _model(charge).update(actions=_actions(charge), condition=_within(charge))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        except PynamoDBException as exc:
            raise StoreError(str(exc)) from exc
        return True
