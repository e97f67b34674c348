"""WebhookDispatcher without a network: retries, backoff, signatures, a full queue, close."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from chalicelib.domain.webhooks import verify_signature
from chalicelib.services.webhook_delivery import Delivery, RetryPolicy, WebhookDispatcher
from tests.unit.test_webhook_safe_http import Server

SECRET = "whsec_unit"


@dataclass
class FakeResponse:
    status_code: int

    def close(self) -> None:
        return None


@dataclass
class FakePost:
    """Answers from a script: an int is a status, an exception class is raised."""

    script: list[Any]
    calls: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def __call__(self, url: str, **kwargs: Any) -> FakeResponse:
        self.calls.append({"url": url, **kwargs})
        self.times.append(time.monotonic())
        answer = self.script[min(len(self.calls), len(self.script)) - 1]
        if isinstance(answer, type) and issubclass(answer, BaseException):
            raise answer("scripted")
        return FakeResponse(int(answer))


def delivery(n: int = 1) -> Delivery:
    return Delivery("tnt_1", "http://hooks.test/h", f"evt_{n}", "stepup.pending", b'{"n":%d}' % n, SECRET)


def run(script: list[Any], policy: RetryPolicy | None = None) -> FakePost:
    post = FakePost(script)
    dispatcher = WebhookDispatcher(policy or RetryPolicy(backoff_base=0.01), post=post)
    try:
        assert dispatcher.submit(delivery())
        assert dispatcher.flush(5)
    finally:
        dispatcher.close()
    return post


@pytest.mark.parametrize(
    ("script", "attempts"),
    [
        ([204], 1),
        ([200], 1),
        ([500, 502, 200], 3),
        ([429, 200], 2),
        ([requests.ConnectionError, requests.Timeout, 202], 3),
        ([500], 4),
        ([requests.ConnectionError], 4),
        ([400], 1),
        ([401], 1),
        ([404], 1),
        ([301], 1),
        ([500, 403], 2),
        ([requests.exceptions.InvalidURL], 1),
    ],
)
def test_retries_only_connection_errors_5xx_and_429(script: list[Any], attempts: int) -> None:
    assert len(run(script).calls) == attempts


def test_every_attempt_is_signed_and_carries_the_same_event() -> None:
    post = run([500, 500, 204])
    for call in post.calls:
        headers = call["headers"]
        assert headers["Content-Type"] == "application/json"
        assert headers["VaultGuard-Event-Id"] == "evt_1"
        assert verify_signature(SECRET, headers["VaultGuard-Signature"], call["data"])
        assert call["timeout"] == 3.0 and call["allow_redirects"] is False
        assert call["data"] == b'{"n":1}'


def test_backoff_doubles() -> None:
    post = run([500], RetryPolicy(backoff_base=0.05))
    gaps = [b - a for a, b in zip(post.times, post.times[1:], strict=False)]
    assert len(gaps) == 3
    for gap, expected in zip(gaps, (0.05, 0.1, 0.2), strict=True):
        assert expected <= gap < expected + 0.15


def test_the_default_policy() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.timeout) == (4, 3.0)
    assert [policy.delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_submit_never_waits_and_a_full_queue_drops() -> None:
    release, started = threading.Event(), threading.Event()

    def blocking_post(url: str, **kwargs: Any) -> FakeResponse:
        started.set()
        release.wait(5)
        return FakeResponse(204)

    dispatcher = WebhookDispatcher(workers=1, queue_size=1, post=blocking_post)
    try:
        assert dispatcher.submit(delivery(1))
        assert started.wait(5)  # the worker holds the first one
        began = time.monotonic()
        assert dispatcher.submit(delivery(2))  # queued
        assert not dispatcher.submit(delivery(3))  # the queue is full: dropped
        assert time.monotonic() - began < 0.1
        assert not dispatcher.flush(0.05)
        release.set()
        assert dispatcher.flush(5)
    finally:
        release.set()
        dispatcher.close()


def test_close_abandons_retries_promptly_and_refuses_new_work() -> None:
    post = FakePost([500])
    dispatcher = WebhookDispatcher(RetryPolicy(backoff_base=30), post=post)
    assert dispatcher.submit(delivery())
    deadline = time.monotonic() + 5
    while not post.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    began = time.monotonic()
    dispatcher.close()
    assert time.monotonic() - began < 2
    assert len(post.calls) == 1
    assert dispatcher.flush(0)
    assert not dispatcher.submit(delivery(2))


def test_a_crashing_transport_is_contained() -> None:
    def broken(url: str, **kwargs: Any) -> Any:
        raise RuntimeError("bug")

    dispatcher = WebhookDispatcher(post=broken)
    try:
        assert dispatcher.submit(delivery())
        assert dispatcher.flush(5)
        assert dispatcher.submit(delivery(2)) and dispatcher.flush(5)  # the worker survived
    finally:
        dispatcher.close()


class Resolver:
    """getaddrinfo-shaped stub: every name resolves to `address`."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.calls: list[str] = []

    def __call__(self, host: str, port: int, *args: Any) -> list[tuple[Any, ...]]:
        self.calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.address, port))]


@pytest.mark.parametrize("address", ["10.0.0.1", "127.0.0.1", "169.254.169.254"])
def test_a_webhook_resolving_inward_is_refused_and_not_retried(address: str) -> None:
    resolver = Resolver(address)
    dispatcher = WebhookDispatcher(RetryPolicy(backoff_base=0.01), resolver=resolver)
    try:
        assert dispatcher.submit(
            Delivery("tnt_1", "https://hooks.example/h", "evt_1", "stepup.pending", b"{}", SECRET)
        )
        assert dispatcher.flush(5)
    finally:
        dispatcher.close()
    assert resolver.calls == ["hooks.example"]  # one attempt: a refusal is final


def test_a_literal_inward_address_is_refused_unless_private_receivers_are_allowed() -> None:
    """The default transport is the guarded one; only the local stage opts into loopback."""
    server = Server()
    url = f"http://0x7f000001:{server.port}/h"
    try:
        for allow_private, expected in ((False, 0), (True, 1)):
            dispatcher = WebhookDispatcher(allow_private=allow_private)
            try:
                assert dispatcher.submit(Delivery("tnt_1", url, "evt_1", "stepup.pending", b"{}", SECRET))
                assert dispatcher.flush(5)
            finally:
                dispatcher.close()
            assert len(server.hosts) == expected
    finally:
        server.close()
