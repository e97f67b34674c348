"""Delegations: the record of truth `DLG#<id>` in the receiving tenant's partition and the
reference `DLGREF#<id>` in the requesting tenant's, always changed together."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.domain.principal import TenantScope
from chalicelib.store.db import WriteTransaction, guarded, store_errors
from chalicelib.store.models import (
    AuthReqModel,
    DelegationModel,
    DelegationRefModel,
    IdempotencyModel,
    tenant_pk,
)

DLG = "DLG#"
DLGREF = "DLGREF#"
AUTHREQ = "AUTHREQ#"
_M = TypeVar("_M", DelegationModel, DelegationRefModel)

# Fields copied from the record of truth to the requesting side's reference.
REF_FIELDS = (
    "delegation_id",
    "requesting_tenant_id",
    "receiving_tenant_id",
    "agent_id",
    "action",
    "decision",
    "status",
    "created_at",
    "ttl_seconds",
    "purpose",
    "binding_message",
    "issued_at",
    "expires_at",
    "stepup_expires_at",
    "revoked_at",
    "revoked_by",
    "revoked_by_tenant_id",
    "updated_at",
    "decided_at",
    "decision_reason",
    "requesting_tenant_name",
    "receiving_tenant_name",  # so that a reference alone can count the trust graph's edges
    "agent_name",
    "auth_req_id",
    "ttl",
    "token_sha256",  # so that a reference alone can revoke (and audit) its delegation
    "status_list_id",  # ... and set its token's status list bit
    "status_idx",
    "dpop_jkt",  # the key the token is bound to (RFC 9449), mirrored for the requesting side
)


class DelegationRepository:
    def add(
        self,
        tx: WriteTransaction,
        receiving: TenantScope,
        requesting: TenantScope,
        record: DelegationModel,
    ) -> DelegationRefModel:
        """Create the record in the receiving partition and its reference in the requesting one."""
        record.pk = tenant_pk(receiving.tenant_id)
        record.sk = DLG + record.delegation_id
        ref = DelegationRefModel(
            pk=tenant_pk(requesting.tenant_id),
            sk=DLGREF + record.delegation_id,
            **{name: getattr(record, name) for name in REF_FIELDS},
        )
        tx.create(record)
        tx.create(ref)
        if record.auth_req_id:
            for scope in {receiving.tenant_id: receiving, requesting.tenant_id: requesting}.values():
                tx.create(
                    AuthReqModel(
                        pk=tenant_pk(scope.tenant_id),
                        sk=AUTHREQ + record.auth_req_id,
                        delegation_id=record.delegation_id,
                        requesting_tenant_id=record.requesting_tenant_id,
                        receiving_tenant_id=record.receiving_tenant_id,
                        agent_id=record.agent_id,
                        ttl=record.ttl,
                    )
                )
        return ref

    def decide(
        self,
        tx: WriteTransaction,
        record: DelegationModel,
        ref: DelegationRefModel,
        changes: dict[str, Any],
        now: int,
    ) -> None:
        """Settle a step-up once: only while PENDING and unexpired (not by version, so that
        concurrent polls never make an approval fail)."""
        still_pending = (DelegationModel.status == "PENDING") & (DelegationModel.stepup_expires_at > now)
        tx.update(record, _actions(DelegationModel, changes), still_pending, versioned=False)
        ref_changes = {k: v for k, v in changes.items() if k in REF_FIELDS}
        tx.update(
            ref,
            _actions(DelegationRefModel, ref_changes),
            DelegationRefModel.status == "PENDING",
            versioned=False,
        )

    @store_errors
    def record_poll(self, record: DelegationModel, now: int, interval: int) -> None:
        record.update(
            actions=[DelegationModel.last_polled_at.set(now), DelegationModel.interval.set(interval)],
            condition=DelegationModel.pk.exists(),
            add_version_condition=False,
        )

    @store_errors
    def claim_delivery(self, record: DelegationModel, now: int) -> bool:
        """Mark the approved token as handed out; True only for the one caller that did it."""
        try:
            record.update(
                actions=[DelegationModel.token_delivered_at.set(now)],
                condition=DelegationModel.token_delivered_at.does_not_exist()
                & (DelegationModel.status == "ACTIVE"),
                add_version_condition=False,
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def deliver(self, tx: WriteTransaction, record: DelegationModel, now: int, *, rebind: bool) -> None:
        """`claim_delivery` in `tx` (which then fails for all but one caller); with `rebind`,
        the key the token was just bound to and its new fingerprint go to both sides too."""
        actions: list[Action] = [DelegationModel.token_delivered_at.set(now)]
        if rebind:
            actions += [
                DelegationModel.dpop_jkt.set(record.dpop_jkt),
                DelegationModel.token_sha256.set(record.token_sha256),
            ]
            ref = DelegationRefModel(
                pk=tenant_pk(record.requesting_tenant_id), sk=DLGREF + record.delegation_id
            )
            tx.update(
                ref,
                [
                    DelegationRefModel.dpop_jkt.set(record.dpop_jkt),
                    DelegationRefModel.token_sha256.set(record.token_sha256),
                ],
                DelegationRefModel.pk.exists(),
                versioned=False,
            )
        condition = DelegationModel.token_delivered_at.does_not_exist() & (DelegationModel.status == "ACTIVE")
        tx.update(record, actions, condition, versioned=False)

    @store_errors
    def get(self, scope: TenantScope, delegation_id: str) -> DelegationModel | None:
        """An inbound delegation of the scope's tenant (the record of truth)."""
        try:
            return DelegationModel.get(tenant_pk(scope.tenant_id), DLG + delegation_id, consistent_read=True)
        except DelegationModel.DoesNotExist:
            return None

    @store_errors
    def get_ref(self, scope: TenantScope, delegation_id: str) -> DelegationRefModel | None:
        """An outbound delegation of the scope's tenant (its reference)."""
        try:
            return DelegationRefModel.get(
                tenant_pk(scope.tenant_id), DLGREF + delegation_id, consistent_read=True
            )
        except DelegationRefModel.DoesNotExist:
            return None

    def transition(
        self,
        tx: WriteTransaction,
        record: DelegationModel,
        ref: DelegationRefModel,
        changes: dict[str, Any],
    ) -> None:
        """Change both sides in `tx`, each guarded by its version (optimistic locking)."""
        tx.update(record, _actions(DelegationModel, changes))
        tx.update(ref, _actions(DelegationRefModel, {k: v for k, v in changes.items() if k in REF_FIELDS}))

    def transition_by_ref(
        self, tx: WriteTransaction, ref: DelegationRefModel, changes: dict[str, Any], now: int
    ) -> None:
        """Change a live delegation from its (just read) reference alone, without reading the
        record of truth: the record only while it still has the status the reference shows
        and its deadline has not passed, so that a concurrent decision, revocation or expiry
        fails `tx` instead of racing; its version is bumped as by a versioned write. The
        reference is guarded by its version."""
        live = ref.status
        record = DelegationModel(pk=tenant_pk(ref.receiving_tenant_id), sk=DLG + ref.delegation_id)
        record.version = 0  # any number: pynamodb then adds 1 to the stored one (None would set 1)
        deadline = DelegationModel.expires_at if live == "ACTIVE" else DelegationModel.stepup_expires_at
        still_live = (DelegationModel.status == live) & (deadline > now)
        tx.update(record, _actions(DelegationModel, changes), still_live, versioned=False)
        tx.update(ref, _actions(DelegationRefModel, {k: v for k, v in changes.items() if k in REF_FIELDS}))

    def expire(
        self,
        tx: WriteTransaction,
        record: DelegationModel,
        ref: DelegationRefModel | None,
        changes: dict[str, Any],
        now: int,
    ) -> None:
        """Settle a live delegation whose deadline has passed, once: only while both sides
        still have the status read and the deadline is still past, so that a concurrent
        cleanup run, revocation or step-up decision makes this write fail instead of racing."""
        live = record.status
        deadline = DelegationModel.expires_at if live == "ACTIVE" else DelegationModel.stepup_expires_at
        still_due = (DelegationModel.status == live) & (deadline <= now)
        tx.update(record, _actions(DelegationModel, changes), still_due, versioned=False)
        if ref is not None:
            tx.update(
                ref,
                _actions(DelegationRefModel, {k: v for k, v in changes.items() if k in REF_FIELDS}),
                DelegationRefModel.status == live,
                versioned=False,
            )

    def list_inbound(
        self,
        scope: TenantScope,
        *,
        keep: Callable[[DelegationModel], bool],
        limit: int,
        cursor: str | None,
        requesting_tenant_id: str | None = None,
    ) -> tuple[list[DelegationModel], str | None]:
        """Received delegations, newest first; optionally only those asked by one tenant."""
        only = DelegationModel.requesting_tenant_id == requesting_tenant_id if requesting_tenant_id else None
        return _collect(DelegationModel, scope, DLG, keep, limit, cursor, only)

    def list_outbound(
        self,
        scope: TenantScope,
        *,
        keep: Callable[[DelegationRefModel], bool],
        limit: int,
        cursor: str | None,
        receiving_tenant_id: str | None = None,
    ) -> tuple[list[DelegationRefModel], str | None]:
        """Delegations our agents asked for, newest first; optionally only those of one receiver."""
        only = DelegationRefModel.receiving_tenant_id == receiving_tenant_id if receiving_tenant_id else None
        return _collect(DelegationRefModel, scope, DLGREF, keep, limit, cursor, only)

    def iter_inbound(self, scope: TenantScope) -> Iterator[DelegationModel]:
        return guarded(DelegationModel.query(tenant_pk(scope.tenant_id), DelegationModel.sk.startswith(DLG)))

    def iter_outbound(self, scope: TenantScope, *, consistent: bool = False) -> Iterator[DelegationRefModel]:
        return guarded(
            DelegationRefModel.query(
                tenant_pk(scope.tenant_id),
                DelegationRefModel.sk.startswith(DLGREF),
                consistent_read=consistent,
            )
        )

    # Idempotency keys live beside the requesting side's references.
    @store_errors
    def get_idempotency(self, scope: TenantScope, agent_id: str, key: str) -> IdempotencyModel | None:
        try:
            return IdempotencyModel.get(
                tenant_pk(scope.tenant_id), f"IDEM#{agent_id}#{key}", consistent_read=True
            )
        except IdempotencyModel.DoesNotExist:
            return None

    def add_idempotency(
        self,
        tx: WriteTransaction,
        scope: TenantScope,
        agent_id: str,
        key: str,
        *,
        request_hash: str,
        delegation_id: str,
        expires_at: int,
    ) -> None:
        tx.create(
            IdempotencyModel(
                pk=tenant_pk(scope.tenant_id),
                sk=f"IDEM#{agent_id}#{key}",
                request_hash=request_hash,
                delegation_id=delegation_id,
                expires_at=expires_at,
                ttl=expires_at,
            )
        )


