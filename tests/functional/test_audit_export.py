"""Audit stream -> S3 export: keys, contents, idempotent replays, partial batch failures."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from chalicelib.config import get_settings
from chalicelib.jobs.objects import DirectoryObjectStore
from chalicelib.local.streams import AuditStreamPoller, lambda_event
from tests.functional.audit_stream import export, exported_events, make_bucket, objects, stream_records
from tests.functional.conftest import Stack, Tenant

ALLOWED_FIELDS = {
    "event_id", "tenant_id", "occurred_at", "type", "actor", "request_id", "delegation_id",
    "counterpart_tenant_id", "action", "decision", "token_sha256", "detail",
}
KEY = re.compile(r"^audit/tenant=(tnt_[0-9a-f]{20})/date=(\d{4}-\d{2}-\d{2})/(\d{2})-[0-9A-Z]+\.jsonl\.gz$")


def _world(stack: Stack) -> tuple[Tenant, Tenant]:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    assert stack.request(agent, natsupply, "stock.write").status == 201
    assert stack.request(agent, natsupply, "admin.access").status == 403
    return medicore, natsupply


def _ids_by_tenant() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, events in exported_events().items():
        tenant_id = KEY.match(key).group(1)  # type: ignore[union-attr]
        found.setdefault(tenant_id, []).extend(e["event_id"] for e in events)
    return found


@pytest.fixture
def world(stack: Stack) -> tuple[Tenant, Tenant]:
    make_bucket()
    return _world(stack)


def test_events_land_under_tenant_and_date_keys(stack: Stack, world: tuple[Tenant, Tenant]) -> None:
    records, arn = stream_records()
    assert export(records, arn) == {"batchItemFailures": []}

    exported = exported_events()
    assert exported, "no export objects were written"
    for key, events in exported.items():
        match = KEY.match(key)
        assert match, key
        for event in events:
            assert event["tenant_id"] == match.group(1)
            assert event["occurred_at"][:10] == match.group(2)
            assert event["occurred_at"][11:13] == match.group(3)
            assert set(event) <= ALLOWED_FIELDS and "pk" not in event and "sk" not in event
    by_tenant = _ids_by_tenant()
    for tenant in world:
        logged = sorted(e["event_id"] for e in stack.audit(tenant))
        assert sorted(by_tenant[tenant.tenant_id]) == logged, "every logged event exactly once"
    api_event = stack.audit(world[1])[0]
    [same] = [
        e
        for events in exported.values()
        for e in events
        if e["event_id"] == api_event["event_id"] and e["tenant_id"] == world[1].tenant_id
    ]
    assert same == {k: v for k, v in api_event.items() if k in ALLOWED_FIELDS}


def test_replaying_a_batch_three_times_changes_nothing(stack: Stack, world: tuple[Tenant, Tenant]) -> None:
    records, arn = stream_records()
    export(records, arn)
    first = objects()
    for _ in range(3):
        assert export(records, arn) == {"batchItemFailures": []}
    assert objects() == first, "same keys, same bytes"
    assert all(len(ids) == len(set(ids)) for ids in _ids_by_tenant().values())


def test_redelivery_in_other_batch_sizes_adds_no_duplicates(
    stack: Stack, world: tuple[Tenant, Tenant]
) -> None:
    records, arn = stream_records()
    export(records, arn)
    expected = {t: sorted(ids) for t, ids in _ids_by_tenant().items()}
    half = len(records) // 2
    export(records[:half], arn)  # Lambda re-delivering from the same checkpoint, bisected
    export(records[half:], arn)
    assert {t: sorted(ids) for t, ids in _ids_by_tenant().items()} == expected


def test_a_poisoned_record_fails_only_itself(stack: Stack, world: tuple[Tenant, Tenant]) -> None:
    records, arn = stream_records()
    poisoned = copy.deepcopy(records)
    middle = len(poisoned) // 2
    del poisoned[middle]["dynamodb"]["NewImage"]["tenant_id"]
    bad_sequence = poisoned[middle]["dynamodb"]["SequenceNumber"]

    assert export(poisoned, arn) == {"batchItemFailures": [{"itemIdentifier": bad_sequence}]}
    bad_event = records[middle]["dynamodb"]["NewImage"]["event_id"]["S"]
    exported_ids = [i for ids in _ids_by_tenant().values() for i in ids]
    all_ids = [r["dynamodb"]["NewImage"]["event_id"]["S"] for r in records]
    assert sorted(exported_ids) == sorted(i for n, i in enumerate(all_ids) if n != middle)
    assert exported_ids.count(bad_event) == (all_ids.count(bad_event) - 1)

    # Lambda retries from the poisoned record; then (record dropped) from the next one.
    assert export(poisoned[middle:], arn)["batchItemFailures"] == [{"itemIdentifier": bad_sequence}]
    export(poisoned[middle + 1 :], arn)
    after = [i for ids in _ids_by_tenant().values() for i in ids]
    assert sorted(after) == sorted(exported_ids), "retries add no duplicates"


def test_the_chalice_stream_handler_is_wired(stack: Stack, world: tuple[Tenant, Tenant]) -> None:
    records, arn = stream_records()
    reply = stack.client.lambda_.invoke("export_audit_events", lambda_event(records, arn))
    assert reply.payload == {"batchItemFailures": []}
    assert _ids_by_tenant().keys() == {t.tenant_id for t in world}


def test_local_poller_exports_and_mirrors_the_bucket(stack: Stack, world: tuple[Tenant, Tenant]) -> None:
    settings = get_settings()
    poller = AuditStreamPoller(settings)
    assert poller.poll_once() > 0
    assert poller.poll_once() == 0, "a second poll continues where the first stopped"
    exported = objects("audit/")
    assert exported
    stack.agent(world[0], "late")  # a new event is picked up by the next poll
    assert poller.poll_once() >= 1
    poller.mirror.save()
    mirror = DirectoryObjectStore(Path(settings.state_dir) / "s3" / settings.audit_bucket)
    mirrored = {o.key: mirror.get(o.key) for o in mirror.list("")}
    assert mirrored == objects()
    assert any(k.startswith("digests/") for k in mirrored)
