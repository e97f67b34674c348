"""Used DPoP proofs (RFC 9449 §11.1: a proof's `jti` is accepted once within its window),
in the partition of the credential that presents them.

As with client assertions (`store/assertions.py`), the record rides in the transaction the
request commits anyway, never a round trip of its own: its condition fails when the same
key already used the `jti` and that record has not expired, which aborts the whole
transaction (`DPOP_REPLAY_LABEL`, answered `invalid_dpop_proof`).
"""

from __future__ import annotations

from chalicelib.store.assertions import record_once
from chalicelib.store.db import WriteTransaction

DPOP_REPLAY_LABEL = "dpop_replay"


class DPoPProofRepository:
    def record(
        self, tx: WriteTransaction, pk: str, client_id: str, jkt: str, jti: str, until: int, now: int
    ) -> None:
        """`pk`: the presenting credential's partition; kept until the proof could no longer
        be accepted anyway (`until`)."""
        record_once(tx, pk, f"DPOPJTI#{jkt}#{jti}", client_id, until, now, DPOP_REPLAY_LABEL)
