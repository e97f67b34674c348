"""Helpers for the audit export tests: the bucket, real stream records, exported objects."""

from __future__ import annotations

import copy
import gzip
import json
from typing import Any

import boto3

from chalicelib.config import get_settings
from chalicelib.jobs.audit_export import handle_event
from chalicelib.local.streams import lambda_event, streams_client


def make_bucket() -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=get_settings().audit_bucket)
    return s3


def stream_records() -> tuple[list[dict[str, Any]], str]:
    """Every record of the audit table's stream so far (moto), and the stream ARN."""
    settings = get_settings()
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    arn = ddb.describe_table(TableName=settings.audit_table_name)["Table"]["LatestStreamArn"]
    streams = streams_client(settings)
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        shard_id = shard["ShardId"]
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
        records.extend(streams.get_records(ShardIterator=it["ShardIterator"], Limit=1000)["Records"])
    return records, arn


def export(records: list[dict[str, Any]], arn: str) -> dict[str, Any]:
    return handle_event(lambda_event(records, arn))


def objects(prefix: str = "") -> dict[str, bytes]:
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = get_settings().audit_bucket
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def exported_events(prefix: str = "audit/") -> dict[str, list[dict[str, Any]]]:
    """Key -> the events in that object (gunzipped JSON lines)."""
    return {
        key: [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
        for key, body in objects(prefix).items()
    }


def at_hour(record: dict[str, Any], hour: str, n: int) -> dict[str, Any]:
    """A copy of a real record, as event number `n` happening in `hour` ("yyyy-mm-ddThh")."""
    out = copy.deepcopy(record)
    image = out["dynamodb"]["NewImage"]
    occurred = f"{hour}:{n % 60:02d}:00.000000Z"
    event_id = image["event_id"]["S"][:-4] + f"{n:04d}"
    image["occurred_at"] = {"S": occurred}
    image["event_id"] = {"S": event_id}
    image["sk"] = {"S": f"{occurred}#{event_id}"}
    out["dynamodb"]["SequenceNumber"] = str(int(out["dynamodb"]["SequenceNumber"]) + 100_000 + n)
    return out
