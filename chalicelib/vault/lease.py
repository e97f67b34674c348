"""The refresh lease: one refresh at a time per connection, across every process.

A refresh token may be used by one process at a time: with refresh-token rotation a provider
treats a second use of the same token as theft and ends the grant (RFC 9700 §4.14.2), and
without rotation two refreshes at once only waste the provider's quota. So a process that
finds the cached access token stale takes the connection's lease (`lease_owner`,
`lease_until`: a conditional UpdateItem, `attribute_not_exists(lease_until) OR lease_until <
:now`, which also reloads the record, so the holder always refreshes with the refresh token
stored now), refreshes, and releases it in the transaction that stores the new tokens (only
while it still holds it). The others poll the record with backoff until what they wait for
is there (`settled`), or the lease is free again (the holder failed, or its lease ran out),
for at most `wait` seconds.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain

from chalicelib.domain.principal import TenantScope
from chalicelib.domain.vault_refresh import LEASE_SECONDS, WAIT_SECONDS, wait_delays
from chalicelib.store.connections import ConnectionRepository
from chalicelib.store.models import ConnectionModel


@dataclass
class Held:
    """This process holds the lease; `connection` is the record as stored when it was taken."""

    connection: ConnectionModel
    owner: str


@dataclass
class Settled:
    """Another process did the work meanwhile (or the record changed so that no refresh is
    wanted); `connection` is the record as read, None when it is gone."""

    connection: ConnectionModel | None


class RefreshLease:
    def __init__(
        self,
        connections: ConnectionRepository,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        seconds: int = LEASE_SECONDS,
        wait: float = WAIT_SECONDS,
    ) -> None:
        self._connections = connections
        self._clock = clock
        self._sleep = sleep
        self.seconds = seconds
        self.wait = wait

    def acquire(
        self,
        scope: TenantScope,
        connection: ConnectionModel,
        settled: Callable[[ConnectionModel], bool],
    ) -> Held | Settled | None:
        """Take the lease on `connection` (as read by the request), or wait for `settled`;
        None when neither happened within `wait` seconds."""
        for delay in chain([0.0], wait_delays(self.wait)):
            if delay:
                self._sleep(delay)
                current = self._connections.get(scope, connection.connection_id)
                if current is None or settled(current):
                    return Settled(current)
                connection = current
            owner = "lease_" + secrets.token_hex(8)
            if self._connections.take_lease(scope, connection, owner, int(self._clock()), self.seconds):
                return Held(connection, owner)
        return None
