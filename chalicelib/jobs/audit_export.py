"""Audit export: the audit table's NEW_IMAGE stream -> gzip JSON Lines in S3.

`s3://<audit bucket>/audit/tenant=<id>/date=<yyyy-mm-dd>/<hh>-<first event id>.jsonl.gz`

Delivery is at-least-once, so the export is idempotent. Within a batch, records are grouped
per tenant and hour (of `occurred_at`), in stream order, and a group is cut wherever a record
failed. A group's key is derived from its contents: its hour and its *first* event's id.
Lambda re-delivers a shard from a checkpoint, in order, so a replay of the same batch
rewrites the same keys with the same bytes (gzip with mtime=0), and a re-delivery that is
longer or shorter (more records arrived, a bisected batch) overwrites the object that starts
at the same event instead of adding a second copy of its events. The cut at failures keeps
this true for partial batch failures: the records after a poisoned one start a group of
their own, which is exactly what the retry from the poisoned record re-creates.

Only the audit item's own fields are exported (there are no secrets there by design).
This is a platform job: it reads every tenant's events, and nothing else does.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from boto3.dynamodb.types import TypeDeserializer

from chalicelib.jobs.audit_digest import DigestWriter, WrittenObject
from chalicelib.jobs.objects import ObjectStore, check_key, sha256_hex

logger = Logger(child=True)

EXPORT_PREFIX = "audit"
CONTENT_TYPE = "application/x-ndjson+gzip"
_REQUIRED = ("event_id", "tenant_id", "occurred_at", "type", "request_id")
_OPTIONAL = ("delegation_id", "counterpart_tenant_id", "action", "decision", "token_sha256")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_deserializer = TypeDeserializer()


class PoisonRecord(ValueError):
    """A stream record that can never be exported (malformed image); it fails alone."""


@dataclass(frozen=True)
class ExportEvent:
    tenant_id: str
    event_id: str
    hour: str  # "yyyy-mm-ddThh" of occurred_at (UTC)
    line: bytes  # one JSON object, canonical


@dataclass(frozen=True)
class ExportObject:
    key: str
    tenant_id: str
    hour: str
    body: bytes
    event_count: int


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals and sets as JSON values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        raise PoisonRecord("binary attributes are not part of an audit event")
    return value


def _hour_of(occurred_at: str) -> str:
    try:
        instant = datetime.fromisoformat(occurred_at)
    except ValueError as exc:
        raise PoisonRecord("occurred_at is not ISO-8601") from exc
    if instant.utcoffset() is None or instant.utcoffset().total_seconds() != 0:  # type: ignore[union-attr]
        raise PoisonRecord("occurred_at must be UTC")
    return instant.strftime("%Y-%m-%dT%H")


def event_from_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """The exported event (docs/architecture.md, "Audit events"): the item's own fields, nothing else."""
    try:
        item = {k: _deserializer.deserialize(v) for k, v in image.items()}
    except (TypeError, ValueError, AttributeError) as exc:
        raise PoisonRecord(f"bad attribute value: {exc}") from exc
    missing = [f for f in (*_REQUIRED, "actor_type", "actor_id") if not isinstance(item.get(f), str)]
    if missing:
        raise PoisonRecord(f"missing fields: {', '.join(missing)}")
    if item.get("pk") != f"T#{item['tenant_id']}" or not _SAFE_ID.match(item["tenant_id"]):
        raise PoisonRecord("tenant_id does not match the partition")
    if not _SAFE_ID.match(item["event_id"]):
        raise PoisonRecord("bad event_id")
    event: dict[str, Any] = {f: item[f] for f in _REQUIRED}
    event["actor"] = {"type": item["actor_type"], "id": item["actor_id"]}
    event.update({f: item[f] for f in _OPTIONAL if isinstance(item.get(f), str)})
    if isinstance(item.get("detail"), Mapping) and item["detail"]:
        event["detail"] = _plain(item["detail"])
    return event


