"""Delegations: request (ALLOW / STEP_UP / BLOCK), read, revoke, verify."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from chalicelib.auth.scope import counterpart_scope, own_scope, platform_log_scope
from chalicelib.config import Settings
from chalicelib.domain import audit, ids
from chalicelib.domain.ciba import stepup_expiry
from chalicelib.domain.delegation import (
    DELEGATION_TOKEN_TYP,
    Status,
    TokenGrant,
    granted_ttl,
)
from chalicelib.domain.policy import Effect, Policy, admits, resolve
from chalicelib.domain.principal import TENANT_READERS, Principal, Role, TenantScope
from chalicelib.errors import (
    AccessDenied,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InvalidDPoPProof,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
)
from chalicelib.observability import count_decision
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit, iso
from chalicelib.services.delegation_records import delegation_view, expiry_bucket, status_of
from chalicelib.services.graph import delegation_names
from chalicelib.services.notify import Notifier, notify_stepup
from chalicelib.services.ratelimit import RateLimiter
from chalicelib.services.status_lists import Draw, StatusListService
from chalicelib.store.agents import AgentRepository
from chalicelib.store.db import Database, WriteTransaction
from chalicelib.store.delegations import DelegationRepository
from chalicelib.store.keys import agent_key, idempotency_item_key, tenant_key
from chalicelib.store.models import (
    AgentModel,
    DelegationModel,
    DelegationRefModel,
    IdempotencyModel,
    TenantModel,
)
from chalicelib.store.policies import PolicyRepository
from chalicelib.store.reads import BatchReader, Snapshot
from chalicelib.store.tenants import TenantRepository
from chalicelib.tokens import Signer, SigningUnavailable, encode_jwt, token_fingerprint

RECORD_RETENTION_SECONDS = 30 * 86400
# why a policy that requires keys blocked an agent that used a client secret (receiver's log)
KEYS_REQUIRED = "private_key_jwt_required"
IDEMPOTENCY_SECONDS = 86400


@dataclass(frozen=True)
class DelegationRequest:
    receiving_tenant_id: str
    action: str
    ttl_seconds: int | None = None
    purpose: str | None = None
    binding_message: str | None = None
    requested_expiry: int | None = None
    dpop_jkt: str | None = None  # the key of the request's DPoP proof: the token is bound to it

    def fingerprint(self) -> str:
        """What an Idempotency-Key must repeat; the bound key only when there is one (so that
        fingerprints stored before binding existed stay the same)."""
        fields = {k: v for k, v in self.__dict__.items() if k != "dpop_jkt" or v is not None}
        body = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    status_code: int
    body: dict[str, Any]
    record: DelegationModel  # what the answer describes (callers need not read it back)


class DelegationService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        tenants: TenantRepository,
        policies: PolicyRepository,
        delegations: DelegationRepository,
        auditor: AuditService,
        signer: Signer,
        rate_limiter: RateLimiter,
        agents: AgentRepository,
        notifier: Notifier,
        reader: BatchReader,
        status_lists: StatusListService,
    ) -> None:
        self._reader = reader
        self._status_lists = status_lists
        self._settings = settings
        self._db = db
        self._tenants = tenants
        self._policies = policies
        self._delegations = delegations
        self._auditor = auditor
        self._signer = signer
        self._rate_limiter = rate_limiter
        self._agents = agents
        self._notifier = notifier

    # -- request ---------------------------------------------------------------------------

    def request(
        self,
        call: Call,
        req: DelegationRequest,
        idempotency_key: str | None = None,
        *,
        stepup_handle: bool = False,
    ) -> Outcome:
        """Decide a delegation request under the receiving tenant's policy.

        `stepup_handle`: the caller started a CIBA flow (`/bc-authorize`, `/stepup/initiate`)
        and polls for the token by auth_req_id even when the policy allows it at once."""
        principal = _agent(call)
        requesting = own_scope(principal)
        receiving = counterpart_scope(principal, req.receiving_tenant_id)
        assert principal.tenant_id is not None
        # One read for everything the decision needs (and, through the request's gate, the
        # caller's credential and budgets): the same keys whatever the outcome, so the four
        # BLOCK cases cost the same.
        policy_keys = self._policies.candidate_keys(receiving, requesting.tenant_id, req.action)
        receiving_key, requesting_key = tenant_key(receiving.tenant_id), tenant_key(requesting.tenant_id)
        agent = agent_key(requesting.tenant_id, principal.subject)
        idem = (
            idempotency_item_key(requesting.tenant_id, principal.subject, idempotency_key)
            if idempotency_key
            else None
        )
        # The receiving tenant's status list head and a few random indices, whatever the
        # outcome (an ALLOW takes one of them; the BLOCK cases must read the same keys).
        draw = self._status_lists.draw(receiving)
        snapshot = call.read(
            self._reader,
            [
                receiving_key,
                requesting_key,
                agent,
                *policy_keys,
                *([idem] if idem else []),
                *self._notifier.keys(receiving.tenant_id),
                *draw.keys,
            ],
            charges=[self._rate_limiter.delegation_charge(principal, call.epoch)],
        )
        if idem is not None:
            replay = self._replay(call, requesting, snapshot.get(IdempotencyModel, idem), req)
            if replay is not None:
                return replay
        tenant = snapshot.get(TenantModel, receiving_key)
        live = tenant is not None and tenant.status == "ACTIVE"
        policy = resolve(self._policies.candidates(policy_keys, snapshot), requesting.tenant_id, req.action)
        requester = snapshot.get(TenantModel, requesting_key)
        # A policy that requires keys refuses a secret-authenticated agent with a BLOCK, not a
        # reason of its own: that would tell it that this tenant exists and would allow keys.
        keys_required = policy is not None and policy.effect is not Effect.BLOCK and not admits(
            policy, principal.auth_method
        )
        if not live or policy is None or policy.effect is Effect.BLOCK or keys_required:
            self._block(call, requesting, receiving if live else None, req, requester, keys_required)
            count_decision("BLOCK")
            raise AccessDenied()
        assert tenant is not None and policy is not None
        if policy.require_dpop and req.dpop_jkt is None:
            # Asked only once the policy would ALLOW or STEP_UP: an agent learns nothing it
            # could not learn by asking with a proof, and the BLOCK cases stay alike.
            raise InvalidDPoPProof(
                "The receiving tenant's policy requires a DPoP-bound delegation: send a DPoP proof."
            )
        names = (requester, snapshot.get(AgentModel, agent))
        try:
            return self._create(
                call, principal, requesting, receiving, tenant, policy, req, idempotency_key, stepup_handle,
                names, snapshot, draw,
            )
        except Conflict:
            if idempotency_key:
                stored = self._delegations.get_idempotency(requesting, principal.subject, idempotency_key)
                replay = self._replay(call, requesting, stored, req)
                if replay is not None:
                    return replay
            raise

    def _block(
        self,
        call: Call,
        requesting: TenantScope,
        receiving: TenantScope | None,
        req: DelegationRequest,
        requester: TenantModel | None,
        keys_required: bool = False,
    ) -> None:
        """The BLOCK events: in both tenants' logs, or, when the receiving tenant does not
        exist or is disabled, in the requester's and the platform's security log (the same
        writes either way, so that timing tells nothing). Only the requester's name goes to
        the trust graph (the receiver's inbound edge): the receiving tenant's, even when it
        exists, would tell the requester that it does. Why a policy that requires keys refused
        the agent goes to the receiving tenant's copy only."""
        logs: list[tuple[TenantScope, ...]] = (
            [(requesting, receiving)] if receiving is not None else [(requesting,), (platform_log_scope(),)]
        )
        fields: dict[str, Any] = {"action": req.action, "counterpart_tenant_id": req.receiving_tenant_id}
        names = {requesting.tenant_id: requester.name} if requester is not None else None
        why = {receiving.tenant_id: {"reason": KEYS_REQUIRED}} if keys_required and receiving else None
        tx = self._db.transaction()
        for scopes in logs:  # each log names the requested tenant as the counterpart
            self._auditor.record(tx, call, audit.DELEGATION_REQUESTED, scopes, **fields)
            self._auditor.record(
                tx, call, audit.DELEGATION_BLOCKED, scopes,
                names=names, decision="BLOCK", only_for=why, **fields,
            )
        commit(tx)

    def _create(
        self,
        call: Call,
        principal: Principal,
        requesting: TenantScope,
        receiving: TenantScope,
        tenant: TenantModel,
        policy: Policy,
        req: DelegationRequest,
        idempotency_key: str | None,
        stepup_handle: bool,
        names: tuple[TenantModel | None, AgentModel | None],
        snapshot: Snapshot,
        draw: Draw,
    ) -> Outcome:
        now = call.epoch
        delegation_id = ids.new_delegation_id(int(call.now * 1000))
        ttl = granted_ttl(req.ttl_seconds, policy.ttl_seconds)
        tenant_record, agent = names
        record = DelegationModel(
            delegation_id=delegation_id,
            requesting_tenant_id=requesting.tenant_id,
            receiving_tenant_id=receiving.tenant_id,
            agent_id=principal.subject,
            client_id=principal.client_id,
            audience=tenant.audience,
            action=req.action,
            decision=policy.effect.value,
            policy_id=policy.policy_id,
            created_at=call.timestamp,
            ttl_seconds=ttl,
            purpose=req.purpose,
            binding_message=req.binding_message,
            dpop_jkt=req.dpop_jkt,
            # both names, kept for the trust graph's edges of this and every later outcome
            requesting_tenant_name=tenant_record.name if tenant_record else None,
            receiving_tenant_name=tenant.name,
        )
        token: str | None = None
        fields: dict[str, Any] = {"delegation_id": delegation_id, "action": req.action}
        if req.dpop_jkt is not None:  # that the delegation is bound, and to which key; never the proof
            fields["detail"] = {"dpop_jkt": req.dpop_jkt}
        edge_names = delegation_names(record)
        tx = self._db.transaction()
        self._auditor.record(tx, call, audit.DELEGATION_REQUESTED, (requesting, receiving), **fields)
        if policy.effect is Effect.ALLOW:
            self.take_status_entry(tx, record, draw, snapshot, now)
            token = self.issue(record, now)
            self._auditor.record(
                tx,
                call,
                audit.DELEGATION_ALLOWED,
                (requesting, receiving),
                names=edge_names,
                decision="ALLOW",
                **fields,
            )
            self._auditor.record(
                tx,
                call,
                audit.TOKEN_ISSUED,
                (requesting, receiving),
                token_sha256=record.token_sha256,
                **fields,
            )
            if stepup_handle:
                self._open_handle(record, now, req, policy)
        else:
            record.status = Status.PENDING.value
            self._open_handle(record, now, req, policy)
            record.expiry_bucket = expiry_bucket(int(record.stepup_expires_at))
            record.expiry_at = record.stepup_expires_at
            record.ttl = record.stepup_expires_at + RECORD_RETENTION_SECONDS
            record.agent_name = agent.name if agent else None
            self._auditor.record(
                tx,
                call,
                audit.DELEGATION_STEPUP_REQUIRED,
                (requesting, receiving),
                names=edge_names,
                decision="STEP_UP",
                **fields,
            )
        self._delegations.add(tx, receiving, requesting, record)
        if idempotency_key:
            self._delegations.add_idempotency(
                tx,
                requesting,
                principal.subject,
                idempotency_key,
                request_hash=req.fingerprint(),
                delegation_id=delegation_id,
                expires_at=now + IDEMPOTENCY_SECONDS,
            )
        commit(tx)
        count_decision(record.decision)
        if record.status == Status.PENDING.value:
            notify_stepup(self._notifier, "stepup.pending", record, call, snapshot)
        return self._outcome(record, token, now)

    def _open_handle(self, record: DelegationModel, now: int, req: DelegationRequest, policy: Policy) -> None:
        """The CIBA handle the agent polls with (CIBA Core §7.3)."""
        record.auth_req_id = ids.new_auth_req_id(record.receiving_tenant_id, record.delegation_id)
        record.interval = self._settings.stepup_interval
        record.stepup_expires_at = now + stepup_expiry(req.requested_expiry, policy.stepup_expiry_seconds)

    def status_draw(self, receiving: TenantScope) -> Draw:
        """What an issuance must read (in its batched read) to take a status list entry."""
        return self._status_lists.draw(receiving)

    def take_status_entry(
        self, tx: WriteTransaction, record: DelegationModel, draw: Draw, snapshot: Snapshot, now: int
    ) -> None:
        """Take the token's status list entry in `tx` and note it on the record (before `issue`)."""
        alloc = self._status_lists.allocate(tx, draw, snapshot, now)
        record.status_list_id = alloc.list_id
        record.status_idx = alloc.idx

    def issue(self, record: DelegationModel, now: int) -> str:
        """Sign the token and mark the record ACTIVE in memory (the caller commits)."""
        record.status = Status.ACTIVE.value
        record.issued_at = now
        record.expires_at = now + int(record.ttl_seconds)
        record.expiry_bucket = expiry_bucket(record.expires_at)
        record.expiry_at = record.expires_at
        record.ttl = record.expires_at + RECORD_RETENTION_SECONDS
        token = self.sign(record)
        record.token_sha256 = token_fingerprint(token)
        return token

    def sign(self, record: DelegationModel) -> str:
        """The record's token: the same claims always give the same string (RS256 is
        deterministic), so an issued token can be handed out later without storing it."""
        grant = TokenGrant(
            delegation_id=record.delegation_id,
            issuer=self._settings.issuer,
            audience=record.audience,
            agent_id=record.agent_id,
            client_id=record.client_id,
            requesting_tenant_id=record.requesting_tenant_id,
            receiving_tenant_id=record.receiving_tenant_id,
            action=record.action,
            issued_at=int(record.issued_at),
            expires_at=int(record.expires_at),
            jkt=record.dpop_jkt,
        )
        claims = grant.claims()
        status = self._status_lists.claim(record.status_list_id, record.status_idx)
        if status is not None:
            claims["status"] = status
        try:
            return encode_jwt(self._signer, claims, typ=DELEGATION_TOKEN_TYP)
        except SigningUnavailable as exc:
            raise ServiceUnavailable() from exc

    def _outcome(self, record: DelegationModel, token: str | None, now: int) -> Outcome:
        if token is not None:
            return Outcome(
                201,
                {
                    "delegation_id": record.delegation_id,
                    "decision": "ALLOW",
                    "status": Status.ACTIVE.value,
                    "access_token": token,
                    "token_type": "DPoP" if record.dpop_jkt else "Bearer",
                    "expires_in": max(0, int(record.expires_at) - now),
                    "expires_at": iso(record.expires_at),
                    "scope": record.action,
                },
                record,
            )
        return Outcome(
            202,
            {
                "delegation_id": record.delegation_id,
                "decision": "STEP_UP",
                "status": Status.PENDING.value,
                "auth_req_id": record.auth_req_id,
                "expires_in": max(0, int(record.stepup_expires_at) - now),
                "interval": int(record.interval or self._settings.stepup_interval),
            },
            record,
        )

    def _replay(
        self, call: Call, requesting: TenantScope, idem: IdempotencyModel | None, req: DelegationRequest
    ) -> Outcome | None:
        """The original answer for a repeated Idempotency-Key, rebuilt without storing tokens:
        RS256 (PKCS#1 v1.5) is deterministic, so re-signing the same claims yields the same token."""
        principal = _agent(call)
        if idem is None or idem.expires_at <= call.epoch:
            return None
        if idem.request_hash != req.fingerprint():
            raise IdempotencyKeyReused()
        receiving = counterpart_scope(principal, req.receiving_tenant_id)
        record = self._delegations.get(receiving, idem.delegation_id)
        if record is None:
            return None
        status = status_of(record, call.epoch)
        if status is Status.PENDING:
            return self._outcome(record, None, call.epoch)
        if status is Status.ACTIVE and record.decision == Effect.ALLOW.value:
            token = self.sign(record)
            if token_fingerprint(token) == record.token_sha256:
                return self._outcome(record, token, call.epoch)
        raise Conflict(f"The delegation created with this Idempotency-Key is {status.value}.")

    # -- read ------------------------------------------------------------------------------

    def get(self, call: Call, delegation_id: str) -> dict[str, Any]:
        principal = _principal(call)
        scope = own_scope(principal)
        if not ids.DELEGATION_ID.fullmatch(delegation_id):
            raise NotFound()
        if principal.role in TENANT_READERS:
            record = self._delegations.get(scope, delegation_id)
            if record is not None:
                return delegation_view(record, call.epoch, "inbound")
        ref = self._delegations.get_ref(scope, delegation_id)
        if ref is None or (principal.role is Role.AGENT and ref.agent_id != principal.subject):
            raise NotFound()
        return delegation_view(ref, call.epoch, "outbound")

    def list(
        self,
        call: Call,
        *,
        direction: str,
        status: Status | None,
        limit: int,
        cursor: str | None,
        counterpart_tenant_id: str | None = None,
    ) -> dict[str, Any]:
        principal = _principal(call)
        scope = own_scope(principal)
        now = call.epoch
        if cursor is not None and not ids.DELEGATION_ID.fullmatch(cursor):
            raise InvalidRequest("The cursor is malformed.")

        def keep(item: DelegationModel | DelegationRefModel) -> bool:
            if principal.role is Role.AGENT and item.agent_id != principal.subject:
                return False
            return status is None or status_of(item, now) is status

        items: list[Any]
        if direction == "inbound":
            if principal.role not in TENANT_READERS:
                raise Forbidden("Agents list only their own outbound delegations.")
            items, next_cursor = self._delegations.list_inbound(
                scope, keep=keep, limit=limit, cursor=cursor, requesting_tenant_id=counterpart_tenant_id
            )
        else:
            items, next_cursor = self._delegations.list_outbound(
                scope, keep=keep, limit=limit, cursor=cursor, receiving_tenant_id=counterpart_tenant_id
            )
        return {
            "delegations": [delegation_view(i, now, direction) for i in items],
            "next_cursor": next_cursor,
        }


def _principal(call: Call) -> Principal:
    assert call.principal is not None
    return call.principal


def _agent(call: Call) -> Principal:
    principal = _principal(call)
    if principal.role is not Role.AGENT:
        raise Forbidden("Only agents request delegations.")
    return principal
