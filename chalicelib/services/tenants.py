"""Tenant registration and the platform's view of tenants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.auth.scope import system_scope, tenant_scope_for
from chalicelib.auth.secrets import SecretHasher
from chalicelib.config import Settings
from chalicelib.domain import audit, ids
from chalicelib.domain.principal import Principal, Role, TenantScope
from chalicelib.errors import AudienceTaken, NotFound, VaultGuardError
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit
from chalicelib.services.counting import EventCounter
from chalicelib.store.credentials import CredentialRepository
from chalicelib.store.db import Database, WriteTransaction
from chalicelib.store.keys import tenant_key
from chalicelib.store.models import TenantModel, TenantRefModel
from chalicelib.store.reads import BatchReader
from chalicelib.store.tenants import TenantRepository

TENANT_STATUSES = ("ACTIVE", "DISABLED")
# Audiences VaultGuard assigns itself (`urn:vaultguard:tenant:<id>`, the API's own audience):
# never available on request, so that no tenant can take one before or after it is assigned.
RESERVED_AUDIENCE_PREFIX = "urn:vaultguard:"


def tenant_view(item: TenantModel | TenantRefModel) -> dict[str, Any]:
    out = {
        "tenant_id": item.tenant_id,
        "name": item.name,
        "status": item.status,
        "created_at": item.created_at,
    }
    if isinstance(item, TenantModel):
        out["audience"] = item.audience
    return out


# What must exist with a new tenant or not at all (its first admin's invitation, a registering
# person), added to the tenant's own transaction; what it returns joins the answer.
WithTenant = Callable[[WriteTransaction, TenantScope], dict[str, Any] | None]


class TenantService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        tenants: TenantRepository,
        credentials: CredentialRepository,
        auditor: AuditService,
        hasher: SecretHasher,
        counter: EventCounter,
        reader: BatchReader,
    ) -> None:
        self._settings = settings
        self._hasher = hasher
        self._db = db
        self._tenants = tenants
        self._credentials = credentials
        self._auditor = auditor
        self._counter = counter
        self._reader = reader

    def create(
        self,
        call: Call,
        name: str,
        audience: str | None = None,
        *,
        also: WithTenant | None = None,
        conflict: VaultGuardError | None = None,
    ) -> dict[str, Any]:
        """Register an organisation and its first admin client (secret shown once), and
        add what `also` adds (its answer joins this one).

        The audience (default `urn:vaultguard:tenant:<id>`) is claimed in the same transaction:
        an audience another tenant holds or ever held gets 409 `audience_taken`, and nothing
        is created."""
        if audience is not None:
            self._check_requested_audience(audience)
        tenant_id = ids.new_tenant_id()
        scope = system_scope(tenant_id)
        audience = audience or f"{RESERVED_AUDIENCE_PREFIX}tenant:{tenant_id}"
        client_id, secret = ids.new_client_id(tenant_id), ids.new_client_secret()
        admin_id = ids.new_admin_id()
        tx = self._db.transaction()
        tenant = self._tenants.add(tx, scope, name, audience, call.timestamp)
        self._credentials.add(
            tx,
            scope,
            client_id=client_id,
            role=Role.ADMIN,
            subject=admin_id,
            secret_hash=self._hasher.hash(secret),
            now=call.timestamp,
        )
        self._auditor.record(tx, call, audit.TENANT_CREATED, (scope,), detail={"name": name})
        extra = (also(tx, scope) if also is not None else None) or {}
        # The ids written beside the claim are fresh and random (80+ bits), so a condition
        # that fails here is the audience claim's (or, with `also`, one of its items').
        taken = AudienceTaken(f"The audience {audience!r} belongs to another tenant; choose another.")
        commit(tx, conflict or taken)
        return {
            **tenant_view(tenant),
            "admin": {"client_id": client_id, "client_secret": secret, "subject": admin_id},
            **extra,
        }

    def _check_requested_audience(self, audience: str) -> None:
        if audience.lower().startswith(RESERVED_AUDIENCE_PREFIX) or audience == self._settings.api_audience:
            raise AudienceTaken(
                f"Audiences under {RESERVED_AUDIENCE_PREFIX} are assigned by VaultGuard; "
                "omit audience to get your own, or choose another."
            )

    def get(self, principal: Principal, tenant_id: str) -> dict[str, Any]:
        return tenant_view(self._require(tenant_scope_for(principal, tenant_id)))

    def list(self, principal: Principal) -> dict[str, Any]:
        refs = self._tenants.list_for_platform(principal)
        return {"tenants": [tenant_view(r) for r in refs]}

    def set_status(self, call: Call, tenant_id: str, status: str) -> dict[str, Any]:
        assert call.principal is not None
        scope = tenant_scope_for(call.principal, tenant_id)
        tenant = self._require(scope)
        if tenant.status != status:
            tx = self._db.transaction()
            self._tenants.set_status(tx, scope, tenant, status)
            detail = {"status": status, "previous_status": tenant.status}
            self._auditor.record(tx, call, audit.TENANT_STATUS_CHANGED, (scope,), detail=detail)
            commit(tx)
            tenant.status = status
        return tenant_view(tenant)

    def stats(self, principal: Principal, tenant_id: str) -> dict[str, Any]:
        """The tenant's counts: its record and its counter shards in one batched read (the
        caller was authenticated by the request's first read). Delegations are counted by
        stored status: time-based expiry shows once the cleanup job has stored it (up to
        5 minutes after the deadline; reads of the delegation itself say EXPIRED at once)."""
        scope = tenant_scope_for(principal, tenant_id)
        key = tenant_key(scope.tenant_id)
        snapshot = self._reader.read([key, *self._counter.keys(scope)])
        if snapshot.get(TenantModel, key) is None:
            raise NotFound()
        return self._counter.tenant_counts(scope, snapshot)

    def _require(self, scope: TenantScope) -> TenantModel:
        tenant = self._tenants.get(scope)
        if tenant is None:
            raise NotFound()
        return tenant
