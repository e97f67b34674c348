"""Used client assertions (RFC 7523 §3: a `jti` is accepted once), in the client's partition.

The record rides in the transaction the request commits anyway (never a round trip of its
own): its condition fails when the same client already used the `jti` and that record has
not expired, which aborts the whole transaction (`REPLAY_LABEL`, answered 401).
"""

from __future__ import annotations

from chalicelib.store.db import WriteTransaction
from chalicelib.store.models import AssertionJtiModel

REPLAY_LABEL = "assertion_replay"


class AssertionReplayRepository:
    def record(self, tx: WriteTransaction, pk: str, client_id: str, jti: str, exp: int, now: int) -> None:
        """`pk` is the client's credential partition (its tenant's); expiry checked here too,
        since TTL deletion lags."""
        item = AssertionJtiModel(pk=pk, sk=f"JTI#{client_id}#{jti}")
        tx.update(
            item,
            [AssertionJtiModel.client_id.set(client_id), AssertionJtiModel.ttl.set(exp)],
            AssertionJtiModel.pk.does_not_exist() | (AssertionJtiModel.ttl < now),
            versioned=False,
            label=REPLAY_LABEL,
        )
