"""Step-up webhooks end to end: registration through the API, signed deliveries to a real
HTTP receiver on 127.0.0.1, retries, and failures that never touch the API's answers."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from chalicelib.crypto import DecryptionFailed
from chalicelib.domain.webhooks import verify_signature
from chalicelib.services.webhook_delivery import RetryPolicy, WebhookDispatcher
from tests.functional.conftest import Agent, Stack, Tenant

ACTION = "requisition.submit"


@dataclasses.dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver:
    """A webhook endpoint: records every POST; can fail the first N, fail always, or stall."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.fail_first = 0
        self.fail_status = 500
        self.always_status: int | None = None
        self.delay = 0.0
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(receiver.delay)
                with receiver._cond:
                    receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                    n = len(receiver.received)
                    receiver._cond.notify_all()
                status = receiver.always_status or (receiver.fail_status if n <= receiver.fail_first else 204)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/vaultguard"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"expected {count} deliveries, got {len(self.received)}"
                self._cond.wait(remaining)
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def unreachable_url() -> str:
    """A port on 127.0.0.1 that nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff of 10 ms so that retry tests take milliseconds (autouse: set before `stack`)."""
    monkeypatch.setenv("VAULTGUARD_WEBHOOK_BACKOFF_MS", "10")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def dispatcher(stack: Stack) -> Iterator[WebhookDispatcher]:
    d = stack.container.webhook_dispatcher
    yield d
    d.close()


def world(stack: Stack) -> tuple[Tenant, Tenant, Agent]:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore, "buyer")
    stack.policy(natsupply, ACTION, "STEP_UP", medicore)
    return medicore, natsupply, agent


def register(stack: Stack, tenant: Tenant, url: str) -> str:
    reply = stack.call("PUT", "/webhooks", tenant.admin_token, {"url": url})
    assert reply.status in (200, 201), reply.body
    return str(reply.body["secret"])


def raw_item(stack: Stack, tenant: Tenant) -> dict[str, Any] | None:
    answer = boto3.client("dynamodb").get_item(
        TableName=stack.container.settings.table_name,
        Key={"pk": {"S": f"T#{tenant.tenant_id}"}, "sk": {"S": "WEBHOOK"}},
        ConsistentRead=True,
    )
    return answer.get("Item")


# -- registration ----------------------------------------------------------------------------


def test_the_secret_is_shown_once_and_stored_only_encrypted(stack: Stack) -> None:
    natsupply = stack.tenant("NatSupply")
    assert stack.call("GET", "/webhooks", natsupply.admin_token).status == 404

    created = stack.call("PUT", "/webhooks", natsupply.admin_token, {"url": "https://hooks.example/vg"})
    assert created.status == 201, created.body
    assert set(created.body) == {"url", "secret", "created_at"}
    secret = created.body["secret"]
    assert secret.startswith("whsec_") and len(secret) >= 6 + 43
    assert created.headers.get("Cache-Control") == "no-store"

    shown = stack.call("GET", "/webhooks", natsupply.admin_token)
    assert shown.status == 200
    assert shown.body == {"url": "https://hooks.example/vg", "created_at": created.body["created_at"]}

    item = raw_item(stack, natsupply)
    assert item is not None
    assert secret not in json.dumps(item) and secret[6:] not in json.dumps(item)
    blob = item["secret_ciphertext"]["S"]
    encryptor = stack.container.encryptor
    assert encryptor.decrypt(blob, {"tenant_id": natsupply.tenant_id}).decode() == secret
    with pytest.raises(DecryptionFailed):
        encryptor.decrypt(blob, {"tenant_id": "tnt_" + "0" * 20})

    replaced = stack.call("PUT", "/webhooks", natsupply.admin_token, {"url": "https://hooks.example/v2"})
    assert replaced.status == 200 and replaced.body["secret"] != secret
    assert stack.call("GET", "/webhooks", natsupply.admin_token).body["url"] == "https://hooks.example/v2"

    deleted = stack.call("DELETE", "/webhooks", natsupply.admin_token)
    assert (deleted.status, deleted.body) == (200, {"deleted": True})
    assert stack.call("GET", "/webhooks", natsupply.admin_token).status == 404
    assert stack.call("DELETE", "/webhooks", natsupply.admin_token).status == 404
    assert raw_item(stack, natsupply) is None


