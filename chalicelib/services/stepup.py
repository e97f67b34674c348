"""Step-up approval: CIBA poll mode (OpenID CIBA Core 1.0), the /stepup trio, approve and
reject. A human of the receiving tenant decides; the requesting agent polls for the token."""

from __future__ import annotations

from typing import Any

from chalicelib.auth.scope import counterpart_scope, own_scope
from chalicelib.domain import audit, ids
from chalicelib.domain.ciba import PollAnswer, decide_poll
from chalicelib.domain.delegation import Status
from chalicelib.domain.principal import DECIDERS, Principal, Role
from chalicelib.errors import (
    AlreadyDecided,
    AuthorizationDenied,
    AuthorizationPending,
    ExpiredToken,
    Forbidden,
    InvalidDPoPProof,
    InvalidGrant,
    NotFound,
    SlowDown,
)
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit
from chalicelib.services.delegation_records import delegation_view, expiry_bucket, int_or_none, status_of
from chalicelib.services.delegations import RECORD_RETENTION_SECONDS, DelegationRequest, DelegationService
from chalicelib.services.graph import delegation_names
from chalicelib.services.notify import Notifier, notify_stepup
from chalicelib.services.status_lists import Draw
from chalicelib.store.db import Database
from chalicelib.store.delegations import DelegationRepository
from chalicelib.store.keys import auth_req_key, delegation_key, delegation_ref_key
from chalicelib.store.models import AuthReqModel, DelegationModel, DelegationRefModel
from chalicelib.store.reads import BatchReader, Key, Snapshot
from chalicelib.tokens import token_fingerprint

MAX_AUTH_REQ_ID = 128


