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
from chalicelib.services.graph import delegation_names
from chalicelib.store.db import MAX_TRANSACTION_ITEMS, Database, WriteTransaction
from chalicelib.store.delegations import DelegationRepository
from chalicelib.store.keys import delegation_key, delegation_ref_key, tenant_key
from chalicelib.store.models import DelegationModel, DelegationRefModel, TenantModel
from chalicelib.store.reads import EMPTY, BatchReader, Key, Snapshot
from chalicelib.store.status_lists import StatusListRepository
from chalicelib.store.tenants import TenantRepository
from chalicelib.tokens import token_fingerprint

ITEMS_PER_REVOCATION = 5  # both records, the event in each party's log, the status list bit
CHARGE_ROOM = 4  # kept free in a transaction for the request's budget charges (`commit` adds them)


class RevocationService:
    def __init__(
        self,
        db: Database,
        tenants: TenantRepository,
        delegations: DelegationRepository,
        auditor: AuditService,
        reader: BatchReader,
        status_lists: StatusListRepository | None = None,
    ) -> None:
        self._status_lists = status_lists or StatusListRepository()
        self._db = db
        self._tenants = tenants
        self._delegations = delegations
        self._auditor = auditor
        self._reader = reader

    def revoke(self, call: Call, delegation_id: str, reason: str | None = None) -> dict[str, Any]:
        """Instant revocation by an admin of either side, an approver of the receiving side
        or the requesting agent. Three round trips: the caller's own side (with its
        credential), the other side, the change."""
        principal = _principal(call)
        own = own_scope(principal).tenant_id
        keys = (
            [delegation_key(own, delegation_id), delegation_ref_key(own, delegation_id)]
            if ids.DELEGATION_ID.fullmatch(delegation_id)
            else []
        )
        snapshot = call.read(self._reader, keys)
        record, ref = self.find_pair(principal, delegation_id, snapshot)
        self._revoke(call, record, ref, reason)
        return delegation_view(
            record, call.epoch, "inbound" if record.receiving_tenant_id == principal.tenant_id else "outbound"
        )

    def token_pair(
        self, call: Call, jti: str, receiving_hint: Any, requesting_hint: Any
    ) -> tuple[DelegationModel, DelegationRefModel]:
        """`find_pair` for a token's `jti`, reading both sides in one round trip at the
        tenants the (not yet verified) token names; a wrong hint only costs a read."""
        keys: list[Key] = []
        if ids.DELEGATION_ID.fullmatch(jti):
            if isinstance(receiving_hint, str) and ids.TENANT_ID.fullmatch(receiving_hint):
                keys.append(delegation_key(receiving_hint, jti))
            if isinstance(requesting_hint, str) and ids.TENANT_ID.fullmatch(requesting_hint):
                keys.append(delegation_ref_key(requesting_hint, jti))
        return self.find_pair(_principal(call), jti, call.read(self._reader, keys))

    def revoke_pair(self, call: Call, record: DelegationModel, ref: DelegationRefModel) -> None:
        """Revoke a pair `find_pair` returned (Conflict when it is no longer live)."""
        self._revoke(call, record, ref)

    def revoke_for_agent(self, call: Call, scope: TenantScope, agent_id: str, tx: WriteTransaction) -> int:
        """Revoke every live delegation of a disabled agent in `tx` (the agent's own change)
        and commit it; the number revoked. Found from the requesting side's references alone
        (one query), so the whole change is one transaction while it fits in one; references
        of the older form, without the token's fingerprint, have their records read first."""
        now = call.epoch
        refs = [
            r
            for r in self._delegations.iter_outbound(scope, consistent=True)
            if r.agent_id == agent_id and status_of(r, now) in LIVE_STATUSES
        ]
        older = [
            delegation_key(r.receiving_tenant_id, r.delegation_id)
            for r in refs
            if r.status == Status.ACTIVE.value and r.token_sha256 is None
        ]
        records = call.read(self._reader, older) if older else EMPTY
        revoked = 0
        for ref in refs:
            if len(tx) + ITEMS_PER_REVOCATION + CHARGE_ROOM > MAX_TRANSACTION_ITEMS:
                commit(tx, Conflict("A delegation changed concurrently; retry."))
                tx = self._db.transaction()
            key = delegation_key(ref.receiving_tenant_id, ref.delegation_id)
            if records.covers(key):
                record = records.get(DelegationModel, key)
                if record is None or not self._add_revocation(tx, call, record, ref, "agent_disabled"):
                    continue
            else:
                changes = _revoked(call)
                self._delegations.transition_by_ref(tx, ref, changes, now)
                self._invalidate(tx, call, ref)
                self._audit_revoked(tx, call, ref, ref.token_sha256, "agent_disabled")
            revoked += 1
        if len(tx):
            commit(tx, Conflict("A delegation changed concurrently; retry."))
        return revoked

    def find_pair(
        self, principal: Principal, delegation_id: str, snapshot: Snapshot = EMPTY
    ) -> tuple[DelegationModel, DelegationRefModel]:
        """Both records of a delegation the principal may act on; NotFound for any other id.
        Items `snapshot` covers are taken from it, the others read now."""
        scope = own_scope(principal)
        if not ids.DELEGATION_ID.fullmatch(delegation_id):
            raise NotFound()
        receiving_side = principal.role in (Role.ADMIN, Role.APPROVER)
        record = self._record(snapshot, scope, delegation_id) if receiving_side else None
        if record is None and principal.role is Role.APPROVER:
            raise NotFound()  # approvers act on their own tenant's inbound delegations only
        if record is not None:
            counterpart = counterpart_scope(principal, record.requesting_tenant_id)
            ref = self._ref(snapshot, counterpart, delegation_id)
        else:
            ref = self._ref(snapshot, scope, delegation_id)
            if ref is None or (principal.role is Role.AGENT and ref.agent_id != principal.subject):
                raise NotFound()
            counterpart = counterpart_scope(principal, ref.receiving_tenant_id)
            record = self._record(snapshot, counterpart, delegation_id)
        if record is None or ref is None:
            raise NotFound()
        return record, ref

    def _record(self, snapshot: Snapshot, scope: TenantScope, delegation_id: str) -> DelegationModel | None:
        key = delegation_key(scope.tenant_id, delegation_id)
        if snapshot.covers(key):
            return snapshot.get(DelegationModel, key)
        return self._delegations.get(scope, delegation_id)

    def _ref(self, snapshot: Snapshot, scope: TenantScope, delegation_id: str) -> DelegationRefModel | None:
        key = delegation_ref_key(scope.tenant_id, delegation_id)
        if snapshot.covers(key):
            return snapshot.get(DelegationRefModel, key)
        return self._delegations.get_ref(scope, delegation_id)

    def _revoke(
        self, call: Call, record: DelegationModel, ref: DelegationRefModel, reason: str | None = None
    ) -> bool:
        tx = self._db.transaction()
        if not self._add_revocation(tx, call, record, ref, reason):
            return False
        commit(tx, Conflict("The delegation changed concurrently; retry."))
        for name, value in _revoked(call).items():  # the view answered shows what was written
            if name in ("status", "revoked_at", "revoked_by", "revoked_by_tenant_id"):
                setattr(record, name, value)
        return True

    def _add_revocation(
        self,
        tx: WriteTransaction,
        call: Call,
        record: DelegationModel,
        ref: DelegationRefModel,
        reason: str | None,
    ) -> bool:
        """Add the revocation of a read pair to `tx`: False when it is revoked already,
        Conflict when it is no longer live."""
        status = status_of(record, call.epoch)
        if Status(record.status) is Status.REVOKED:
            return False
        if status not in LIVE_STATUSES:
            raise Conflict(f"The delegation is {status.value} and cannot be revoked.")
        self._delegations.transition(tx, record, ref, _revoked(call))
        self._invalidate(tx, call, record)
        self._audit_revoked(tx, call, record, record.token_sha256, reason)
        return True

    def _invalidate(
        self, tx: WriteTransaction, call: Call, item: DelegationModel | DelegationRefModel
    ) -> None:
        """Set the token's status list bit in `tx`, the revocation's own transaction, so that
        offline verifiers refuse the token within seconds (a PENDING one has no token yet)."""
        if item.status_list_id is None or item.status_idx is None:
            return
        receiving = counterpart_scope(_principal(call), item.receiving_tenant_id)
        self._status_lists.invalidate(tx, receiving, item.status_list_id, int(item.status_idx), call.epoch)

    def _audit_revoked(
        self,
        tx: WriteTransaction,
        call: Call,
        item: DelegationModel | DelegationRefModel,
        token_sha256: str | None,
        reason: str | None,
    ) -> None:
        principal = _principal(call)
        scopes = (
            counterpart_scope(principal, item.requesting_tenant_id),
            counterpart_scope(principal, item.receiving_tenant_id),
        )
        self._auditor.record(
            tx,
            call,
            audit.DELEGATION_REVOKED,
            scopes,
            names=delegation_names(item),  # a reference carries both names as well
            delegation_id=item.delegation_id,
            action=item.action,
            token_sha256=token_sha256,
            # the status it leaves (the stored one, not yet changed): the counts (counting.py)
            detail={"previous_status": item.status, **({"reason": reason} if reason else {})},
        )

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


def _revoked(call: Call) -> dict[str, Any]:
    principal = _principal(call)
    return {
        "status": Status.REVOKED.value,
        "revoked_at": call.timestamp,
        "revoked_by": principal.subject,
        "revoked_by_tenant_id": principal.tenant_id,
        "updated_at": call.timestamp,
        "expiry_bucket": None,
        "expiry_at": None,
    }


def _principal(call: Call) -> Principal:
    assert call.principal is not None
    return call.principal
