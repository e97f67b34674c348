"""Used DPoP proofs (RFC 9449 §11.1: a proof's `jti` is accepted once within its window),
in the partition of the credential that presents them.

As with client assertions (`store/assertions.py`), the record rides in the transaction the
request commits anyway, never a round trip of its own: its condition fails when the same
key already used the `jti` and that record has not expired, which aborts the whole
transaction (`DPOP_REPLAY_LABEL`, answered `invalid_dpop_proof`).
"""

from __future__ import annotations

from chalicelib.store.db import WriteTransaction
from chalicelib.store.models import AssertionJtiModel

DPOP_REPLAY_LABEL = "dpop_replay"


class DPoPProofRepository:
    def record(
        self, tx: WriteTransaction, pk: str, client_id: str, jkt: str, jti: str, until: int, now: int
    ) -> None:
        """`pk`: the presenting credential's partition; kept until the proof could no longer
        be accepted anyway (`until`), with expiry checked here since TTL deletion lags."""
        item = AssertionJtiModel(pk=pk, sk=f"DPOPJTI#{jkt}#{jti}")
        tx.update(
            item,
            [AssertionJtiModel.client_id.set(client_id), AssertionJtiModel.ttl.set(until)],
            AssertionJtiModel.pk.does_not_exist() | (AssertionJtiModel.ttl < now),
            versioned=False,
            label=DPOP_REPLAY_LABEL,
        )