def parse_record(raw: Mapping[str, Any]) -> ExportEvent | None:
    """One Lambda stream record -> the event to export; None for anything but an INSERT
    (the log is append-only: a MODIFY or REMOVE is logged, never exported)."""
    if raw.get("eventName") != "INSERT":
        logger.warning("audit stream: non-INSERT record ignored", extra={"event_name": raw.get("eventName")})
        return None
    image = (raw.get("dynamodb") or {}).get("NewImage")
    if not isinstance(image, Mapping):
        raise PoisonRecord("record has no NewImage")
    event = event_from_image(image)
    line = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return ExportEvent(event["tenant_id"], event["event_id"], _hour_of(event["occurred_at"]), line)


def object_key(tenant_id: str, hour: str, first_event_id: str) -> str:
    date, hh = hour.split("T")
    return check_key(f"{EXPORT_PREFIX}/tenant={tenant_id}/date={date}/{hh}-{first_event_id}.jsonl.gz")


def hour_prefix(tenant_id: str, hour: str) -> str:
    """Every export object of one tenant and hour starts with this."""
    date, hh = hour.split("T")
    return f"{EXPORT_PREFIX}/tenant={tenant_id}/date={date}/{hh}-"


def plan_objects(segments: Iterable[Sequence[ExportEvent]]) -> list[ExportObject]:
    """Group each failure-free run of events per tenant and hour, in stream order."""
    objects: list[ExportObject] = []
    for segment in segments:
        groups: dict[tuple[str, str], list[ExportEvent]] = {}
        for event in segment:
            groups.setdefault((event.tenant_id, event.hour), []).append(event)
        for (tenant_id, hour), events in groups.items():
            body = gzip.compress(b"".join(e.line + b"\n" for e in events), mtime=0)
            key = object_key(tenant_id, hour, events[0].event_id)
            objects.append(ExportObject(key, tenant_id, hour, body, len(events)))
    return objects


def _segments(
    records: Sequence[Mapping[str, Any]], parsed: Mapping[str, ExportEvent | None], failed: set[str]
) -> list[list[ExportEvent]]:
    segments: list[list[ExportEvent]] = [[]]
    for record in records:
        sequence = str((record.get("dynamodb") or {}).get("SequenceNumber"))
        if sequence in failed:
            segments.append([])
            continue
        event = parsed.get(sequence)
        if event is not None:
            segments[-1].append(event)
    return [s for s in segments if s]


class AuditExporter:
    """Stream batch -> export objects -> refreshed hour digests."""

    def __init__(self, store: ObjectStore, digests: DigestWriter | None) -> None:
        self._store = store
        self._digests = digests

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Process one Lambda DynamoDB-stream event; `{"batchItemFailures": [...]}`.

        A poisoned record fails alone; a failure to write S3 raises, so that Lambda retries
        the whole batch (which rewrites the same objects)."""
        parsed: dict[str, ExportEvent | None] = {}

        def record_handler(record: DynamoDBRecord) -> None:
            parsed[str(record.dynamodb.sequence_number)] = parse_record(record.raw_event)  # type: ignore[union-attr]

        processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
        response: dict[str, Any] = dict(
            process_partial_response(dict(event), record_handler, processor, context)
        )
        failed = {str(f["itemIdentifier"]) for f in response.get("batchItemFailures") or []}
        objects = plan_objects(_segments(list(event.get("Records") or []), parsed, failed))
        for obj in objects:
            self._store.put(obj.key, obj.body, CONTENT_TYPE)
        if self._digests is not None and objects:
            self._digests.record(
                WrittenObject(o.key, o.tenant_id, o.hour, sha256_hex(o.body), len(o.body)) for o in objects
            )
        events = sum(o.event_count for o in objects)
        logger.info("audit export", extra={"objects": len(objects), "events": events, "failed": len(failed)})
        return response


def handle_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """The Lambda entry point (`app.py`) and what the local stream poller calls."""
    from chalicelib.services.container import get_container

    return get_container().audit_exporter.handle(event, context)
