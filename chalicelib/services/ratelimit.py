"""Request budgets (docs/architecture.md, "Operational behaviour"); 0 disables a budget.

- per client, over 15 minutes: reads (GET) and writes (everything else) separately, sized
  so that a CLI or a page polling every 5 s never meets them;
- per agent, per minute: delegation requests;
- failed client authentications: per source address (past it, the source gets 429 before
  any secret is checked) and per client (past it, a *wrong* secret gets 429 instead of 401;
  the right secret always works, so nobody can lock a client out by knowing its id).

CIBA polls are not charged: `slow_down` governs them (CIBA Core §11).

A request's charges are read in its batched read and checked there (429 + Retry-After);
the increments are deferred to the request's transaction (`chalicelib.services.call.commit`),
or charged on their own at the end of a request that writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from chalicelib.config import Settings
from chalicelib.domain.principal import Principal
from chalicelib.errors import InvalidClient, InvalidDPoPProof, RateLimited
from chalicelib.store.assertions import REPLAY_LABEL
from chalicelib.store.db import ConditionFailed, Database, WriteTransaction
from chalicelib.store.dpop_proofs import DPOP_REPLAY_LABEL
from chalicelib.store.models import PLATFORM_PK, tenant_pk
from chalicelib.store.ratelimits import Charge, RateLimitRepository, charge_in, counter_key
from chalicelib.store.reads import Snapshot

CLIENT_WINDOW = 15 * 60
DELEGATION_WINDOW = 60
FAILURE_WINDOW = 15 * 60

DeferredWrite = Callable[[WriteTransaction], None]
_deferred: ContextVar[tuple[Charge, ...]] = ContextVar("vaultguard_deferred_charges", default=())
_deferred_writes: ContextVar[tuple[DeferredWrite, ...]] = ContextVar(
    "vaultguard_deferred_writes", default=()
)


def begin_request() -> None:
    _deferred.set(())
    _deferred_writes.set(())


def defer_write(write: DeferredWrite) -> None:
    """Bookkeeping of the request (a session's last activity) that rides in its transaction,
    or in the one that charges its budgets when it writes nothing: never a round trip of its own."""
    _deferred_writes.set(_deferred_writes.get() + (write,))


def take_deferred_writes() -> tuple[DeferredWrite, ...]:
    writes = _deferred_writes.get()
    _deferred_writes.set(())
    return writes


def defer(charges: list[Charge]) -> None:
    """Charges checked by the request's read, to be committed with its writes."""
    _deferred.set(_deferred.get() + tuple(charges))


def take_deferred() -> tuple[Charge, ...]:
    charges = _deferred.get()
    _deferred.set(())
    return charges


def _window(now: int, size: int) -> tuple[int, int]:
    start = now - now % size
    return start, start + size


def source_partition(source: str) -> str:
    """Failed authentications by source live outside any tenant: the source has none."""
    return f"SRC#{source}"


class RateLimiter:
    def __init__(
        self, settings: Settings, repository: RateLimitRepository, db: Database | None = None
    ) -> None:
        self._settings = settings
        self.repository = repository
        self._db = db

    # -- budgets of authenticated callers ----------------------------------------------------

    def client_charge(self, principal: Principal, *, write: bool, now: int) -> Charge | None:
        return self.client_charge_for(principal.tenant_id, principal.client_id, write=write, now=now)

    def client_charge_for(
        self, tenant_id: str | None, client_id: str, *, write: bool, now: int
    ) -> Charge | None:
        s = self._settings
        limit = s.rate_client_writes_per_15_minutes if write else s.rate_client_reads_per_15_minutes
        return self._caller_charge("client", tenant_id, client_id, limit, write, now)

    def session_charge(self, tenant_id: str | None, user_id: str, *, write: bool, now: int) -> Charge | None:
        """A person's own budget: a dashboard polls, so it is larger than a client's."""
        s = self._settings
        limit = s.rate_session_writes_per_15_minutes if write else s.rate_session_reads_per_15_minutes
        return self._caller_charge("session", tenant_id, user_id, limit, write, now)

    def _caller_charge(
        self, caller: str, tenant_id: str | None, subject: str, limit: int, write: bool, now: int
    ) -> Charge | None:
        """`<caller>-read` / `<caller>-write` over 15 minutes, in the caller's tenant partition
        (the platform's for operators)."""
        kind = f"{caller}-write" if write else f"{caller}-read"
        pk = tenant_pk(tenant_id) if tenant_id else PLATFORM_PK
        return self._charge(pk, kind, subject, limit, CLIENT_WINDOW, now)

    def delegation_charge(self, principal: Principal, now: int) -> Charge | None:
        assert principal.tenant_id is not None
        return self._charge(
            tenant_pk(principal.tenant_id),
            "delegation",
            principal.subject,
            self._settings.rate_delegations_per_minute,
            DELEGATION_WINDOW,
            now,
        )

    def check(self, charges: list[Charge], snapshot: Snapshot, now: int) -> None:
        """429 when any budget is spent (the transaction's condition settles races)."""
        over = [c for c in charges if c.spent(snapshot) >= c.limit]
        if over:
            raise RateLimited(max(c.retry_after(now) for c in over))

    def flush(self, now: int) -> None:
        """Charge what no transaction carried (a request that wrote nothing), with the
        request's deferred bookkeeping in the same write."""
        writes = take_deferred_writes()
        if not writes or self._db is None:
            for charge in take_deferred():
                self.repository.charge_now(charge)
            return
        tx = self._db.transaction()
        for charge in take_deferred():
            charge_in(tx, charge)
        for write in writes:
            write(tx)
        try:
            tx.commit()
        except ConditionFailed as exc:
            if REPLAY_LABEL in exc.labels:  # a client assertion used before: refuse the answer
                raise InvalidClient("The client assertion was already used.") from exc
            if DPOP_REPLAY_LABEL in exc.labels:  # a DPoP proof used before: refuse the answer
                raise InvalidDPoPProof("The DPoP proof was already used (jti).") from exc
            # over a budget meanwhile, or the session ended: the answer is already given

    # -- failed authentication -----------------------------------------------------------------

    def source_failure_charge(self, source: str, now: int) -> Charge | None:
        return self._charge(
            source_partition(source),
            "auth-failure",
            "source",
            self._settings.rate_auth_failures_per_source,
            FAILURE_WINDOW,
            now,
        )

    def client_failure_charge(self, tenant_id: str | None, client_id: str, now: int) -> Charge | None:
        pk = tenant_pk(tenant_id) if tenant_id else PLATFORM_PK
        return self._charge(
            pk,
            "auth-failure",
            client_id,
            self._settings.rate_auth_failures_per_client,
            FAILURE_WINDOW,
            now,
        )

    def check_source(self, source: str, snapshot: Snapshot, now: int) -> None:
        charge = self.source_failure_charge(source, now)
        if charge is not None and charge.spent(snapshot) >= charge.limit:
            raise RateLimited(charge.retry_after(now))

    @staticmethod
    def _charge(pk: str, kind: str, subject: str, limit: int, window: int, now: int) -> Charge | None:
        if limit <= 0:
            return None
        start, end = _window(now, window)
        return Charge(counter_key(pk, kind, subject, start), limit, end)
