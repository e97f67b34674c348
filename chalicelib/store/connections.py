"""The token vault's records, all in the tenant's partition (chalicelib/store/models.py):
`VPROVIDER#<provider>` (a tenant's own OAuth client for a provider), `CONN#<id>` (a
connection), `VSTATE#<hash>` (a connect under way) and `VACCOUNT#<hash>` (which connection
a provider account has). Every method takes the TenantScope first; the hash key comes from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib.domain.principal import TenantScope
from chalicelib.domain.vault import Status
from chalicelib.store.db import WriteTransaction, guarded, store_errors
from chalicelib.store.models import (
    ConnectionModel,
    VaultAccountModel,
    VaultProviderModel,
    VaultStateModel,
    tenant_pk,
)
from chalicelib.store.reads import Key

CONN_PREFIX = "CONN#"


def provider_key(tenant_id: str, provider: str) -> Key:
    return Key(tenant_pk(tenant_id), f"VPROVIDER#{provider}")


def connection_key(tenant_id: str, connection_id: str) -> Key:
    return Key(tenant_pk(tenant_id), f"{CONN_PREFIX}{connection_id}")


def state_key(tenant_id: str, fingerprint: str) -> Key:
    return Key(tenant_pk(tenant_id), f"VSTATE#{fingerprint}")


def account_hash(provider: str, issuer: str | None, sub: str) -> str:
    return hashlib.sha256(f"{provider}\n{issuer or ''}\n{sub}".encode()).hexdigest()


def account_key(tenant_id: str, account: str) -> Key:
    return Key(tenant_pk(tenant_id), f"VACCOUNT#{account}")


def _own(scope: TenantScope, key: Key) -> Key:
    if key.pk != tenant_pk(scope.tenant_id):
        raise ValueError("the item does not belong to the scope")
    return key


class ConnectionRepository:
    # -- providers -------------------------------------------------------------------------------
    def put_provider(self, tx: WriteTransaction, scope: TenantScope, **fields: Any) -> VaultProviderModel:
        key = provider_key(scope.tenant_id, fields["provider"])
        item = VaultProviderModel(pk=key.pk, sk=key.sk, **fields)
        tx.put(item)
        return item

    # -- connections -----------------------------------------------------------------------------
    def add_pending(
        self, tx: WriteTransaction, scope: TenantScope, connection: ConnectionModel, state: VaultStateModel
    ) -> None:
        """A new pending connection and its state, both created (never overwritten)."""
        _own(scope, Key(connection.pk, connection.sk))
        _own(scope, Key(state.pk, state.sk))
        tx.create(connection)
        tx.create(state)

    def new_connection(self, scope: TenantScope, connection_id: str, **fields: Any) -> ConnectionModel:
        key = connection_key(scope.tenant_id, connection_id)
        return ConnectionModel(pk=key.pk, sk=key.sk, connection_id=connection_id, **fields)

    def new_state(self, scope: TenantScope, fingerprint: str, **fields: Any) -> VaultStateModel:
        key = state_key(scope.tenant_id, fingerprint)
        return VaultStateModel(pk=key.pk, sk=key.sk, **fields)

    def save(
        self, tx: WriteTransaction, scope: TenantScope, connection: ConnectionModel, expected: str
    ) -> None:
        """Write the changed connection if it is still at the version read and in status
        `expected` (the optimistic lock of every state transition)."""
        _own(scope, Key(connection.pk, connection.sk))
        tx.put(connection, ConnectionModel.status == expected)

    @store_errors
    def list_all(self, scope: TenantScope, limit: int = 500) -> list[ConnectionModel]:
        """The tenant's connections (its own partition, one query page of them)."""
        pk = tenant_pk(scope.tenant_id)
        return list(
            guarded(
                ConnectionModel.query(
                    pk, ConnectionModel.sk.startswith(CONN_PREFIX), limit=limit, consistent_read=True
                )
            )
        )

    @store_errors
    def live_of_account(self, scope: TenantScope, account: str) -> ConnectionModel | None:
        """The live connection of a provider account (a consistent query of the tenant's
        connections, filtered by account: one round trip, nothing outside the partition)."""
        pk = tenant_pk(scope.tenant_id)
        found = ConnectionModel.query(
            pk,
            ConnectionModel.sk.startswith(CONN_PREFIX),
            filter_condition=(ConnectionModel.account_key == account)
            & ConnectionModel.status.is_in(*(s.value for s in _LIVE)),
            consistent_read=True,
        )
        return next(iter(guarded(found)), None)

    @store_errors
    def get(self, scope: TenantScope, connection_id: str) -> ConnectionModel | None:
        """One connection, read consistently (a process waiting for another's refresh)."""
        key = connection_key(scope.tenant_id, connection_id)
        try:
            return ConnectionModel.get(key.pk, key.sk, consistent_read=True)
        except ConnectionModel.DoesNotExist:
            return None

    # -- the refresh lease (chalicelib/vault/lease.py) ---------------------------------------------
    @store_errors
    def take_lease(
        self, scope: TenantScope, connection: ConnectionModel, owner: str, now: int, seconds: int
    ) -> bool:
        """Hold the connection's refresh lease until `now + seconds` if nobody holds a live
        one: a conditional UpdateItem (one round trip) that also reloads `connection` with
        what is stored now (ALL_NEW), so that the holder refreshes with the current refresh
        token. False when another process holds it (or the connection is no longer live)."""
        _own(scope, Key(connection.pk, connection.sk))
        free = ConnectionModel.lease_until.does_not_exist() | (ConnectionModel.lease_until < now)
        live = ConnectionModel.status.is_in(*(s.value for s in _REFRESHABLE))
        try:
            connection.update(
                [ConnectionModel.lease_owner.set(owner), ConnectionModel.lease_until.set(now + seconds)],
                condition=free & live,
                add_version_condition=False,
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def finish_lease(
        self,
        tx: WriteTransaction,
        scope: TenantScope,
        connection: ConnectionModel,
        owner: str,
        actions: list[Action],
    ) -> None:
        """Apply the lease holder's changes (new tokens, status) and release the lease, only
        while `owner` still holds it: a holder whose lease ran out and was taken over
        writes nothing (the transaction fails)."""
        _own(scope, Key(connection.pk, connection.sk))
        release = [ConnectionModel.lease_owner.remove(), ConnectionModel.lease_until.remove()]
        tx.update(connection, [*actions, *release], ConnectionModel.lease_owner == owner, versioned=False)

    def mark_used(
        self, tx: WriteTransaction, scope: TenantScope, connection: ConnectionModel, now: str
    ) -> None:
        """`last_used_at`, while the connection is still usable (not deleted meanwhile)."""
        _own(scope, Key(connection.pk, connection.sk))
        live = ConnectionModel.status.is_in(*(s.value for s in _REFRESHABLE))
        tx.update(connection, [ConnectionModel.last_used_at.set(now)], live, versioned=False)

    # -- states and account pointers -------------------------------------------------------------
    def consume_state(self, tx: WriteTransaction, scope: TenantScope, state: VaultStateModel) -> None:
        """Single use: the state goes with the callback's transaction (which fails if it was
        used meanwhile)."""
        _own(scope, Key(state.pk, state.sk))
        tx.delete(state, VaultStateModel.pk.exists())

    def bind_account(
        self,
        tx: WriteTransaction,
        scope: TenantScope,
        account: str,
        connection_id: str,
        provider: str,
        now: str,
        *,
        previous: str | None,
    ) -> None:
        """Point the account at `connection_id`: created when it had none (`previous` None),
        else only while it still points at `previous` (two callbacks cannot both win)."""
        key = account_key(scope.tenant_id, account)
        item = VaultAccountModel(
            pk=key.pk, sk=key.sk, connection_id=connection_id, provider=provider, bound_at=now
        )
        if previous is None:
            tx.create(item)
        else:
            tx.put(item, VaultAccountModel.connection_id == previous)

    def unbind_account(
        self, tx: WriteTransaction, scope: TenantScope, account: str, connection_id: str
    ) -> None:
        key = account_key(scope.tenant_id, account)
        item = VaultAccountModel(pk=key.pk, sk=key.sk)
        tx.delete(item, VaultAccountModel.connection_id == connection_id)


_LIVE: Iterable[Status] = (Status.ACTIVE, Status.REFRESH_FAILING, Status.NEEDS_REAUTH, Status.DISABLED)
_REFRESHABLE: Iterable[Status] = (Status.ACTIVE, Status.REFRESH_FAILING)
