"""`make package`: the webhook delivery function (chalicelib/jobs/webhook_delivery.py), the
audit stream's second consumer. Its own role (main-table batch reads, delivered markers and
nothing else written, the data key's decrypt, the stream, its queue), an event source mapping
that reports partial failures and keeps what it gave up on, and a timeout that fits a batch
whose every delivery times out."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.jobs import webhook_delivery
from chalicelib.store.reads import MAX_BATCH_KEYS
from chalicelib.store.webhook_deliveries import MARKER_ATTRIBUTES
from infra import package
from tests.infra.conftest import resources

NAME = package.WEBHOOKS


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    role = template["Resources"][f"{NAME}Role"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_it_is_a_function_of_its_own_on_the_audit_stream(template: dict[str, Any]) -> None:
    fn = template["Resources"][NAME]["Properties"]
    assert fn["Handler"] == "app.deliver_webhook_events"
    assert fn["Role"] == {"Fn::GetAtt": [f"{NAME}Role", "Arn"]}
    assert fn["LoggingConfig"]["LogGroup"] == {"Ref": f"{NAME}Logs"} and fn["Tracing"] == "Active"
    assert "VAULTGUARD_AUDIT_STREAM_ARN" not in fn["Environment"]["Variables"]
    # a deployed stage delivers from the stream by default and refuses the request's threads
    assert fn["Environment"]["Variables"]["VAULTGUARD_STAGE"] == "prod"
    (source,) = fn["Events"].values()
    props = source["Properties"]
    assert source["Type"] == "DynamoDB"
    assert props["Stream"] == {"Fn::GetAtt": [package.AUDIT, "StreamArn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == package.WEBHOOK_RETRIES > 0
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": [package.WEBHOOK_FAILURES, "Arn"]
    }
    assert props["BatchSize"] == webhook_delivery.BATCH_SIZE
    # one batched read names every key of a batch (webhook, marker, record per event)
    assert webhook_delivery.BATCH_SIZE * webhook_delivery.KEYS_PER_EVENT <= MAX_BATCH_KEYS
    queue = template["Resources"][package.WEBHOOK_FAILURES]
    assert queue["Type"] == "AWS::SQS::Queue" and queue["Properties"]["SqsManagedSseEnabled"] is True
    # the export keeps its own mapping and queue
    export = next(iter(template["Resources"][package.EXPORT]["Properties"]["Events"].values()))
    assert export["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": [package.EXPORT_FAILURES, "Arn"]
    }


def test_its_timeout_fits_a_batch_whose_every_delivery_times_out(template: dict[str, Any]) -> None:
    timeout = template["Resources"][NAME]["Properties"]["Timeout"]
    policy = webhook_delivery.STREAM_RETRY
    worst = webhook_delivery.worst_case_seconds(policy)
    # 3 attempts x (3 s connect + 3 s read) + 0.5 s + 1 s of backoff; the batch's records run
    # side by side, so the batch takes as long as its slowest record
    assert worst == 19.5
    assert timeout == webhook_delivery.FUNCTION_TIMEOUT_SECONDS >= worst + webhook_delivery.SAFETY_SECONDS + 5
    # API functions keep the stage's short timeout
    assert template["Resources"]["RoutePutWebhooks"]["Properties"]["Timeout"] < timeout
    # a configured longer backoff never outgrows what the timeout was sized for
    assert webhook_delivery.stream_retry(60_000) == policy
    assert webhook_delivery.stream_retry(10).backoff_base == 0.01


def test_its_role_reads_the_main_table_writes_only_markers_and_decrypts(template: dict[str, Any]) -> None:
    by_sid = {s["Sid"]: s for s in _statements(template)}
    main = [{"Fn::GetAtt": [package.MAIN, "Arn"]}]
    assert by_sid["WebhookReads"]["Action"] == ["dynamodb:BatchGetItem"]
    assert by_sid["WebhookReads"]["Resource"] == main
    marker = by_sid["DeliveredMarkers"]
    assert marker["Action"] == ["dynamodb:PutItem"] and marker["Resource"] == main
    only_marker_attributes = {"dynamodb:Attributes": list(MARKER_ATTRIBUTES)}
    assert marker["Condition"] == {"ForAllValues:StringEquals": only_marker_attributes}
    assert by_sid["AuditStreamRead"]["Resource"] == [{"Fn::GetAtt": [package.AUDIT, "StreamArn"]}]
    assert by_sid["DataKeyDecrypt"] == {
        "Sid": "DataKeyDecrypt",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": [{"Fn::GetAtt": [package.DATA_KEY, "Arn"]}],
    }
    assert by_sid["WebhookFailures"]["Resource"] == [{"Fn::GetAtt": [package.WEBHOOK_FAILURES, "Arn"]}]
    assert by_sid["Logs"]["Resource"] == [{"Fn::GetAtt": [f"{NAME}Logs", "Arn"]}]
    actions = {a for s in by_sid.values() for a in s["Action"]}
    assert actions == {
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "kms:Decrypt",
        "sqs:SendMessage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        *package.XRAY["Action"],
    }
    text = json.dumps(_statements(template))
    for never in ("AuditBucket", package.SIGNING_KEY, "dynamodb:UpdateItem", "dynamodb:DeleteItem", "s3:"):
        assert never not in text, never
    assert f'"{package.AUDIT}", "Arn"' not in text  # no audit item access, only its stream


def test_its_log_group_is_kept_like_the_others(template: dict[str, Any]) -> None:
    groups = resources(template, "AWS::Logs::LogGroup")
    assert groups[f"{NAME}Logs"]["Properties"]["RetentionInDays"] == package.LOG_RETENTION_DAYS
