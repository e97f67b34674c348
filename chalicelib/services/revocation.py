"""Revocation (instant, by either party or the requesting agent) and the registry half of
token verification: a delegation is usable only while its record says so."""

from __future__ import annotations

from typing import Any

from chalicelib.auth.scope import counterpart_scope, own_scope
from chalicelib.domain import audit, ids
from chalicelib.domain.delegation import LIVE_STATUSES, Status
from chalicelib.domain.principal import Principal, Role, TenantScope
from chalicelib.errors import Conflict, NotFound
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit
from chalicelib.services.delegation_records import delegation_view, status_of
from chalicelib.store.db import Database
from chalicelib.store.delegations import DelegationRepository
from chalicelib.store.keys import delegation_key, tenant_key
from chalicelib.store.models import DelegationModel, DelegationRefModel, TenantModel
from chalicelib.store.reads import Snapshot
from chalicelib.store.tenants import TenantRepository
from chalicelib.tokens import token_fingerprint


class RevocationService:
    def __init__(
        self,
        db: Database,
        tenants: TenantRepository,
        delegations: DelegationRepository,
        auditor: AuditService,
    ) -> None:
        self._db = db
        self._tenants = tenants
        self._delegations = delegations
        self._auditor = auditor

    def revoke(self, call: Call, delegation_id: str) -> dict[str, Any]:
        """Instant revocation by an admin of either side or the requesting agent."""
        principal = _principal(call)
        record, ref = self.find_pair(principal, delegation_id)
        self._revoke(call, record, ref)
        return delegation_view(
            record, call.epoch, "inbound" if record.receiving_tenant_id == principal.tenant_id else "outbound"
        )

    def revoke_for_agent(self, call: Call, scope: TenantScope, agent_id: str) -> int:
        """Revoke every live delegation of a disabled agent; the number revoked."""
        revoked = 0
        refs = [
            r
            for r in self._delegations.iter_outbound(scope)
            if r.agent_id == agent_id and status_of(r, call.epoch) in LIVE_STATUSES
        ]
        for ref in refs:
            record = self._delegations.get(
                counterpart_scope(_principal(call), ref.receiving_tenant_id), ref.delegation_id
            )
            if record is not None and self._revoke(call, record, ref, reason="agent_disabled"):
                revoked += 1
        return revoked

    def find_pair(
        self, principal: Principal, delegation_id: str
    ) -> tuple[DelegationModel, DelegationRefModel]:
        """Both records of a delegation the principal may act on; NotFound for any other id."""
        scope = own_scope(principal)
        if not ids.DELEGATION_ID.fullmatch(delegation_id):
            raise NotFound()
        record = self._delegations.get(scope, delegation_id) if principal.role is Role.ADMIN else None
        if record is not None:
            ref = self._delegations.get_ref(
                counterpart_scope(principal, record.requesting_tenant_id), delegation_id
            )
        else:
            ref = self._delegations.get_ref(scope, delegation_id)
            if ref is None or (principal.role is Role.AGENT and ref.agent_id != principal.subject):
                raise NotFound()
            record = self._delegations.get(
                counterpart_scope(principal, ref.receiving_tenant_id), delegation_id
            )
        if record is None or ref is None:
            raise NotFound()
        return record, ref

    def _revoke(
        self, call: Call, record: DelegationModel, ref: DelegationRefModel, reason: str | None = None
    ) -> bool:
        status = status_of(record, call.epoch)
        if Status(record.status) is Status.REVOKED:
            return False
        if status not in LIVE_STATUSES:
            raise Conflict(f"The delegation is {status.value} and cannot be revoked.")
        changes = {
            "status": Status.REVOKED.value,
            "revoked_at": call.timestamp,
            "updated_at": call.timestamp,
            "expiry_bucket": None,
            "expiry_at": None,
        }
        principal = _principal(call)
        scopes = (
            counterpart_scope(principal, record.requesting_tenant_id),
            counterpart_scope(principal, record.receiving_tenant_id),
        )
        tx = self._db.transaction()
        self._delegations.transition(tx, record, ref, changes)
        self._auditor.record(
            tx,
            call,
            audit.DELEGATION_REVOKED,
            scopes,
            delegation_id=record.delegation_id,
            action=record.action,
            token_sha256=record.token_sha256,
            detail={"reason": reason} if reason else {},
        )
        commit(tx, Conflict("The delegation changed concurrently; retry."))
        record.status, record.revoked_at = Status.REVOKED.value, call.timestamp
        return True

    def active_record(
        self, call: Call, claims: dict[str, Any], token: str, snapshot: Snapshot
    ) -> DelegationModel | None:
        """The registry half of verification: the delegation the verified claims name,
        if it belongs to the caller's tenant, is ACTIVE, unexpired and this very token, and
        the requesting tenant has not been disabled since."""
        principal = _principal(call)
        scope = own_scope(principal)
        jti = claims.get("jti")
        if claims.get("receiving_tenant_id") != scope.tenant_id or not isinstance(jti, str):
            return None
        if not ids.DELEGATION_ID.fullmatch(jti):
            return None
        record = snapshot.get(DelegationModel, delegation_key(scope.tenant_id, jti))
        if (
            record is None
            or status_of(record, call.epoch) is not Status.ACTIVE
            or record.token_sha256 != token_fingerprint(token)
            or record.agent_id != claims.get("sub")
            or record.action != claims.get("scope")
        ):
            return None
        requester = snapshot.get(TenantModel, tenant_key(record.requesting_tenant_id))
        return record if requester is not None and requester.status == "ACTIVE" else None

    def record_use(self, call: Call, record: DelegationModel, token: str) -> None:
        principal = _principal(call)
        scopes = (
            own_scope(principal),
            counterpart_scope(principal, record.requesting_tenant_id),
        )
        tx = self._db.transaction()
        self._auditor.record(
            tx,
            call,
            audit.DELEGATION_VERIFIED,
            scopes,
            delegation_id=record.delegation_id,
            action=record.action,
            token_sha256=token_fingerprint(token),
        )
        commit(tx)


def _principal(call: Call) -> Principal:
    assert call.principal is not None
    return call.principal