def _actions(model: type[Any], changes: dict[str, Any]) -> list[Action]:
    actions: list[Action] = []
    for name, value in changes.items():
        attr = getattr(model, name)
        actions.append(attr.remove() if value is None else attr.set(value))
    return actions


PAGE_SIZE = 100
MAX_PAGES = 2


@store_errors
def _collect(
    model: type[_M],
    scope: TenantScope,
    prefix: str,
    keep: Callable[[_M], bool],
    limit: int,
    cursor: str | None,
    only: Condition | None = None,
) -> tuple[list[_M], str | None]:
    """Newest first, filtered by `keep` (and by `only` in DynamoDB, a FilterExpression of the same
    query), up to `limit`; the cursor is the last sort key. A request reads at most `MAX_PAGES`
    pages of `PAGE_SIZE` items, however large the partition: a rare filter gives a short (even
    empty) page and a cursor to go on from, never a walk through the whole partition."""
    pk = tenant_pk(scope.tenant_id)
    start = {"pk": {"S": pk}, "sk": {"S": prefix + cursor}} if cursor else None
    results = model.query(
        pk,
        model.sk.startswith(prefix),
        filter_condition=only,
        scan_index_forward=False,
        last_evaluated_key=start,
        page_size=PAGE_SIZE,
    )
    out: list[_M] = []
    for pages, page in enumerate(results.page_iter, start=1):
        for raw in page.get("Items", []):
            item = model.from_raw_data(raw)
            if not keep(item):
                continue
            if len(out) == limit:
                return out, out[-1].delegation_id
            out.append(item)
        read_to = page.get("LastEvaluatedKey")
        if read_to is None:
            break
        if pages == MAX_PAGES:
            return out, str(read_to["sk"]["S"])[len(prefix) :]
    return out, None
