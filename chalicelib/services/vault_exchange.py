"""The token vault's agent side: `POST /vault/exchange` (and RFC 8693 on `/oauth/token`),
the admin's forced refresh (`POST /vault/connections/{id}/check`) and the idle-refresh job's
refresh, all through one refresh path under the connection's lease (chalicelib/vault/lease.py).

Costs (DynamoDB round trips, authentication included):
- a cached token (> 5 minutes left, the common path): 2 — the batched read (caller,
  budgets, connection, the tenant's provider settings, its webhook) and one transaction
  (`last_used_at`, `vault.exchanged`, the budget charge);
- a refresh: 3 — the read, the lease (a conditional UpdateItem that reloads the record) and
  the transaction that stores the new tokens, releases the lease and carries the audit
  events; plus one provider call (the token endpoint; discovery is never needed: the
  connection keeps its token endpoint);
- a process that lost the lease: the read, the lease attempt, one consistent GetItem per
  poll (50 ms doubling to 1 s, 10 s at most) and the transaction.

Refusals: an unknown connection, another tenant's and a deleted one get the same 404 (the
read names only the caller's own partition, so all three do the same work); a connection of
the caller's own tenant that does not allow the agent gets 403 (it tells an agent of the
tenant that the id exists in its own tenant, which its admin could tell it anyway).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.auth.scope import own_scope
from chalicelib.domain import audit
from chalicelib.domain import vault as rules
from chalicelib.domain import vault_refresh as refresh
from chalicelib.domain.principal import TenantScope
from chalicelib.domain.vault import Status
from chalicelib.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from chalicelib.observability import logger
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit
from chalicelib.services.notify import Notifier
from chalicelib.services.vault import InvalidScope, VaultSupport, connection_view, decrypt, encrypt
from chalicelib.store.connections import ConnectionRepository, connection_key, provider_key
from chalicelib.store.db import Database
from chalicelib.store.models import ConnectionModel, VaultProviderModel
from chalicelib.store.reads import BatchReader, Key, Snapshot
from chalicelib.tokens import token_fingerprint
from chalicelib.vault import auth0, providers
from chalicelib.vault.client import Endpoints, GrantDead, ProviderError, ProviderTransient
from chalicelib.vault.lease import Held, RefreshLease, Settled

SCOPED_TOKENS = "vault.scoped_access_tokens"
HIDDEN = frozenset({Status.PENDING, Status.FAILED, Status.SUPERSEDED, Status.DELETED})
WAIT_RETRY_AFTER = 1


class VaultAccessDenied(Forbidden):
    error = "access_denied"
    description = "This agent is not allowed to use the connection."


class ConnectionNeedsReauth(Conflict):
    error = "connection_needs_reauthorization"
    description = "The provider no longer honours the connection's grant; an admin must reconnect it."

    def __init__(self, connection_id: str, reason: str | None) -> None:
        super().__init__(extra={"connection_id": connection_id, "reason": reason or "invalid_grant"})


class VaultUnavailable(ServiceUnavailable):
    description = "The provider could not issue a token now; retry after the given delay."

    def __init__(self, retry_after: int, description: str | None = None) -> None:
        super().__init__(description, headers={"Retry-After": str(max(1, int(retry_after)))})


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    expires_at: int
    scopes: tuple[str, ...]
    lifetime: int | None = None  # seconds from issue to expiry, when the cache knows it


class _Changes:
    """Attribute changes applied to the local record (for the answer) and as update actions
    (for the transaction) at once."""

    def __init__(self, connection: ConnectionModel) -> None:
        self.connection = connection
        self.actions: list[Any] = []

    def set(self, name: str, value: Any) -> None:
        attribute = getattr(ConnectionModel, name)
        setattr(self.connection, name, value)
        self.actions.append(attribute.remove() if value is None else attribute.set(value))


class VaultExchangeService:
    def __init__(
        self,
        db: Database,
        connections: ConnectionRepository,
        reader: BatchReader,
        auditor: AuditService,
        support: VaultSupport,
        notifier: Notifier,
        lease: RefreshLease | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._connections = connections
        self._reader = reader
        self._auditor = auditor
        self._support = support
        self._notifier = notifier
        self._lease = lease or RefreshLease(connections)
        self._clock = clock

    # -- the agent's exchange ---------------------------------------------------------------------
    def exchange(self, call: Call, connection_id: str, scopes: Sequence[str] | None) -> dict[str, Any]:
        """An access token of the connection for the calling agent, within the connection's
        allowed scopes (their API scopes when `scopes` is None), down-scoped to exactly the
        scopes asked when the grant holds more (identity scopes such as `openid` included)."""
        assert call.principal is not None
        scope = own_scope(call.principal)
        connection, snapshot = self._read(call, scope, connection_id)
        denied = self._denial(call, scope, connection, connection_id, scopes)
        if denied is not None:
            reason, error = denied
            self._deny(call, scope, connection_id, reason, error)
            raise error
        assert connection is not None
        allowed = list(connection.allowed_scopes or [])
        requested = tuple(dict.fromkeys(scopes)) if scopes else refresh.api_scopes(allowed)
        narrowable = auth0.can_down_scope(connection.provider)
        slot = refresh.slot_for(requested, connection.granted_scopes or [], can_down_scope=narrowable)
        now = int(self._clock())
        cached = self._cached(scope, connection, slot)
        if cached is not None and refresh.is_fresh(cached.expires_at, now, cached.lifetime):
            tx = self._db.transaction()
            self._connections.mark_used(tx, scope, connection, call.timestamp)
            return self._issue(call, scope, connection, cached, tx, source="cache")
        if Status(connection.status) is Status.REFRESH_FAILING and (connection.next_attempt_at or 0) > now:
            return self._backing_off(call, scope, connection, cached, now)
        return self._refresh_and_issue(call, scope, connection, snapshot, slot, requested)

    def _read(
        self, call: Call, scope: TenantScope, connection_id: str
    ) -> tuple[ConnectionModel | None, Snapshot]:
        """One batch: the connection, the tenant's provider settings (the OAuth client a
        refresh needs) and what the notifier reads; the same keys whatever the id names."""
        key = (
            connection_key(scope.tenant_id, connection_id)
            if rules.CONNECTION_ID.fullmatch(connection_id)
            else None
        )
        keys: list[Key] = [provider_key(scope.tenant_id, name) for name in providers.PROVIDERS]
        keys += self._notifier.keys(scope.tenant_id)
        snapshot = call.read(self._reader, ([key] if key else []) + keys)
        return snapshot.get(ConnectionModel, key), snapshot

    def _denial(
        self,
        call: Call,
        scope: TenantScope,
        connection: ConnectionModel | None,
        connection_id: str,
        scopes: Sequence[str] | None,
    ) -> tuple[str, Exception] | None:
        assert call.principal is not None
        if connection is None or Status(connection.status) in HIDDEN:
            return "not_found", NotFound()
        if call.principal.subject not in (connection.agent_ids or []):
            return "agent_not_allowed", VaultAccessDenied()
        allowed = list(connection.allowed_scopes or [])
        missing = rules.missing_scopes(scopes or [], allowed)
        if missing or not (scopes or refresh.api_scopes(allowed)):
            error = InvalidScope(
                "Scopes not allowed on this connection: " + " ".join(missing)
                if missing
                else "The connection allows no API scopes.",
                extra={"missing_scopes": missing},
            )
            return "scope_not_allowed", error
        status = Status(connection.status)
        if status is Status.DISABLED:
            return "disabled", VaultAccessDenied("The connection is disabled by an admin.")
        if status is Status.NEEDS_REAUTH:
            return "needs_reauth", ConnectionNeedsReauth(connection_id, connection.status_reason)
        return None

    def _deny(
        self, call: Call, scope: TenantScope, connection_id: str, reason: str, error: Exception
    ) -> None:
        """`vault.exchange_denied` in the agent's own log, with the request's budget charge."""
        detail: dict[str, Any] = {"connection_id": connection_id, "reason": reason}
        missing = getattr(error, "extra", {}).get("missing_scopes")
        if missing:
            detail["missing_scopes"] = missing
        tx = self._db.transaction()
        self._auditor.record(tx, call, audit.VAULT_EXCHANGE_DENIED, (scope,), detail=detail)
        commit(tx)

    def _issue(
        self,
        call: Call,
        scope: TenantScope,
        connection: ConnectionModel,
        token: Token,
        tx: Any,
        *,
        source: str,
        extra_events: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> dict[str, Any]:
        """Commit `tx` with `vault.exchanged` (the token's SHA-256, never the token) and answer.
        A token carrying API scopes the connection does not allow (a provider that cannot or
        did not narrow it) is never served: `vault.exchange_denied` instead, and 403."""
        for event_type, detail in extra_events:
            self._auditor.record(tx, call, event_type, (scope,), detail=detail)
        allowed = set(connection.allowed_scopes or [])
        beyond = [s for s in refresh.api_scopes(token.scopes) if s not in allowed]
        if beyond:
            denied = {
                "connection_id": connection.connection_id,
                "reason": "token_beyond_allowed_scopes",
                "scopes_beyond": beyond,
            }
            self._auditor.record(tx, call, audit.VAULT_EXCHANGE_DENIED, (scope,), detail=denied)
            commit(tx, NotFound())
            raise VaultAccessDenied(
                "The provider's token carries scopes this connection does not allow ("
                + " ".join(beyond)
                + "); an admin must connect again asking only for the scopes agents may use."
            )
        detail = {
            "connection_id": connection.connection_id,
            "provider": connection.provider,
            "scopes": list(token.scopes),
            "source": source,
        }
        self._auditor.record(
            tx,
            call,
            audit.VAULT_EXCHANGED,
            (scope,),
            token_sha256=token_fingerprint(token.access_token),
            detail=detail,
        )
        commit(tx, NotFound())
        return {
            "access_token": token.access_token,
            "token_type": "Bearer",
            "expires_in": max(0, token.expires_at - int(self._clock())),
            "scope": " ".join(token.scopes),
            "connection_id": connection.connection_id,
            "provider": connection.provider,
        }

    def _backing_off(
        self, call: Call, scope: TenantScope, connection: ConnectionModel, cached: Token | None, now: int
    ) -> dict[str, Any]:
        """The provider failed recently: serve a token that still works, else 503 until the
        next attempt is due (no provider call meanwhile)."""
        if cached is not None and cached.expires_at > now:
            tx = self._db.transaction()
            self._connections.mark_used(tx, scope, connection, call.timestamp)
            return self._issue(call, scope, connection, cached, tx, source="cache_while_failing")
        wait = int(connection.next_attempt_at or now) - now
        error = VaultUnavailable(wait)
        self._deny(call, scope, connection.connection_id, "refresh_failing", error)
        raise error

    def _refresh_and_issue(
        self,
        call: Call,
        scope: TenantScope,
        connection: ConnectionModel,
        snapshot: Snapshot,
        slot: str,
        requested: tuple[str, ...],
    ) -> dict[str, Any]:
        since = connection.last_refresh_at

        def settled(current: ConnectionModel) -> bool:
            now = int(self._clock())
            if Status(current.status) not in (Status.ACTIVE, Status.REFRESH_FAILING):
                return True
            if Status(current.status) is Status.REFRESH_FAILING and (current.next_attempt_at or 0) > now:
                return True
            return self._servable(scope, current, slot, since, now) is not None

        for _ in range(3):  # a holder whose lease ran out starts over (at most twice)
            got = self._lease.acquire(scope, connection, settled)
            if got is None:
                error = VaultUnavailable(
                    WAIT_RETRY_AFTER, "The connection's token is being refreshed; retry."
                )
                self._deny(call, scope, connection.connection_id, "refresh_in_progress", error)
                raise error
            if isinstance(got, Settled):
                return self._after_wait(call, scope, got.connection, connection.connection_id, slot, since)
            connection = got.connection
            if settled(connection):  # settled between our read and the lease: let it go
                tx = self._db.transaction()
                self._connections.finish_lease(tx, scope, connection, got.owner, [])
                try:
                    commit(tx, _LeaseLost())
                except _LeaseLost:
                    pass
                return self._after_wait(call, scope, connection, connection.connection_id, slot, since)
            down_scope = requested if slot != refresh.MAIN_SLOT else None
            outcome = self._refresh_holding(call, scope, connection, snapshot, got, down_scope, slot)
            if outcome is not None:
                return outcome
            reread = self._connections.get(scope, connection.connection_id)
            if reread is None:
                break
            connection = reread
        raise VaultUnavailable(WAIT_RETRY_AFTER)

    def _servable(
        self, scope: TenantScope, connection: ConnectionModel, slot: str, since: str | None, now: int
    ) -> Token | None:
        """The slot's token if it may be served: fresh (> 5 minutes left), or refreshed by
        another process since `since` and not expired (a provider whose tokens live less
        than the margin: what the winner got is what the waiters wait for)."""
        token = self._cached(scope, connection, slot)
        if token is None:
            return None
        if refresh.is_fresh(token.expires_at, now, token.lifetime):
            return token
        if connection.last_refresh_at != since and token.expires_at > now:
            return token
        return None

    def _after_wait(
        self,
        call: Call,
        scope: TenantScope,
        connection: ConnectionModel | None,
        connection_id: str,
        slot: str,
        since: str | None,
    ) -> dict[str, Any]:
        """Another process settled it while this one waited: its token, or its verdict."""
        if connection is None or Status(connection.status) in HIDDEN:
            self._deny(call, scope, connection_id, "not_found", NotFound())
            raise NotFound()
        status = Status(connection.status)
        now = int(self._clock())
        if status is Status.NEEDS_REAUTH:
            error: Exception = ConnectionNeedsReauth(connection_id, connection.status_reason)
            self._deny(call, scope, connection_id, "needs_reauth", error)
            raise error
        if status is Status.DISABLED:
            error = VaultAccessDenied("The connection is disabled by an admin.")
            self._deny(call, scope, connection_id, "disabled", error)
            raise error
        servable = self._servable(scope, connection, slot, since, now)
        if servable is not None:
            tx = self._db.transaction()
            self._connections.mark_used(tx, scope, connection, call.timestamp)
            return self._issue(call, scope, connection, servable, tx, source="cache_after_wait")
        return self._backing_off(call, scope, connection, self._cached(scope, connection, slot), now)

    def _refresh_holding(
        self,
        call: Call,
        scope: TenantScope,
        connection: ConnectionModel,
        snapshot: Snapshot,
        held: Held,
        down_scope: tuple[str, ...] | None,
        slot: str,
    ) -> dict[str, Any] | None:
        """Refresh at the provider while holding the lease; None when the lease was lost
        meanwhile (the caller re-reads and starts over)."""
        now = int(self._clock())
        changes = _Changes(connection)
        changes.set("last_used_at", call.timestamp)
        try:
            token = self._provider_refresh(scope, connection, snapshot, changes, down_scope, slot, now)
        except GrantDead as exc:
            return self._dead(call, scope, connection, held, changes, exc.reason, exchange=True)
        except ProviderError as exc:
            return self._failing(call, scope, connection, held, changes, exc, exchange_slot=slot)
        tx = self._db.transaction()
        self._connections.finish_lease(tx, scope, connection, held.owner, changes.actions)
        try:
            return self._issue(call, scope, connection, token, tx, source="refresh")
        except NotFound:
            logger.warning(
                "vault refresh: the lease ran out before the new token was stored", extra=_log(connection)
            )
            return None

    # -- the refresh itself ----------------------------------------------------------------------
    def _provider_refresh(
        self,
        scope: TenantScope,
        connection: ConnectionModel,
        snapshot: Snapshot,
        changes: _Changes,
        down_scope: tuple[str, ...] | None,
        slot: str,
        now: int,
    ) -> Token:
        """Call the provider's token endpoint with the stored refresh token and put the
        answer on `changes`: the access token in its cache slot, a rotated refresh token,
        the status back to active, the idle-refresh job's next due time."""
        item = snapshot.get(VaultProviderModel, provider_key(scope.tenant_id, connection.provider))
        client = self._support.client_for(
            scope, connection.provider, connection.client_source, connection.client_id, item
        )
        if client is None or not connection.token_endpoint or not connection.refresh_token_ciphertext:
            raise ProviderTransient("client_or_grant_missing")
        encryptor = self._support.encryptor
        tenant_id, cid = scope.tenant_id, connection.connection_id
        refresh_token = decrypt(
            encryptor,
            connection.refresh_token_ciphertext,
            rules.connection_context(tenant_id, cid, rules.REFRESH_TOKEN),
        )
        endpoints = Endpoints(
            "",
            connection.token_endpoint,
            issuer=connection.issuer,
            revocation_endpoint=connection.revocation_endpoint,
        )
        http = self._support.http  # Auth0 Token Vault connections: the federated exchange
        pinned = connection.auth0_connection
        tokens = auth0.refresh(
            http, connection.provider, item, endpoints, client, refresh_token, down_scope, pinned
        )
        expires_at = refresh.expires_at(now, tokens.expires_in)
        granted = list(connection.granted_scopes or [])
        # RFC 6749 §5.1: no `scope` in the answer means the scope asked (the whole grant when
        # none was, or when the provider cannot narrow a token).
        narrowed = down_scope if auth0.can_down_scope(connection.provider) else None
        scopes = tuple(tokens.scope) if tokens.scope is not None else (narrowed or tuple(granted))
        token = Token(tokens.access_token, expires_at, scopes)
        if slot == refresh.MAIN_SLOT:
            issued = {
                "access_token": token.access_token,
                "expires_at": expires_at,
                "issued_at": now,
                "scope": list(scopes),
            }
            blob = json.dumps(issued)
            changes.set(
                "access_token_ciphertext",
                encrypt(encryptor, blob, rules.connection_context(tenant_id, cid, rules.ACCESS_TOKEN)),
            )
            changes.set("access_token_expires_at", expires_at)
        else:
            slots = self._scoped(scope, connection)
            slots = {k: v for k, v in slots.items() if int(v.get("expires_at") or 0) > now}
            slots[slot] = {
                "access_token": token.access_token,
                "expires_at": expires_at,
                "issued_at": now,
                "scope": list(scopes),
            }
            kept = dict(
                sorted(slots.items(), key=lambda kv: -int(kv[1]["expires_at"]))[: refresh.MAX_SCOPED_SLOTS]
            )
            changes.set(
                "scoped_tokens_ciphertext",
                encrypt(encryptor, json.dumps(kept), rules.connection_context(tenant_id, cid, SCOPED_TOKENS)),
            )
        if tokens.refresh_token is not None and tokens.refresh_token != refresh_token:
            changes.set(
                "refresh_token_ciphertext",
                encrypt(
                    encryptor,
                    tokens.refresh_token,
                    rules.connection_context(tenant_id, cid, rules.REFRESH_TOKEN),
                ),
            )
        changes.set("status", rules.transition(connection.status, Status.ACTIVE).value)
        changes.set("status_reason", None)
        changes.set("next_attempt_at", None)
        changes.set("refresh_failures", None)
        changes.set("last_refresh_at", _iso(now))
        due = now + refresh.IDLE_REFRESH_SECONDS
        changes.set("refresh_bucket", refresh.refresh_bucket(due))
        changes.set("refresh_due_at", due)
        return token

    def _dead(
        self,
        call: Call,
        scope: TenantScope,
        connection: ConnectionModel,
        held: Held,
        changes: _Changes,
        reason: str,
        *,
        exchange: bool,
    ) -> dict[str, Any] | None:
        """The provider refused the grant: `needs_reauth`, unless the lease was lost meanwhile
        (another process may have stored a newer refresh token: the caller re-reads). The
        tenant's admins hear of it by audit event, webhook and the connections list."""
        changes.set("status", rules.transition(connection.status, Status.NEEDS_REAUTH).value)
        changes.set("status_reason", reason)
        changes.set("access_token_ciphertext", None)
        changes.set("access_token_expires_at", None)
        changes.set("scoped_tokens_ciphertext", None)
        changes.set("next_attempt_at", None)
        changes.set("refresh_bucket", None)
        changes.set("refresh_due_at", None)
        changes.set("updated_at", call.timestamp)
        tx = self._db.transaction()
        self._connections.finish_lease(tx, scope, connection, held.owner, changes.actions)
        detail = {
            "connection_id": connection.connection_id,
            "provider": connection.provider,
            "reason": reason,
        }
        self._auditor.record(tx, call, audit.VAULT_NEEDS_REAUTH, (scope,), detail=detail)
        if exchange:
            denied = {"connection_id": connection.connection_id, "reason": "needs_reauth"}
            self._auditor.record(tx, call, audit.VAULT_EXCHANGE_DENIED, (scope,), detail=denied)
        try:
            commit(tx, _LeaseLost())
        except _LeaseLost:
            logger.warning(
                "vault refresh: grant refused after the lease was lost; re-reading", extra=_log(connection)
            )
            return None
        logger.warning("vault connection needs reauthorization", extra={**_log(connection), "reason": reason})
        self._notify(call, scope, connection, reason)
        if exchange:
            raise ConnectionNeedsReauth(connection.connection_id, reason)
        return {}

    def _failing(
        self,
        call: Call,
        scope: TenantScope,
        connection: ConnectionModel,
        held: Held,
        changes: _Changes,
        exc: ProviderError,
        *,
        exchange_slot: str | None,
    ) -> dict[str, Any] | None:
        """A transient failure (5xx, 429, timeout) or a refusal other than a dead grant:
        `refresh_failing` with backoff, never `needs_reauth`. An exchange still gets a cached
        token that has not expired yet; else 503 with Retry-After."""
        now = int(self._clock())
        failures = int(connection.refresh_failures or 0) + 1
        hinted = exc.retry_after if isinstance(exc, ProviderTransient) and exc.hinted else None
        wait = refresh.backoff_seconds(failures, hinted)
        reason = "provider_unavailable" if isinstance(exc, ProviderTransient) else "provider_rejected"
        previous = connection.status
        changes.set("status", rules.transition(previous, Status.REFRESH_FAILING).value)
        changes.set("status_reason", reason)
        changes.set("next_attempt_at", now + wait)
        changes.set("refresh_failures", failures)
        changes.set("refresh_bucket", refresh.refresh_bucket(now + wait))
        changes.set("refresh_due_at", now + wait)
        tx = self._db.transaction()
        self._connections.finish_lease(tx, scope, connection, held.owner, changes.actions)
        failed = {
            "connection_id": connection.connection_id,
            "provider": connection.provider,
            "reason": exc.reason[:200],
            "retry_after": wait,
            "failures": failures,
        }
        logger.warning(
            "vault refresh failed",
            extra={**_log(connection), "reason": exc.reason[:200], "retry_after": wait},
        )
        cached = self._cached(scope, connection, exchange_slot) if exchange_slot is not None else None
        if exchange_slot is not None and cached is not None and cached.expires_at > now:
            try:
                return self._issue(
                    call,
                    scope,
                    connection,
                    cached,
                    tx,
                    source="cache_while_failing",
                    extra_events=[(audit.VAULT_REFRESH_FAILED, failed)],
                )
            except NotFound:
                return None
        self._auditor.record(tx, call, audit.VAULT_REFRESH_FAILED, (scope,), detail=failed)
        if exchange_slot is not None:
            denied = {"connection_id": connection.connection_id, "reason": "refresh_failing"}
            self._auditor.record(tx, call, audit.VAULT_EXCHANGE_DENIED, (scope,), detail=denied)
        try:
            commit(tx, _LeaseLost())
        except _LeaseLost:
            return None
        if exchange_slot is not None:
            raise VaultUnavailable(wait)
        return {}

    # -- forced refreshes: the admin's check and the idle-refresh job ----------------------------
    def check(self, call: Call, connection_id: str) -> dict[str, Any]:
        """A forced refresh through the same lease; the connection as it is afterwards."""
        assert call.principal is not None
        scope = own_scope(call.principal)
        connection, snapshot = self._read(call, scope, connection_id)
        if connection is None or Status(connection.status) in HIDDEN:
            raise NotFound()
        connection = self.force_refresh(call, scope, connection, snapshot)
        return connection_view(connection)

    def refresh_due(self, call: Call, scope: TenantScope, connection_id: str) -> str:
        """The idle-refresh job's step for one connection: `refreshed`, `failing`,
        `needs_reauth`, or `skipped` (not live, not due, or refreshed meanwhile)."""
        connection, snapshot = self._read(call, scope, connection_id)
        if connection is None or Status(connection.status) not in (Status.ACTIVE, Status.REFRESH_FAILING):
            return "skipped"
        if connection.refresh_due_at is None or int(connection.refresh_due_at) > call.epoch:
            return "skipped"
        # The cached token's ciphertext tells a refresh apart even within the second of the last
        # one (`last_refresh_at` has whole seconds: a connect and a refresh can share one).
        before = (connection.last_refresh_at, connection.status, connection.access_token_ciphertext)
        after = self.force_refresh(call, scope, connection, snapshot)  # (updates `connection` too)
        if (after.last_refresh_at, after.status, after.access_token_ciphertext) == before:
            return "skipped"
        return {Status.ACTIVE: "refreshed", Status.NEEDS_REAUTH: "needs_reauth"}.get(
            Status(after.status), "failing"
        )

    def force_refresh(
        self, call: Call, scope: TenantScope, connection: ConnectionModel, snapshot: Snapshot
    ) -> ConnectionModel:
        """Refresh the whole grant's token now (whatever the cache holds), under the lease;
        a refresh by another process meanwhile counts as done. The record afterwards."""
        if Status(connection.status) not in (Status.ACTIVE, Status.REFRESH_FAILING):
            return connection
        before = (connection.last_refresh_at, connection.status, connection.next_attempt_at)

        def settled(current: ConnectionModel) -> bool:
            return (current.last_refresh_at, current.status, current.next_attempt_at) != before

        for _ in range(3):
            got = self._lease.acquire(scope, connection, settled)
            if got is None:
                raise VaultUnavailable(WAIT_RETRY_AFTER, "The connection's token is being refreshed; retry.")
            if isinstance(got, Settled):
                if got.connection is None:
                    raise NotFound()
                return got.connection
            connection = got.connection
            changes = _Changes(connection)
            now = int(self._clock())
            try:
                self._provider_refresh(scope, connection, snapshot, changes, None, refresh.MAIN_SLOT, now)
            except GrantDead as exc:
                if self._dead(call, scope, connection, got, changes, exc.reason, exchange=False) is not None:
                    return connection
            except ProviderError as exc:
                if self._failing(call, scope, connection, got, changes, exc, exchange_slot=None) is not None:
                    return connection
            else:
                tx = self._db.transaction()
                self._connections.finish_lease(tx, scope, connection, got.owner, changes.actions)
                try:
                    commit(tx, _LeaseLost())
                    return connection
                except _LeaseLost:
                    pass
            reread = self._connections.get(scope, connection.connection_id)
            if reread is None:
                raise NotFound()
            connection = reread
        raise VaultUnavailable(WAIT_RETRY_AFTER)

    # -- the cache -------------------------------------------------------------------------------
    def _cached(self, scope: TenantScope, connection: ConnectionModel, slot: str) -> Token | None:
        """The cached token of a slot (decrypted only when it may still be served)."""
        now = int(self._clock())
        encryptor = self._support.encryptor
        if slot == refresh.MAIN_SLOT:
            blob, expires = connection.access_token_ciphertext, connection.access_token_expires_at
            if not blob or expires is None or int(expires) <= now:
                return None
            context = rules.connection_context(scope.tenant_id, connection.connection_id, rules.ACCESS_TOKEN)
            value = json.loads(decrypt(encryptor, blob, context))
            scopes = tuple(value.get("scope") or connection.granted_scopes or [])
            return Token(str(value["access_token"]), int(expires), scopes, _lifetime(value))
        entry = self._scoped(scope, connection).get(slot)
        if entry is None or int(entry.get("expires_at") or 0) <= now:
            return None
        return Token(
            str(entry["access_token"]),
            int(entry["expires_at"]),
            tuple(entry.get("scope") or slot.split(" ")),
            _lifetime(entry),
        )

    def _scoped(self, scope: TenantScope, connection: ConnectionModel) -> dict[str, dict[str, Any]]:
        blob = connection.scoped_tokens_ciphertext
        if not blob:
            return {}
        context = rules.connection_context(scope.tenant_id, connection.connection_id, SCOPED_TOKENS)
        value = json.loads(decrypt(self._support.encryptor, blob, context))
        return value if isinstance(value, dict) else {}

    def _notify(self, call: Call, scope: TenantScope, connection: ConnectionModel, reason: str) -> None:
        """Tell the tenant's admins through its webhook (best effort, never raises)."""
        payload = {
            "type": audit.VAULT_NEEDS_REAUTH,
            "occurred_at": call.timestamp,
            "connection_id": connection.connection_id,
            "provider": connection.provider,
            "label": connection.label,
            "reason": reason,
        }
        try:
            self._notifier.stepup_event(audit.VAULT_NEEDS_REAUTH, scope.tenant_id, payload, None)
        except Exception:  # noqa: BLE001 - a notification must never fail the request
            logger.exception("vault notification failed")


class _LeaseLost(Conflict):
    """The lease holder's final write failed: the lease ran out and another process took it."""


def _iso(epoch: int) -> str:
    from chalicelib.services.call import iso

    return iso(epoch)


def _lifetime(cached: dict[str, Any]) -> int | None:
    """A cached token's lifetime, from the times stored beside it (older entries have none)."""
    issued, expires = cached.get("issued_at"), cached.get("expires_at")
    return int(expires) - int(issued) if isinstance(issued, int) and isinstance(expires, int) else None


def _log(connection: ConnectionModel) -> dict[str, str]:
    return {"connection_id": connection.connection_id, "provider": connection.provider}