def test_registration_is_audited_without_secrets_or_url_credentials(stack: Stack) -> None:
    natsupply = stack.tenant("NatSupply")
    with_credentials = stack.call(
        "PUT", "/webhooks", natsupply.admin_token, {"url": "https://alice:hunter2@hooks.example/vg"}
    )
    assert with_credentials.status == 400 and "credentials" in with_credentials.body["error_description"]
    url = "https://hooks.example:8443/vg?token=sesame"
    secret = register(stack, natsupply, url)
    assert stack.call("GET", "/webhooks", natsupply.admin_token).body["url"] == url
    stack.call("DELETE", "/webhooks", natsupply.admin_token)

    events = [e for e in stack.audit(natsupply) if e["type"].startswith("webhook.")]
    assert [e["type"] for e in events] == ["webhook.deleted", "webhook.updated"]
    assert all(e["detail"]["url"] == "https://hooks.example:8443/vg" for e in events)
    assert events[0]["actor"]["type"] == "admin"
    text = json.dumps(events)
    for leaked in (secret, "sesame"):
        assert leaked not in text


BAD_URLS: list[object] = [
    "ftp://hooks.example/vg",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "hooks.example/vg",
    "http://",
    "https:///only-a-path",
    "http://hooks.example:99999/",
    "http://hooks .example/",
    "http://hooks.example/\n",
    "https://hooks.example/#fragment",
    "https://hooks.example/" + "a" * 2027,
    "",
    42,
    None,
    ["https://hooks.example/"],
]


def test_bad_urls_are_refused_and_change_nothing(stack: Stack, subtests: pytest.Subtests) -> None:
    natsupply = stack.tenant("NatSupply")
    for url in BAD_URLS:
        with subtests.test(url=str(url)[:40]):
            reply = stack.call("PUT", "/webhooks", natsupply.admin_token, {"url": url})
            assert (reply.status, reply.body["error"]) == (400, "invalid_request"), reply.body
            assert reply.body["error_description"]
            assert stack.call("GET", "/webhooks", natsupply.admin_token).status == 404


def test_body_shape_is_checked(stack: Stack) -> None:
    natsupply = stack.tenant("NatSupply")
    for body, raw in (({}, None), ({"url": "https://h.example/", "secret": "mine"}, None), (None, "{")):
        reply = stack.call("PUT", "/webhooks", natsupply.admin_token, body, raw=raw)
        assert reply.status == 400, reply.body
    assert len("https://hooks.example/" + "a" * 2026) == 2048
    assert (
        stack.call(
            "PUT", "/webhooks", natsupply.admin_token, {"url": "https://hooks.example/" + "a" * 2026}
        ).status
        == 201
    )


@pytest.mark.parametrize("stage", ["prod", "staging"])
def test_every_stage_but_local_requires_https_to_a_public_host(stack: Stack, stage: str) -> None:
    natsupply = stack.tenant("NatSupply")
    container = stack.container
    container.settings = dataclasses.replace(container.settings, stage=stage)
    container.__dict__.pop("webhooks", None)
    for url in (
        "http://hooks.example/vg",
        "https://127.0.0.1/vg",
        "https://localhost/vg",
        "https://10.0.0.8/",
        *INWARD_SPELLINGS,
    ):
        reply = stack.call("PUT", "/webhooks", natsupply.admin_token, {"url": url})
        assert reply.status == 400, (url, reply.body)
        assert "public host" in reply.body["error_description"] or url.startswith("http:")
        assert stack.call("GET", "/webhooks", natsupply.admin_token).status == 404
    assert (
        stack.call("PUT", "/webhooks", natsupply.admin_token, {"url": "https://hooks.example/vg"}).status
        == 201
    )


INWARD_SPELLINGS = (
    "https://127.1/vg",
    "https://0x7f000001/vg",
    "https://2130706433/vg",
    "https://0177.0.0.1/vg",
    "https://0/vg",
    "https://[::ffff:127.0.0.1]/vg",
    "https://[fe80::1%25eth0]/vg",
    "https://0xa9fea9fe/latest/meta-data/",
    "https://localhost./vg",
    "https://hooks.localhost/vg",
    "https://metadata.google.internal/computeMetadata/v1/",
)


