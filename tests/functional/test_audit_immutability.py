"""Audit items cannot be overwritten (issue 4 item 1, the functional half; the source-level
proof is tests/unit/test_audit_immutability.py): re-putting an existing audit item through
the only write path there is fails the whole transaction, and what was logged stays as it was."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib.auth.scope import system_scope
from chalicelib.domain.audit import Actor, AuditEvent
from chalicelib.store.db import ConditionFailed
from chalicelib.store.models import PolicyModel, tenant_pk
from tests.functional.conftest import Stack
from tests.functional.helpers import shared_botocore_data

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)


def raw_audit(stack: Stack, tenant_id: str) -> list[dict[str, Any]]:
    reply = boto3.client("dynamodb").query(
        TableName=stack.container.settings.audit_table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": tenant_pk(tenant_id)}},
        ConsistentRead=True,
    )
    return list(reply["Items"])


def test_re_putting_an_audit_item_fails_the_transaction_and_changes_nothing(stack: Stack) -> None:
    tenant = stack.tenant("MediCore")
    before = raw_audit(stack, tenant.tenant_id)
    [original] = [item for item in before if item["type"]["S"] == "tenant.created"]
    forged = AuditEvent(
        event_id=original["event_id"]["S"],
        tenant_id=tenant.tenant_id,
        occurred_at=original["occurred_at"]["S"],
        type="tenant.status_changed",
        actor=Actor("system", "forger"),
        request_id="forged-request",
        detail={"status": "DISABLED"},
    )
    scope = system_scope(tenant.tenant_id)
    container = stack.container

    tx = container.db.transaction()
    container.audit_repo.add(tx, scope, forged)
    with pytest.raises(ConditionFailed):
        tx.commit()

    # The same re-put alongside an ordinary change: the change is cancelled with it.
    policy = PolicyModel(
        pk=tenant_pk(tenant.tenant_id),
        sk="POLICY#forged.write#*",
        policy_id="pol_forged",
        action="forged.write",
        effect="ALLOW",
        ttl_seconds=60,
        stepup_expiry_seconds=60,
        created_at=forged.occurred_at,
        updated_at=forged.occurred_at,
    )
    tx = container.db.transaction()
    tx.create(policy)
    container.audit_repo.add(tx, scope, forged)
    with pytest.raises(ConditionFailed):
        tx.commit()

    assert raw_audit(stack, tenant.tenant_id) == before
    assert stack.call("GET", "/policies", tenant.admin_token).body["policies"] == []
    [event] = [e for e in stack.audit(tenant) if e["event_id"] == original["event_id"]["S"]]
    assert event["type"] == "tenant.created" and event["actor"]["type"] == "platform"
