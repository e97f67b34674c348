"""POST /webhooks/test: the admin's "send a test delivery" reaches the tenant's receiver now,
signed like every event, and answers how the receiver responded; it is audited."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.domain.webhooks import verify_signature
from tests.functional.conftest import Stack
from tests.functional.test_round_trips import dynamodb_calls
from tests.functional.test_webhooks import Receiver, register, unreachable_url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_a_test_delivery_reaches_the_receiver_signed_and_is_reported(
    stack: Stack, receiver: Receiver
) -> None:
    nat = stack.tenant("NatSupply")
    secret = register(stack, nat, receiver.url)
    reply = stack.call("POST", "/webhooks/test", nat.admin_token)
    assert reply.status == 200, reply.body
    assert reply.body["delivered"] is True
    assert reply.body["status_code"] == 204
    assert reply.body["error"] is None
    assert reply.body["duration_ms"] >= 0

    [delivery] = receiver.received  # delivered before the answer, exactly once
    assert verify_signature(secret, delivery.headers["vaultguard-signature"], delivery.body)
    event = delivery.event
    assert event["type"] == "webhook.test"
    assert event["id"] == reply.body["event_id"] == delivery.headers["vaultguard-event-id"]
    assert event["data"]["tenant_id"] == nat.tenant_id

    [audited] = [e for e in stack.audit(nat) if e["type"] == "webhook.tested"]
    assert audited["actor"]["type"] == "admin"
    assert secret not in str(audited)


def test_a_failing_receiver_is_reported_without_retries(stack: Stack, receiver: Receiver) -> None:
    nat = stack.tenant("NatSupply")
    register(stack, nat, receiver.url)
    receiver.always_status = 500
    reply = stack.call("POST", "/webhooks/test", nat.admin_token)
    assert reply.status == 200, reply.body
    assert (reply.body["delivered"], reply.body["status_code"]) == (False, 500)
    assert "500" in reply.body["error"]
    assert len(receiver.received) == 1

    register(stack, nat, unreachable_url())
    down = stack.call("POST", "/webhooks/test", nat.admin_token)
    assert down.status == 200, down.body
    assert (down.body["delivered"], down.body["status_code"]) == (False, None)
    assert down.body["error"] == "The receiver could not be reached."


def test_without_a_webhook_the_answer_is_404_and_only_admins_may_test(
    stack: Stack, receiver: Receiver
) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(nat)
    register(stack, nat, receiver.url)
    missing = stack.call("POST", "/webhooks/test", med.admin_token)  # NatSupply's webhook is not MediCore's
    assert missing.status == 404 and missing.body["error"] == "not_found"
    assert stack.call("POST", "/webhooks/test", agent.token).status == 403
    assert stack.call("POST", "/webhooks/test", stack.platform_token).status == 403
    assert stack.call("POST", "/webhooks/test", None).status == 401
    assert receiver.received == []
    assert not [e for e in stack.audit(med) if e["type"] == "webhook.tested"]


def test_a_private_address_stays_refused_outside_the_local_stage(stack: Stack, receiver: Receiver) -> None:
    nat = stack.tenant("NatSupply")
    register(stack, nat, receiver.url)  # allowed on the local stage
    from chalicelib.services.webhook_delivery import WebhookDispatcher

    stack.container.webhooks._dispatcher = WebhookDispatcher(allow_private=False)  # as in production
    reply = stack.call("POST", "/webhooks/test", nat.admin_token)
    assert reply.status == 200, reply.body
    assert reply.body["delivered"] is False and reply.body["status_code"] is None
    assert "not allowed" in reply.body["error"]
    assert receiver.received == []


def test_a_test_delivery_costs_two_round_trips(stack: Stack, receiver: Receiver) -> None:
    nat = stack.tenant("NatSupply")
    register(stack, nat, receiver.url)
    with dynamodb_calls() as calls:
        assert stack.call("POST", "/webhooks/test", nat.admin_token).status == 200
    assert sum(calls.values()) <= 2, dict(calls)
