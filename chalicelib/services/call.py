"""What every use case needs to know about the call it serves."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.domain.audit import Actor
from chalicelib.domain.principal import Principal
from chalicelib.errors import (
    Conflict,
    InvalidClient,
    InvalidDPoPProof,
    NotSignedIn,
    RateLimited,
    VaultGuardError,
)
from chalicelib.services.ratelimit import take_deferred, take_deferred_writes
from chalicelib.store.assertions import REPLAY_LABEL
from chalicelib.store.db import ConditionFailed, WriteTransaction
from chalicelib.store.dpop_proofs import DPOP_REPLAY_LABEL
from chalicelib.store.people import SESSION_LABEL
from chalicelib.store.ratelimits import RATE_LABEL, Charge, charge_in
from chalicelib.store.reads import BatchReader, Key, Snapshot

if TYPE_CHECKING:
    from chalicelib.services.gate import RequestGate


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Call:
    principal: Principal | None
    request_id: str
    now: float = field(default_factory=lambda: time.time())  # patchable in tests
    gate: RequestGate | None = field(default=None, compare=False, repr=False)

    @property
    def epoch(self) -> int:
        return int(self.now)

    @property
    def timestamp(self) -> str:
        return iso(self.now)

    @property
    def actor(self) -> Actor:
        if self.principal is None:
            return Actor("system", "vaultguard")
        return Actor(self.principal.role.value, self.principal.subject)

    def read(
        self, reader: BatchReader, keys: Iterable[Key], charges: Iterable[Charge | None] = ()
    ) -> Snapshot:
        """The request's batched read: through its gate when it has one (which authenticates
        the caller in the same round trip), else directly (jobs, internal calls)."""
        if self.gate is not None:
            return self.gate.read(keys, charges)
        return reader.read(keys)


def commit(tx: WriteTransaction, conflict: VaultGuardError | None = None) -> None:
    """Commit a state change with its audit events and the request's budget charges: all of
    it lands, or the call fails (429 when a budget ran out meanwhile)."""
    charges = take_deferred()
    for charge in charges:
        charge_in(tx, charge)
    for write in take_deferred_writes():
        write(tx)
    try:
        tx.commit()
    except ConditionFailed as exc:
        if SESSION_LABEL in exc.labels:
            raise NotSignedIn() from exc
        if REPLAY_LABEL in exc.labels:
            raise InvalidClient("The client assertion was already used.") from exc
        if DPOP_REPLAY_LABEL in exc.labels:
            raise InvalidDPoPProof("The DPoP proof was already used (jti).") from exc
        if RATE_LABEL in exc.labels:
            now = int(time.time())
            raise RateLimited(max(c.retry_after(now) for c in charges)) from exc
        raise (conflict or Conflict()) from exc
