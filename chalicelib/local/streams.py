"""The local stand-in for Lambda's DynamoDB-stream triggers: poll moto's audit-table stream
and run the same handlers, so that `make run` fills the local S3 bucket (the export) and
delivers step-up and vault webhooks (`webhook_poller`), each consumer at its own position.

Also keeps that bucket across restarts (moto holds S3 in memory): it is mirrored to
`<state dir>/s3/<bucket>/` (owner-only, like the rest of the state dir) after every export
and at exit, and restored at start. Stream
positions are kept in `<state dir>/stream-positions.json`, per stream ARN and shard.
moto's stream is new after each restart and holds one INSERT per item the snapshot
restored; those were exported in an earlier run, so a restart skips them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.config import Settings
from chalicelib.jobs.objects import DirectoryObjectStore, check_key
from chalicelib.local.aws import client
from chalicelib.private_files import restrict_tree, write_private, write_private_bytes

POSITIONS_FILE = "stream-positions.json"
WEBHOOK_POSITIONS_FILE = "webhook-stream-positions.json"
MAX_ATTEMPTS = 3  # like a Lambda event source mapping's MaximumRetryAttempts
BATCH_SIZE = 100
Handler = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda delivers (epoch seconds, eventSourceARN)."""
    out = dict(record)
    dynamodb = dict(record.get("dynamodb") or {})
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    out["dynamodb"] = dynamodb
    out.setdefault("eventSourceARN", stream_arn)
    return out


def lambda_event(records: Sequence[Mapping[str, Any]], stream_arn: str) -> dict[str, Any]:
    return {"Records": [lambda_record(r, stream_arn) for r in records]}


def streams_client(settings: Settings) -> Any:
    # botocore's account-id endpoints (`<account>.streams-ddb...`) are unknown to moto.
    return boto3.client(
        "dynamodbstreams",
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint,
        config=Config(account_id_endpoint_mode="disabled"),
    )


def _default_handler(event: Mapping[str, Any]) -> Mapping[str, Any]:
    from chalicelib.jobs.audit_export import handle_event

    return handle_event(event)


class PrivateDirectoryStore(DirectoryObjectStore):
    """A directory mirror whose objects only the owner can read (0600 in 0700 directories):
    the audit export names tenants, agents and actions."""

    def put(self, key: str, body: bytes, content_type: str) -> None:
        write_private_bytes(self.root / check_key(key), body)


class BucketMirror:
    """The audit bucket <-> `<state dir>/s3/<bucket>/`."""

    def __init__(self, settings: Settings, s3: Any) -> None:
        self._bucket = settings.audit_bucket
        self._region = settings.aws_region
        self._s3 = s3
        self._root = settings.state_dir / "s3"
        self.local = PrivateDirectoryStore(self._root / settings.audit_bucket)
        self._etags: dict[str, str] = {}

    def restore(self) -> int:
        """Create the bucket if needed and upload the mirror; the number of objects. A mirror
        written by an older version (0755/0644) is made owner-only first."""
        restrict_tree(self._root)
        existing = {b["Name"] for b in self._s3.list_buckets().get("Buckets", [])}
        if self._bucket not in existing:
            extra = (
                {}
                if self._region == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": self._region}}
            )
            self._s3.create_bucket(Bucket=self._bucket, **extra)
        objects = self.local.list("")
        for obj in objects:
            body = self.local.get(obj.key)
            if body is not None:
                self._s3.put_object(Bucket=self._bucket, Key=obj.key, Body=body)
        return len(objects)

    def save(self) -> None:
        """Write what changed in the bucket to the mirror; drop what the bucket no longer has."""
        seen: dict[str, str] = {}
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket):
            for obj in page.get("Contents", []):
                seen[obj["Key"]] = obj["ETag"]
                if self._etags.get(obj["Key"]) != obj["ETag"]:
                    body = self._s3.get_object(Bucket=self._bucket, Key=obj["Key"])["Body"].read()
                    self.local.put(obj["Key"], body, "")
        for obj in self.local.list(""):
            if obj.key not in seen:
                self.local.delete(obj.key)
        self._etags = seen