class StepUpService:
    def __init__(
        self,
        db: Database,
        delegations: DelegationRepository,
        delegation_service: DelegationService,
        auditor: AuditService,
        notifier: Notifier,
        reader: BatchReader,
    ) -> None:
        self._reader = reader
        self._db = db
        self._delegations = delegations
        self._service = delegation_service
        self._auditor = auditor
        self._notifier = notifier

    # -- the agent's side ------------------------------------------------------------------

    def initiate(self, call: Call, req: DelegationRequest) -> dict[str, Any]:
        """Start a CIBA flow (CIBA Core §7.3 acknowledgement); BLOCK is the usual 403."""
        outcome = self._service.request(call, req, stepup_handle=True)
        record = outcome.record
        return {
            "auth_req_id": record.auth_req_id,
            "expires_in": max(0, int(record.stepup_expires_at or 0) - call.epoch),
            "interval": int(record.interval or 5),
            "delegation_id": record.delegation_id,
        }

    def poll_keys(self, tenant_id: str | None, auth_req_id: str) -> list[Key]:
        """What a poll by the agent of `tenant_id` reads, named before the read that confirms
        the agent: its AUTHREQ pointer and, for an auth_req_id of the current form, the
        delegation it names. Older auth_req_ids read the delegation afterwards."""
        if tenant_id is None or not _plausible(auth_req_id):
            return []
        keys = [auth_req_key(tenant_id, auth_req_id)]
        target = ids.auth_req_target(auth_req_id)
        if target is not None:
            keys.append(delegation_key(*target))
        return keys

    def poll(self, call: Call, auth_req_id: str, snapshot: Snapshot) -> dict[str, Any]:
        """CIBA Core §10/§11 token request: the token once approved, else the right error.
        `snapshot`: the request's read of `poll_keys(...)` (which confirmed the caller)."""
        return self._answer(call, self._polled_record(call, auth_req_id, snapshot))

    def _answer(self, call: Call, record: DelegationModel) -> dict[str, Any]:
        status = status_of(record, call.epoch)
        decision = decide_poll(
            status,
            now=call.epoch,
            last_polled_at=int_or_none(record.last_polled_at),
            interval=int(record.interval or 5),
            delivered=record.token_delivered_at is not None,
        )
        if decision.answer in (PollAnswer.PENDING, PollAnswer.SLOW_DOWN):
            self._delegations.record_poll(record, call.epoch, decision.interval)
        if decision.answer is PollAnswer.PENDING:
            raise AuthorizationPending(extra={"interval": decision.interval})
        if decision.answer is PollAnswer.SLOW_DOWN:
            raise SlowDown(decision.interval)
        if decision.answer is PollAnswer.EXPIRED:
            raise ExpiredToken()
        if decision.answer is PollAnswer.DENIED:
            raise AuthorizationDenied()
        if decision.answer is PollAnswer.ALREADY_DELIVERED:
            raise InvalidGrant("The token for this auth_req_id was already issued.")
        token = self._deliver(call, record)
        return {
            "access_token": token,
            "token_type": "DPoP" if record.dpop_jkt else "Bearer",
            "expires_in": max(0, int(record.expires_at or 0) - call.epoch),
            "scope": record.action,
            "delegation_id": record.delegation_id,
        }

    def _deliver(self, call: Call, record: DelegationModel) -> str:
        """Hand out the approved token once (RFC 9449 §5 for its binding): a delegation
        requested with a DPoP proof needs a proof by the same key now; one requested without
        is bound here to the key of the poll's proof, if it sent one (the record's and the
        reference's fingerprints follow, with a `token.issued` event naming the key). One
        write, which also carries the proof's jti."""
        jkt = call.gate.dpop_binding() if call.gate is not None else None
        if record.dpop_jkt is not None and jkt != record.dpop_jkt:
            raise InvalidDPoPProof(
                "This delegation is bound to a key: poll with a DPoP proof signed by that key."
            )
        rebind = record.dpop_jkt is None and jkt is not None
        if rebind:
            record.dpop_jkt = jkt
            record.token_sha256 = token_fingerprint(self._service.sign(record))
        token = self._service.sign(record)
        if token_fingerprint(token) != record.token_sha256:
            raise InvalidGrant("The token for this auth_req_id can no longer be issued.")
        tx = self._db.transaction()
        self._delegations.deliver(tx, record, call.epoch, rebind=rebind)
        if rebind:
            principal = call.principal
            assert principal is not None
            scopes = (own_scope(principal), counterpart_scope(principal, record.receiving_tenant_id))
            self._auditor.record(
                tx,
                call,
                audit.TOKEN_ISSUED,
                scopes,
                token_sha256=record.token_sha256,
                delegation_id=record.delegation_id,
                action=record.action,
                detail={"dpop_jkt": jkt},
            )
        commit(tx, InvalidGrant("The token for this auth_req_id was already issued."))
        return token

    def status(self, call: Call, auth_req_id: str) -> dict[str, Any]:
        """`/stepup/{auth_req_id}/status`: the poll as plain JSON, with the token once."""
        tenant_id = call.principal.tenant_id if call.principal is not None else None
        snapshot = call.read(self._reader, self.poll_keys(tenant_id, auth_req_id))
        record = self._polled_record(call, auth_req_id, snapshot)
        status = status_of(record, call.epoch)
        body: dict[str, Any] = {
            "auth_req_id": auth_req_id,
            "delegation_id": record.delegation_id,
            "status": {Status.ACTIVE: "APPROVED", Status.REVOKED: "REJECTED"}.get(status, status.value),
            "expires_in": max(0, int(record.stepup_expires_at or 0) - call.epoch),
            "interval": int(record.interval or 5),
        }
        if status is Status.ACTIVE and record.token_delivered_at is None:
            try:
                body.update(self._answer(call, record))
            except InvalidGrant:
                pass
        return body

    # -- the approver's side ---------------------------------------------------------------

    def approve(self, call: Call, delegation_id: str, reason: str | None) -> dict[str, Any]:
        draw = self._service.status_draw(own_scope(_admin(call)))
        pair, snapshot = self._pending_pair(call, delegation_id, draw.keys)
        return self._decide(call, pair, snapshot, approve=True, reason=reason, draw=draw)

    def reject(self, call: Call, delegation_id: str, reason: str | None) -> dict[str, Any]:
        pair, snapshot = self._pending_pair(call, delegation_id)
        return self._decide(call, pair, snapshot, approve=False, reason=reason)

    def complete(self, call: Call, auth_req_id: str, approve: bool, reason: str | None) -> dict[str, Any]:
        """`/stepup/{auth_req_id}/complete`: decide by the CIBA handle instead of the id.
        Three round trips: the handle (with the caller's credential), both delegation
        records, the decision."""
        own = own_scope(_admin(call)).tenant_id
        handle_key = auth_req_key(own, auth_req_id) if _plausible(auth_req_id) else None
        draw = self._service.status_draw(own_scope(_admin(call))) if approve else None
        first = call.read(
            self._reader,
            [*([handle_key] if handle_key else []), *self._notifier.keys(own), *(draw.keys if draw else [])],
        )
        handle = first.get(AuthReqModel, handle_key)
        if handle is None or handle.receiving_tenant_id != own:
            raise NotFound()
        record_key = delegation_key(own, handle.delegation_id)
        ref_key = delegation_ref_key(handle.requesting_tenant_id, handle.delegation_id)
        second = call.read(self._reader, [record_key, ref_key])
        record = second.get(DelegationModel, record_key)
        ref = second.get(DelegationRefModel, ref_key)
        if record is None or ref is None or record.requesting_tenant_id != handle.requesting_tenant_id:
            raise NotFound()
        return self._decide(call, (record, ref), first, approve=approve, reason=reason, draw=draw)

    def _decide(
        self,
        call: Call,
        pair: tuple[DelegationModel, DelegationRefModel],
        snapshot: Snapshot,
        *,
        approve: bool,
        reason: str | None,
        draw: Draw | None = None,
    ) -> dict[str, Any]:
        """`draw`, for an approval: the status list keys `snapshot` covered."""
        record, ref = pair
        self._require_pending(record, call.epoch)
        principal = _admin(call)
        changes: dict[str, Any] = {
            "decided_at": call.timestamp,
            "decided_by": principal.subject,
            "decision_reason": reason,
            "updated_at": call.timestamp,
        }
        scopes = (
            counterpart_scope(principal, record.requesting_tenant_id),
            counterpart_scope(principal, record.receiving_tenant_id),
        )
        fields: dict[str, Any] = {"delegation_id": record.delegation_id, "action": record.action}
        names = delegation_names(record)
        tx = self._db.transaction()
        if approve:
            assert draw is not None
            self._service.take_status_entry(tx, record, draw, snapshot, call.epoch)
            self._service.issue(record, call.epoch)
            changes.update(
                status=Status.ACTIVE.value,
                status_list_id=record.status_list_id,
                status_idx=record.status_idx,
                issued_at=record.issued_at,
                expires_at=record.expires_at,
                token_sha256=record.token_sha256,
                expiry_bucket=expiry_bucket(int(record.expires_at)),
                expiry_at=record.expires_at,
                ttl=int(record.expires_at) + RECORD_RETENTION_SECONDS,
            )
            self._auditor.record(
                tx,
                call,
                audit.DELEGATION_APPROVED,
                scopes,
                names=names,
                decision="ALLOW",
                detail=_reason(reason),
                **fields,
            )
            self._auditor.record(
                tx, call, audit.TOKEN_ISSUED, scopes, token_sha256=record.token_sha256, **fields
            )
        else:
            changes.update(status=Status.REJECTED.value, expiry_bucket=None, expiry_at=None)
            self._auditor.record(
                tx,
                call,
                audit.DELEGATION_REJECTED,
                scopes,
                names=names,
                decision="BLOCK",
                detail=_reason(reason),
                **fields,
            )
        self._delegations.decide(tx, record, ref, changes, call.epoch)
        try:
            commit(tx, AlreadyDecided())
        except AlreadyDecided:
            fresh = self._delegations.get(own_scope(principal), record.delegation_id)
            if fresh is not None and status_of(fresh, call.epoch) is Status.EXPIRED:
                raise ExpiredToken() from None
            raise
        for name, value in changes.items():
            setattr(record, name, value)
        # `snapshot` covered the notifier's keys of the caller's tenant, the receiving one.
        notify_stepup(
            self._notifier, "stepup.approved" if approve else "stepup.rejected", record, call, snapshot
        )
        return delegation_view(record, call.epoch, "inbound")

    def _pending_pair(
        self, call: Call, delegation_id: str, extra: list[Key] | None = None
    ) -> tuple[tuple[DelegationModel, DelegationRefModel], Snapshot]:
        """Both records of an inbound delegation of the caller's tenant, and the first read
        (which confirmed the caller and holds the notifier's items, and the `extra` keys)."""
        principal = _admin(call)
        own = own_scope(principal).tenant_id
        record_key = delegation_key(own, delegation_id) if _plausible(delegation_id) else None
        snapshot = call.read(
            self._reader,
            [*([record_key] if record_key else []), *self._notifier.keys(own), *(extra or [])],
        )
        record = snapshot.get(DelegationModel, record_key)
        if record is None:
            raise NotFound()  # includes every delegation of which the caller is not the receiver
        ref = self._delegations.get_ref(
            counterpart_scope(principal, record.requesting_tenant_id), delegation_id
        )
        if ref is None:
            raise NotFound()
        return (record, ref), snapshot

    @staticmethod
    def _require_pending(record: DelegationModel, now: int) -> None:
        status = status_of(record, now)
        if status is Status.PENDING:
            return
        if status is Status.EXPIRED and record.decision == "STEP_UP" and record.decided_at is None:
            raise ExpiredToken()  # whether or not the cleanup job has marked it yet
        raise AlreadyDecided()

    # -- shared ----------------------------------------------------------------------------

    def _polled_record(self, call: Call, auth_req_id: str, snapshot: Snapshot) -> DelegationModel:
        """The delegation behind an auth_req_id, only for the agent that started it; any
        other caller gets exactly what an unknown auth_req_id gets (`invalid_grant`)."""
        principal = call.principal
        if principal is None or principal.role is not Role.AGENT or not _plausible(auth_req_id):
            raise InvalidGrant()
        handle = snapshot.get(AuthReqModel, auth_req_key(own_scope(principal).tenant_id, auth_req_id))
        if (
            handle is None
            or handle.agent_id != principal.subject
            or handle.requesting_tenant_id != principal.tenant_id
        ):
            raise InvalidGrant()
        target = ids.auth_req_target(auth_req_id)
        if target is None:  # an auth_req_id of the older form: the pointer names the record
            record = self._delegations.get(
                counterpart_scope(principal, handle.receiving_tenant_id), handle.delegation_id
            )
        elif target == (handle.receiving_tenant_id, handle.delegation_id):
            record = snapshot.get(DelegationModel, delegation_key(*target))
        else:
            raise InvalidGrant()
        if record is None or record.auth_req_id != auth_req_id:
            raise InvalidGrant()
        return record


def _admin(call: Call) -> Principal:
    principal = call.principal
    if principal is None or principal.role not in DECIDERS:
        raise Forbidden("Only an admin or approver of the receiving tenant decides step-up requests.")
    return principal


def _plausible(identifier: str) -> bool:
    return 0 < len(identifier) <= MAX_AUTH_REQ_ID and identifier.replace("-", "").replace("_", "").isalnum()


def _reason(reason: str | None) -> dict[str, Any]:
    return {"reason": reason} if reason else {}