class StubResolver:
    """getaddrinfo-shaped: every name resolves to `address`; no DNS is asked."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.calls: list[str] = []

    def __call__(self, host: str, port: int, *args: Any) -> list[tuple[Any, ...]]:
        self.calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.address, port))]


def test_prod_never_delivers_to_a_registered_name_that_resolves_inward(
    stack: Stack, receiver: Receiver
) -> None:
    """A public name accepted at registration can resolve to the inside later (nip.io,
    rebinding): delivery checks the address it would connect to, and refuses once."""
    _, natsupply, agent = world(stack)
    container = stack.container
    container.settings = dataclasses.replace(container.settings, stage="prod")
    container.__dict__.pop("webhooks", None)
    port = receiver.url.split(":")[2].split("/")[0]
    register(stack, natsupply, f"https://127.0.0.1.nip.io:{port}/hooks/vaultguard")
    resolver = StubResolver("127.0.0.1")  # where the receiver actually listens
    prod = WebhookDispatcher(RetryPolicy(backoff_base=0.01), resolver=resolver)
    container.notifier.dispatcher = prod  # type: ignore[attr-defined]
    try:
        assert stack.request(agent, natsupply, ACTION).status == 202
        assert prod.flush(5)
    finally:
        prod.close()
    assert resolver.calls == ["127.0.0.1.nip.io"]
    assert receiver.received == []


def test_locally_a_receiver_is_reached_by_name_at_the_address_resolved(
    stack: Stack, receiver: Receiver
) -> None:
    """The local stage's dispatcher resolves once and dials that address; the Host header
    still names the host of the registered URL."""
    _, natsupply, agent = world(stack)
    port = receiver.url.split(":")[2].split("/")[0]
    secret = register(stack, natsupply, f"http://receiver.test:{port}/hooks/vaultguard")
    resolver = StubResolver("127.0.0.1")
    local = WebhookDispatcher(RetryPolicy(backoff_base=0.01), allow_private=True, resolver=resolver)
    stack.container.notifier.dispatcher = local  # type: ignore[attr-defined]
    try:
        assert stack.request(agent, natsupply, ACTION).status == 202
        [delivery] = receiver.wait_for(1)
        assert local.flush(5)
    finally:
        local.close()
    assert resolver.calls == ["receiver.test"]
    assert delivery.headers["host"] == f"receiver.test:{port}"
    assert verify_signature(secret, delivery.headers["vaultguard-signature"], delivery.body)


def test_only_an_admin_manages_only_its_own_tenants_webhook(stack: Stack, receiver: Receiver) -> None:
    medicore, natsupply, agent = world(stack)
    nat_secret = register(stack, natsupply, receiver.url)
    assert stack.call("GET", "/webhooks", medicore.admin_token).status == 404
    assert stack.call("DELETE", "/webhooks", medicore.admin_token).status == 404
    assert stack.call("GET", "/webhooks", natsupply.admin_token).body["url"] == receiver.url

    register(stack, medicore, "https://medicore.example/hook")
    assert stack.call("GET", "/webhooks", medicore.admin_token).body["url"] == "https://medicore.example/hook"
    assert stack.call("GET", "/webhooks", natsupply.admin_token).body["url"] == receiver.url
    assert stack.call("DELETE", "/webhooks", medicore.admin_token).status == 200
    shown = stack.call("GET", "/webhooks", natsupply.admin_token)
    assert (
        shown.status == 200 and shown.body["url"] == receiver.url and nat_secret not in json.dumps(shown.body)
    )

    for method, body in (("PUT", {"url": "https://evil.example/"}), ("GET", None), ("DELETE", None)):
        assert stack.call(method, "/webhooks", agent.token, body).status == 403
        assert stack.call(method, "/webhooks", stack.platform_token, body).status == 403
        assert stack.call(method, "/webhooks", None, body).status == 401
    assert stack.call("GET", "/webhooks", natsupply.admin_token).body["url"] == receiver.url


# -- delivery --------------------------------------------------------------------------------


def test_a_step_up_request_delivers_a_signed_pending_event(
    stack: Stack, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    medicore, natsupply, agent = world(stack)
    secret = register(stack, natsupply, receiver.url)
    started = stack.request(agent, natsupply, ACTION, purpose="weekly order", binding_message="REQ-4471")
    assert started.status == 202, started.body

    [delivery] = receiver.wait_for(1)
    assert dispatcher.flush(5) and len(receiver.received) == 1
    headers, event = delivery.headers, delivery.event
    assert headers["content-type"] == "application/json"
    assert headers["vaultguard-event-id"] == event["id"] and event["id"].startswith("evt_")
    signature = headers["vaultguard-signature"]
    assert verify_signature(secret, signature, delivery.body)
    assert not verify_signature("whsec_someone-else", signature, delivery.body)
    assert not verify_signature(secret, signature, delivery.body.replace(b"REQ-4471", b"REQ-9999"))
    assert abs(int(signature.split(",")[0].removeprefix("t=")) - time.time()) < 30

    assert event["type"] == "stepup.pending" and set(event) == {"id", "type", "created_at", "data"}
    data = event["data"]
    assert data["delegation_id"] == started.body["delegation_id"]
    assert data["auth_req_id"] == started.body["auth_req_id"]
    assert (data["requesting_tenant_id"], data["requesting_tenant_name"]) == (medicore.tenant_id, "MediCore")
    assert (data["agent_id"], data["agent_name"]) == (agent.agent_id, "buyer")
    assert (data["action"], data["binding_message"], data["purpose"]) == (ACTION, "REQ-4471", "weekly order")
    assert data["status"] == "PENDING"


def test_decisions_are_delivered_and_each_event_only_once(
    stack: Stack, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    _, natsupply, agent = world(stack)
    secret = register(stack, natsupply, receiver.url)
    first = stack.request(agent, natsupply, ACTION, binding_message="REQ-1").body
    second = stack.call(
        "POST",
        "/stepup/initiate",
        agent.token,
        {"receiving_tenant_id": natsupply.tenant_id, "action": ACTION},
    ).body
    approved = stack.call("POST", f"/delegations/{first['delegation_id']}/approve", natsupply.admin_token)
    rejected = stack.call(
        "POST", f"/delegations/{second['delegation_id']}/reject", natsupply.admin_token, {"reason": "no"}
    )
    assert (approved.status, rejected.status) == (200, 200)

    receiver.wait_for(4)
    assert dispatcher.flush(5)
    seen = sorted((r.event["type"], r.event["data"]["delegation_id"]) for r in receiver.received)
    assert seen == sorted(
        [
            ("stepup.pending", first["delegation_id"]),
            ("stepup.pending", second["delegation_id"]),
            ("stepup.approved", first["delegation_id"]),
            ("stepup.rejected", second["delegation_id"]),
        ]
    )
    by_type = {r.event["type"]: r for r in receiver.received}
    assert by_type["stepup.approved"].event["data"]["status"] == "ACTIVE"
    assert by_type["stepup.rejected"].event["data"]["status"] == "REJECTED"
    assert all(verify_signature(secret, r.headers["vaultguard-signature"], r.body) for r in receiver.received)
    assert len({r.event["id"] for r in receiver.received}) == 4


def test_an_idempotent_replay_is_not_announced_again(
    stack: Stack, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    _, natsupply, agent = world(stack)
    register(stack, natsupply, receiver.url)
    headers = {"idempotency-key": "order-0001-attempt"}
    body = {"receiving_tenant_id": natsupply.tenant_id, "action": ACTION}
    first = stack.call("POST", "/delegations/request", agent.token, body, headers)
    again = stack.call("POST", "/delegations/request", agent.token, body, headers)
    assert first.status == again.status == 202
    assert first.body["delegation_id"] == again.body["delegation_id"]
    assert dispatcher.flush(5)
    assert [r.event["type"] for r in receiver.received] == ["stepup.pending"]


def test_only_the_receiving_tenants_webhook_is_called(
    stack: Stack, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    medicore, natsupply, agent = world(stack)
    other = Receiver()
    try:
        register(stack, medicore, other.url)
        register(stack, natsupply, receiver.url)
        assert stack.request(agent, natsupply, ACTION).status == 202
        receiver.wait_for(1)
        assert dispatcher.flush(5)
        assert other.received == []
    finally:
        other.close()


def test_a_tenant_without_a_webhook_gets_nothing_and_the_request_is_unchanged(
    stack: Stack, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    _, natsupply, agent = world(stack)
    assert stack.request(agent, natsupply, ACTION).status == 202
    assert dispatcher.flush(1) and receiver.received == []


@pytest.mark.parametrize("status", [500, 503, 429])
def test_retries_after_server_errors_then_succeeds(
    stack: Stack, receiver: Receiver, dispatcher: WebhookDispatcher, status: int
) -> None:
    _, natsupply, agent = world(stack)
    secret = register(stack, natsupply, receiver.url)
    receiver.fail_first, receiver.fail_status = 2, status
    assert stack.request(agent, natsupply, ACTION).status == 202
    attempts = receiver.wait_for(3)
    assert dispatcher.flush(5) and len(receiver.received) == 3
    assert len({a.headers["vaultguard-event-id"] for a in attempts}) == 1
    assert len({a.body for a in attempts}) == 1
    assert all(verify_signature(secret, a.headers["vaultguard-signature"], a.body) for a in attempts)


def test_a_receiver_that_always_fails_gets_four_attempts(
    stack: Stack, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    _, natsupply, agent = world(stack)
    register(stack, natsupply, receiver.url)
    receiver.always_status = 500
    assert stack.request(agent, natsupply, ACTION).status == 202
    assert dispatcher.flush(10)
    assert len(receiver.received) == 4


@pytest.mark.parametrize("status", [400, 404])
def test_client_errors_are_not_retried(
    stack: Stack, receiver: Receiver, dispatcher: WebhookDispatcher, status: int
) -> None:
    _, natsupply, agent = world(stack)
    register(stack, natsupply, receiver.url)
    receiver.always_status = status
    assert stack.request(agent, natsupply, ACTION).status == 202
    assert dispatcher.flush(5)
    assert len(receiver.received) == 1


@pytest.mark.parametrize("failure", ["unreachable", "always 500", "stalls 2 s"])
def test_a_failing_receiver_neither_delays_nor_changes_the_answers(
    stack: Stack, receiver: Receiver, dispatcher: WebhookDispatcher, failure: str
) -> None:
    _, natsupply, agent = world(stack)
    baseline = stack.request(agent, natsupply, ACTION)  # no webhook yet

    url = unreachable_url() if failure == "unreachable" else receiver.url
    receiver.always_status = 500 if failure == "always 500" else None
    receiver.delay = 2.0 if failure.startswith("stalls") else 0.0
    register(stack, natsupply, url)
    dispatcher.policy = RetryPolicy(backoff_base=2.0)  # 2 + 4 + 8 s of backoff if it blocked

    started = time.monotonic()
    reply = stack.request(agent, natsupply, ACTION, binding_message="REQ-2")
    elapsed = time.monotonic() - started
    assert reply.status == baseline.status == 202
    assert set(reply.body) == set(baseline.body)
    assert elapsed < 1.5, f"the request took {elapsed:.2f} s"
    assert not dispatcher.flush(0.2)  # the delivery is still being retried (or stalled) meanwhile

    started = time.monotonic()
    decided = stack.call("POST", f"/delegations/{reply.body['delegation_id']}/approve", natsupply.admin_token)
    assert decided.status == 200 and decided.body["status"] == "ACTIVE"
    assert time.monotonic() - started < 1.5


def test_an_unreadable_stored_secret_is_logged_not_raised(
    stack: Stack, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    _, natsupply, agent = world(stack)
    register(stack, natsupply, receiver.url)
    boto3.client("dynamodb").update_item(
        TableName=stack.container.settings.table_name,
        Key={"pk": {"S": f"T#{natsupply.tenant_id}"}, "sk": {"S": "WEBHOOK"}},
        UpdateExpression="SET secret_ciphertext = :bad",
        ExpressionAttributeValues={":bad": {"S": "v1.local.AAAA.BBBB"}},
    )
    reply = stack.request(agent, natsupply, ACTION)
    assert reply.status == 202, reply.body
    approved = stack.call(
        "POST", f"/delegations/{reply.body['delegation_id']}/approve", natsupply.admin_token
    )
    assert approved.status == 200
    assert dispatcher.flush(1) and receiver.received == []
