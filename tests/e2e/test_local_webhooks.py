"""`make run` delivers step-up webhooks as a deployment does: from the audit stream (its
poller stands in for the Lambda trigger), not from the request's threads."""

from __future__ import annotations

import time

import requests

from chalicelib.domain.webhooks import verify_signature
from tests.e2e.conftest import LocalServer
from tests.e2e.test_local_server import admin_token, agent_token, request_delegation
from tests.functional.test_webhooks import Receiver


def test_a_step_up_request_reaches_the_webhook_through_the_stream(server: LocalServer) -> None:
    receiver = Receiver()
    try:
        natsupply = {"Authorization": f"Bearer {admin_token(server, 'natsupply')}"}
        hook = {"url": receiver.url}
        put = requests.put(f"{server.url}/webhooks", json=hook, headers=natsupply, timeout=10)
        assert put.status_code in (200, 201), put.text
        secret = put.json()["secret"]

        started = time.monotonic()
        pending = request_delegation(server, agent_token(server), "requisition.submit")
        assert pending.status_code == 202, pending.text
        [delivery] = receiver.wait_for(1, timeout=20)  # the poller runs every 3 s
        assert time.monotonic() - started < 20
    finally:
        receiver.close()
    assert verify_signature(secret, delivery.headers["vaultguard-signature"], delivery.body)
    event = delivery.event
    assert event["type"] == "stepup.pending"
    assert event["data"]["delegation_id"] == pending.json()["delegation_id"]
    audit = requests.get(f"{server.url}/audit?type=delegation.stepup_required", headers=natsupply, timeout=10)
    ids = {f"evt_{e['event_id']}" for e in audit.json()["events"]}
    assert event["id"] == delivery.headers["vaultguard-event-id"] and event["id"] in ids