class AuditStreamPoller:
    """Every `stream_poll_seconds`: read new audit stream records, run the handler (the
    export's unless told; `mirror`: keep the audit bucket's directory mirror, the export's)."""

    def __init__(
        self,
        settings: Settings,
        handler: Handler | None = None,
        *,
        name: str = "audit export",
        positions_file: str = POSITIONS_FILE,
        mirror: bool = True,
    ) -> None:
        self._settings = settings
        self._handler = handler or _default_handler
        self.name = name
        self._positions_path: Path = settings.state_dir / positions_file
        self._streams = streams_client(settings)
        self._ddb = client(settings, "dynamodb")
        self.mirror = BucketMirror(settings, client(settings, "s3")) if mirror else None
        self._attempts: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- positions -----------------------------------------------------------------------------
    def _load_positions(self) -> dict[str, Any]:
        try:
            data = json.loads(self._positions_path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_positions(self, stream_arn: str, shards: dict[str, str]) -> None:
        text = json.dumps({"stream_arn": stream_arn, "shards": shards}, sort_keys=True)
        write_private(self._positions_path, text)

    def _stream_arn(self) -> str:
        table = self._ddb.describe_table(TableName=self._settings.audit_table_name)["Table"]
        return str(table["LatestStreamArn"])

    def _shard_ids(self, stream_arn: str) -> list[str]:
        shards = self._streams.describe_stream(StreamArn=stream_arn)["StreamDescription"].get("Shards", [])
        return [str(s["ShardId"]) for s in shards]

    def _read(self, stream_arn: str, shard_id: str, after: str | None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
        if after:
            kwargs = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
        response = self._streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard_id, **kwargs)
        iterator = response["ShardIterator"]
        return list(self._streams.get_records(ShardIterator=iterator, Limit=BATCH_SIZE).get("Records", []))

    # -- polling -------------------------------------------------------------------------------
    def skip_existing(self) -> None:
        """After a restart (a new moto stream): mark what the stream holds as done."""
        stored = self._load_positions()
        stream_arn = self._stream_arn()
        if not stored or stored.get("stream_arn") == stream_arn:
            return  # first run: export everything; same stream: continue where we were
        shards: dict[str, str] = {}
        for shard_id in self._shard_ids(stream_arn):
            last: str | None = None
            while records := self._read(stream_arn, shard_id, last):
                last = str(records[-1]["dynamodb"]["SequenceNumber"])
            if last:
                shards[shard_id] = last
        self._save_positions(stream_arn, shards)

    def poll_once(self) -> int:
        """Deliver every pending record; the number of records handled."""
        with self._lock:
            stream_arn = self._stream_arn()
            stored = self._load_positions()
            same = stored.get("stream_arn") == stream_arn
            shards: dict[str, str] = dict(stored.get("shards", {})) if same else {}
            handled = 0
            for shard_id in self._shard_ids(stream_arn):
                handled += self._drain(stream_arn, shard_id, shards)
            if handled or not same:
                self._save_positions(stream_arn, shards)
            return handled

    def _drain(self, stream_arn: str, shard_id: str, shards: dict[str, str]) -> int:
        handled = 0
        while records := self._read(stream_arn, shard_id, shards.get(shard_id)):
            done, more = self._deliver(records, stream_arn)
            if done is not None:
                shards[shard_id] = done
            handled += len(records)
            if not more:
                break
        return handled

    def _deliver(self, records: list[dict[str, Any]], stream_arn: str) -> tuple[str | None, bool]:
        """Run the handler: the sequence number up to which the batch is done (None: nothing)
        and whether to go on; a failed record is retried next cycle, up to MAX_ATTEMPTS."""
        response = self._handler(lambda_event(records, stream_arn))
        failed = {str(f["itemIdentifier"]) for f in response.get("batchItemFailures", [])}
        sequences = [str(r["dynamodb"]["SequenceNumber"]) for r in records]
        first = next((i for i, s in enumerate(sequences) if s in failed), None)
        if first is None:
            return sequences[-1], True
        attempts = self._attempts[sequences[first]] = self._attempts.get(sequences[first], 0) + 1
        if attempts >= MAX_ATTEMPTS:
            print(f"warning: {self.name} gave up on stream record {sequences[first]}", flush=True)
            return sequences[first], True
        return (sequences[first - 1] if first > 0 else None), False

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self.mirror is not None:
            self.mirror.restore()
        self.skip_existing()
        self._thread = threading.Thread(target=self._run, name=f"stream: {self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._settings.stream_poll_seconds):
            self._cycle()

    def _cycle(self) -> None:
        try:
            if self.poll_once() and self.mirror is not None:
                self.mirror.save()
        except Exception as exc:  # noqa: BLE001 - a failed poll must not stop the server
            print(f"warning: audit stream poll failed ({self.name}): {exc}", flush=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._cycle()
        if self.mirror is None:
            return
        try:
            self.mirror.save()
        except Exception as exc:  # noqa: BLE001
            print(f"warning: audit bucket mirror failed: {exc}", flush=True)


def _webhook_handler(event: Mapping[str, Any]) -> Mapping[str, Any]:
    from chalicelib.jobs.webhook_delivery import handle_event

    return handle_event(event)


def webhook_poller(settings: Settings) -> AuditStreamPoller:
    """The webhook delivery function's stand-in: the same stream, a position of its own."""
    return AuditStreamPoller(
        settings,
        _webhook_handler,
        name="webhook delivery",
        positions_file=WEBHOOK_POSITIONS_FILE,
        mirror=False,
    )
