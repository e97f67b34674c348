"""Used client assertions (RFC 7523 §3: a `jti` is accepted once), in the client's partition.

The record rides in the transaction the request commits anyway (never a round trip of its
own): its condition fails when the same client already used the `jti` and that record has
not expired, which aborts the whole transaction (`REPLAY_LABEL`, answered 401).
"""

from __future__ import annotations

from chalicelib.store.db import WriteTransaction
from chalicelib.store.models import AssertionJtiModel

REPLAY_LABEL = "assertion_replay"


def record_once(
    tx: WriteTransaction, pk: str, sk: str, client_id: str, until: int, now: int, label: str
) -> None:
    """Record a one-time value (a `jti`) in the transaction: its condition fails, aborting the
    transaction under `label`, while a record of the same value has not expired (checked here,
    since TTL deletion lags). Client assertions and DPoP proofs both use it."""
    item = AssertionJtiModel(pk=pk, sk=sk)
    tx.update(
        item,
        [AssertionJtiModel.client_id.set(client_id), AssertionJtiModel.ttl.set(until)],
        AssertionJtiModel.pk.does_not_exist() | (AssertionJtiModel.ttl < now),
        versioned=False,
        label=label,
    )


class AssertionReplayRepository:
    def record(self, tx: WriteTransaction, pk: str, client_id: str, jti: str, exp: int, now: int) -> None:
        """`pk` is the client's credential partition (its tenant's)."""
        record_once(tx, pk, f"JTI#{client_id}#{jti}", client_id, exp, now, REPLAY_LABEL)
