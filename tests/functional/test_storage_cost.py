"""The embedded stack's writes cost the same with 50 audit events as with 5,000 (design:
"Nothing O(table size) on a request path, locally either"): an ALLOW copies the same
few items inside moto whatever the tables hold. Counted, not timed."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest

from chalicelib.config import get_settings
from tests.functional.conftest import Stack
from tests.functional.helpers import allowed_pair, grant


def seed_audit_events(tenant_id: str, start: int, stop: int) -> None:
    ddb = boto3.client("dynamodb")
    table = get_settings().audit_table_name
    for first in range(start, stop, 25):
        batch = [
            {"PutRequest": {"Item": {
                "pk": {"S": f"T#{tenant_id}"}, "sk": {"S": f"2020-01-01T00:00:00.{n:06d}Z#seed"},
                "event_id": {"S": f"seed{n}"}, "tenant_id": {"S": tenant_id}, "type": {"S": "token.issued"},
            }}}
            for n in range(first, min(stop, first + 25))
        ]
        ddb.batch_write_item(RequestItems={table: batch})


def items_copied(call: Any, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many stored items moto deep-copies while `call` runs (a table copy copies all)."""
    from moto.dynamodb.models.dynamo_type import Item

    calls = [0]
    original = copy.deepcopy

    def counting(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, Item):
            calls[0] += 1
        return original(value, *args, **kwargs)

    monkeypatch.setattr(copy, "deepcopy", counting)
    try:
        call()
    finally:
        monkeypatch.setattr(copy, "deepcopy", original)
    return calls[0]


def test_an_allow_copies_the_same_few_items_with_50_or_5000_audit_events(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = allowed_pair(stack)
    natsupply, agent = first.receiver, first.agent
    grant(stack, agent, natsupply)  # warm: lazily built clients and caches

    seed_audit_events(natsupply.tenant_id, 0, 50)
    smalls = [items_copied(lambda: grant(stack, agent, natsupply), monkeypatch) for _ in range(4)]
    seed_audit_events(natsupply.tenant_id, 50, 5000)
    larges = [items_copied(lambda: grant(stack, agent, natsupply), monkeypatch) for _ in range(4)]
    small, large = min(smalls), min(larges)

    print(f"deepcopies per ALLOW: {small} with 50 audit events, {large} with 5,000")
    # equal but for a rate-limit window that may roll over in between (one counter copy)
    assert abs(large - small) <= 10
    assert small < 500  # the few items one ALLOW touches, not a table
