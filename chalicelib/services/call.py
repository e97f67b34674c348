"""What every use case needs to know about the call it serves."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chalicelib.domain.audit import Actor
from chalicelib.domain.principal import Principal
from chalicelib.errors import Conflict, VaultGuardError
from chalicelib.store.db import ConditionFailed, WriteTransaction


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Call:
    principal: Principal | None
    request_id: str
    now: float = field(default_factory=lambda: time.time())  # patchable in tests

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


def commit(tx: WriteTransaction, conflict: VaultGuardError | None = None) -> None:
    """Commit a state change with its audit events: all of it lands, or the call fails."""
    try:
        tx.commit()
    except ConditionFailed as exc:
        raise (conflict or Conflict()) from exc
