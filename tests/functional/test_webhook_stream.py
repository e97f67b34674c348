"""Webhooks from the audit stream (chalicelib/jobs/webhook_delivery.py): what the deployed
stages run instead of the request's threads. Real stream records from moto, a real receiver
on 127.0.0.1, signatures checked as a receiver would; retried batches deliver nothing twice."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.config import Settings, get_settings
from chalicelib.domain.webhooks import verify_signature
from chalicelib.jobs.webhook_delivery import STREAM_RETRY, handle_event
from chalicelib.local.streams import AuditStreamPoller, lambda_event, webhook_poller
from chalicelib.services.notify import NullNotifier
from tests.functional.audit_stream import make_bucket, stream_records
from tests.functional.conftest import Stack, stack_with
from tests.functional.test_round_trips import dynamodb_calls
from tests.functional.test_webhooks import ACTION, Receiver, register, unreachable_url, world


@pytest.fixture
def streamed(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A stack as deployed: the request path sends no webhook, the stream's function does."""
    monkeypatch.setenv("VAULTGUARD_WEBHOOK_BACKOFF_MS", "10")
    with stack_with(monkeypatch, VAULTGUARD_WEBHOOK_DELIVERY="stream") as stack:
        yield stack


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def other() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def deliver(records: list[dict[str, Any]] | None = None, context: Any = None) -> dict[str, Any]:
    """Run the function on `records` (default: every record the stream holds so far)."""
    if records is None:
        records, arn = stream_records()
    else:
        arn = str(records[0]["eventSourceARN"]) if records and "eventSourceARN" in records[0] else "arn"
    return handle_event(lambda_event(records, arn), context)


def audit_record(tenant_id: str, event_type: str) -> dict[str, Any]:
    """The stream record of `tenant_id`'s copy of its latest `event_type` event."""
    records, _ = stream_records()
    found = [
        r
        for r in records
        if r["dynamodb"]["NewImage"]["tenant_id"]["S"] == tenant_id
        and r["dynamodb"]["NewImage"]["type"]["S"] == event_type
    ]
    assert found, (tenant_id, event_type)
    return found[-1]


def test_a_step_up_request_is_delivered_from_the_stream_signed_and_only_once(
    streamed: Stack, receiver: Receiver, other: Receiver
) -> None:
    medicore, natsupply, agent = world(streamed)
    secret = register(streamed, natsupply, receiver.url)
    register(streamed, medicore, other.url)  # the requesting tenant's own webhook
    assert isinstance(streamed.container.notifier, NullNotifier)
    started = streamed.request(agent, natsupply, ACTION, purpose="weekly order", binding_message="REQ-4471")
    assert started.status == 202, started.body
    assert receiver.received == []  # the request sent nothing

    records, _ = stream_records()
    shapes: list[tuple[str, int]] = []
    with dynamodb_calls(shapes) as calls:
        assert deliver(records) == {"batchItemFailures": []}
    # one read for the whole batch (webhooks, markers, records), one marker for the delivery
    assert dict(calls) == {"BatchGetItem": 1, "PutItem": 1}, shapes

    [delivery] = receiver.received
    assert other.received == []  # MediCore's copy of the event goes to nobody
    event = delivery.event
    audited = audit_record(natsupply.tenant_id, "delegation.stepup_required")["dynamodb"]["NewImage"]
    assert delivery.headers["vaultguard-event-id"] == event["id"] == f"evt_{audited['event_id']['S']}"
    assert verify_signature(secret, delivery.headers["vaultguard-signature"], delivery.body)
    assert not verify_signature("whsec_someone-else", delivery.headers["vaultguard-signature"], delivery.body)
    assert event["type"] == "stepup.pending" and event["created_at"] == audited["occurred_at"]["S"]
    data = event["data"]
    assert data["delegation_id"] == started.body["delegation_id"]
    assert data["auth_req_id"] == started.body["auth_req_id"]
    assert (data["requesting_tenant_id"], data["requesting_tenant_name"]) == (medicore.tenant_id, "MediCore")
    assert (data["agent_id"], data["agent_name"]) == (agent.agent_id, "buyer")
    assert (data["action"], data["binding_message"], data["purpose"]) == (ACTION, "REQ-4471", "weekly order")
    assert data["status"] == "PENDING"

    # Lambda retries the batch (a timeout, a later record failed): nothing goes out twice.
    with dynamodb_calls() as calls:
        assert deliver(records) == {"batchItemFailures": []}
    assert dict(calls) == {"BatchGetItem": 1}
    assert len(receiver.received) == 1


def test_the_stream_sends_what_the_request_path_sent(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    """Same data, type and creation time for a pending, an approved and a rejected request:
    receivers see no difference but the event id (now the audit event's)."""
    monkeypatch.setenv("VAULTGUARD_WEBHOOK_BACKOFF_MS", "10")
    with stack_with(monkeypatch) as stack:  # the request's own threads, as before
        _, natsupply, agent = world(stack)
        register(stack, natsupply, receiver.url)
        first = stack.request(agent, natsupply, ACTION, binding_message="REQ-1").body
        second = stack.request(agent, natsupply, ACTION, purpose="p").body
        stack.call("POST", f"/delegations/{first['delegation_id']}/approve", natsupply.admin_token)
        stack.call("POST", f"/delegations/{second['delegation_id']}/reject", natsupply.admin_token)
        assert stack.container.webhook_dispatcher.flush(5)
        by_thread = {(r.event["type"], r.event["data"]["delegation_id"]): r.event for r in receiver.received}
        assert len(by_thread) == 4
        receiver.received.clear()

        assert deliver() == {"batchItemFailures": []}
        by_stream = {(r.event["type"], r.event["data"]["delegation_id"]): r.event for r in receiver.received}
        stack.container.webhook_dispatcher.close()
    assert by_stream.keys() == by_thread.keys()
    for key, sent in by_stream.items():
        assert sent["data"] == by_thread[key]["data"], key
        assert sent["id"] != by_thread[key]["id"]


def test_a_retryable_failure_is_reported_and_delivered_once_on_the_retry(
    streamed: Stack, receiver: Receiver
) -> None:
    _, natsupply, agent = world(streamed)
    register(streamed, natsupply, receiver.url)
    assert streamed.request(agent, natsupply, ACTION).status == 202
    records, arn = stream_records()
    pending = audit_record(natsupply.tenant_id, "delegation.stepup_required")
    sequence = pending["dynamodb"]["SequenceNumber"]

    receiver.always_status = 503
    assert deliver(records) == {"batchItemFailures": [{"itemIdentifier": sequence}]}
    assert len(receiver.received) == STREAM_RETRY.max_attempts  # bounded, then left to Lambda
    assert len({r.headers["vaultguard-event-id"] for r in receiver.received}) == 1

    receiver.always_status = None
    receiver.received.clear()
    start = next(n for n, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == sequence)
    assert deliver(records[start:]) == {"batchItemFailures": []}  # Lambda resumes at the failure
    assert deliver(records) == {"batchItemFailures": []}
    assert [r.event["type"] for r in receiver.received] == ["stepup.pending"]


def test_an_unreachable_receiver_is_retried_by_the_batch(streamed: Stack) -> None:
    _, natsupply, agent = world(streamed)
    register(streamed, natsupply, unreachable_url())
    assert streamed.request(agent, natsupply, ACTION).status == 202
    sequence = audit_record(natsupply.tenant_id, "delegation.stepup_required")["dynamodb"]["SequenceNumber"]
    assert deliver() == {"batchItemFailures": [{"itemIdentifier": sequence}]}


@pytest.mark.parametrize("status", [400, 404, 410])
def test_a_client_error_is_not_retried(streamed: Stack, receiver: Receiver, status: int) -> None:
    _, natsupply, agent = world(streamed)
    register(streamed, natsupply, receiver.url)
    receiver.always_status = status
    assert streamed.request(agent, natsupply, ACTION).status == 202
    assert deliver() == {"batchItemFailures": []}
    assert len(receiver.received) == 1


def test_time_running_out_leaves_the_delivery_to_the_retry(streamed: Stack, receiver: Receiver) -> None:
    _, natsupply, agent = world(streamed)
    register(streamed, natsupply, receiver.url)
    assert streamed.request(agent, natsupply, ACTION).status == 202

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 4000  # less than one attempt's worst case and the safety margin

    sequence = audit_record(natsupply.tenant_id, "delegation.stepup_required")["dynamodb"]["SequenceNumber"]
    assert deliver(context=Context()) == {"batchItemFailures": [{"itemIdentifier": sequence}]}
    assert receiver.received == []
    assert deliver() == {"batchItemFailures": []}
    assert len(receiver.received) == 1


def test_decisions_are_delivered_to_the_receiving_tenant_only(
    streamed: Stack, receiver: Receiver, other: Receiver
) -> None:
    medicore, natsupply, agent = world(streamed)
    secret = register(streamed, natsupply, receiver.url)
    register(streamed, medicore, other.url)
    first = streamed.request(agent, natsupply, ACTION).body
    second = streamed.request(agent, natsupply, ACTION).body
    streamed.call("POST", f"/delegations/{first['delegation_id']}/approve", natsupply.admin_token)
    reject = f"/delegations/{second['delegation_id']}/reject"
    streamed.call("POST", reject, natsupply.admin_token, {"reason": "no"})
    assert receiver.received == []

    assert deliver() == {"batchItemFailures": []}
    seen = sorted((r.event["type"], r.event["data"]["status"]) for r in receiver.received)
    assert seen == [
        ("stepup.approved", "ACTIVE"),
        ("stepup.pending", "PENDING"),
        ("stepup.pending", "PENDING"),
        ("stepup.rejected", "REJECTED"),
    ]
    assert all(verify_signature(secret, r.headers["vaultguard-signature"], r.body) for r in receiver.received)
    assert other.received == []


def test_a_tenant_without_a_webhook_is_sent_nothing(streamed: Stack, receiver: Receiver) -> None:
    medicore, natsupply, agent = world(streamed)
    register(streamed, medicore, receiver.url)  # only the requesting side has one
    assert streamed.request(agent, natsupply, ACTION).status == 202
    records, _ = stream_records()
    with dynamodb_calls() as calls:
        assert deliver(records) == {"batchItemFailures": []}
    assert dict(calls) == {"BatchGetItem": 1}
    assert receiver.received == []


def test_an_event_moved_into_another_tenants_partition_reaches_nobody(
    streamed: Stack, receiver: Receiver, other: Receiver
) -> None:
    """A record naming another tenant (or whose partition and tenant disagree) never reaches
    that tenant's webhook: delivery follows the partition and the record found in it."""
    medicore, natsupply, agent = world(streamed)
    register(streamed, natsupply, receiver.url)
    register(streamed, medicore, other.url)
    assert streamed.request(agent, natsupply, ACTION).status == 202
    original = audit_record(natsupply.tenant_id, "delegation.stepup_required")

    moved = copy.deepcopy(original)
    image = moved["dynamodb"]["NewImage"]
    image["tenant_id"], image["pk"] = {"S": medicore.tenant_id}, {"S": f"T#{medicore.tenant_id}"}
    assert deliver([moved]) == {"batchItemFailures": []}

    mismatched = copy.deepcopy(original)
    mismatched["dynamodb"]["NewImage"]["pk"] = {"S": f"T#{medicore.tenant_id}"}
    sequence = mismatched["dynamodb"]["SequenceNumber"]
    assert deliver([mismatched]) == {"batchItemFailures": [{"itemIdentifier": sequence}]}
    assert other.received == [] and receiver.received == []


def test_a_vault_connection_needing_its_admin_is_announced(streamed: Stack, receiver: Receiver) -> None:
    """`vault.needs_reauth` from its audit event; the connection's label (free text, kept out
    of the audit log) from the connection record, absent here."""
    _, natsupply, agent = world(streamed)
    secret = register(streamed, natsupply, receiver.url)
    assert streamed.request(agent, natsupply, ACTION).status == 202
    record = copy.deepcopy(audit_record(natsupply.tenant_id, "delegation.stepup_required"))
    image = record["dynamodb"]["NewImage"]
    image["type"] = {"S": "vault.needs_reauth"}
    image["event_id"] = {"S": image["event_id"]["S"][:-4] + "VLT1"}
    for name in ("delegation_id", "counterpart_tenant_id", "action", "decision"):
        image.pop(name, None)
    image["detail"] = {
        "M": {
            "connection_id": {"S": "conn_0001"},
            "provider": {"S": "google"},
            "reason": {"S": "invalid_grant"},
        }
    }
    assert deliver([record]) == {"batchItemFailures": []}
    [delivery] = receiver.received
    assert verify_signature(secret, delivery.headers["vaultguard-signature"], delivery.body)
    assert delivery.event["type"] == "vault.needs_reauth"
    assert delivery.event["data"] == {
        "type": "vault.needs_reauth",
        "occurred_at": image["occurred_at"]["S"],
        "connection_id": "conn_0001",
        "provider": "google",
        "label": None,
        "reason": "invalid_grant",
    }


def test_the_chalice_stream_handler_is_wired(streamed: Stack, receiver: Receiver) -> None:
    _, natsupply, agent = world(streamed)
    register(streamed, natsupply, receiver.url)
    assert streamed.request(agent, natsupply, ACTION).status == 202
    records, arn = stream_records()
    sequence = audit_record(natsupply.tenant_id, "delegation.stepup_required")["dynamodb"]["SequenceNumber"]
    # chalice's local context gives an invocation 3 s: too little for an attempt's worst case,
    # so the handler (which got Lambda's context) leaves the record to the retry
    reply = streamed.client.lambda_.invoke("deliver_webhook_events", lambda_event(records, arn))
    assert reply.payload == {"batchItemFailures": [{"itemIdentifier": sequence}]}
    assert receiver.received == []


def test_the_test_delivery_stays_synchronous(streamed: Stack, receiver: Receiver) -> None:
    natsupply = streamed.tenant("NatSupply")
    register(streamed, natsupply, receiver.url)
    reply = streamed.call("POST", "/webhooks/test", natsupply.admin_token)
    assert reply.status == 200 and reply.body["delivered"] is True
    assert [r.event["type"] for r in receiver.received] == ["webhook.test"]


def test_the_local_stack_polls_the_stream_for_webhooks_at_a_position_of_its_own(
    streamed: Stack, receiver: Receiver
) -> None:
    _, natsupply, agent = world(streamed)
    register(streamed, natsupply, receiver.url)
    assert streamed.request(agent, natsupply, ACTION).status == 202
    settings = get_settings()
    poller = webhook_poller(settings)
    assert poller.mirror is None
    assert poller.poll_once() > 0
    assert [r.event["type"] for r in receiver.received] == ["stepup.pending"]
    assert poller.poll_once() == 0
    make_bucket()
    assert AuditStreamPoller(settings).poll_once() > 0, "the export's position is its own"
    assert len(receiver.received) == 1


def test_deployed_stages_deliver_from_the_stream_and_refuse_threads() -> None:
    deployed = {
        "VAULTGUARD_STAGE": "prod",
        "VAULTGUARD_SIGNER": "kms",
        "VAULTGUARD_KMS_KEY_ID": "alias/s",
        "VAULTGUARD_ENCRYPTOR": "kms",
        "VAULTGUARD_KMS_DATA_KEY_ID": "alias/d",
        "VAULTGUARD_SECRET_HASH_KEY_BLOB": "blob",
        "VAULTGUARD_ISSUER": "https://vaultguard.example.org",
    }
    assert Settings.from_env(deployed).webhook_delivery == "stream"
    with pytest.raises(ValueError, match="VAULTGUARD_WEBHOOK_DELIVERY=stream"):
        Settings.from_env({**deployed, "VAULTGUARD_WEBHOOK_DELIVERY": "thread"})
    assert Settings.from_env({}).webhook_delivery == "thread"
    assert Settings.from_env({"VAULTGUARD_WEBHOOK_DELIVERY": "stream"}).webhook_delivery == "stream"
    with pytest.raises(ValueError):
        Settings.from_env({"VAULTGUARD_WEBHOOK_DELIVERY": "lambda"})
