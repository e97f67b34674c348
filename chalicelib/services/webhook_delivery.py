"""Signed webhook deliveries: one attempt (`attempt`), shared by every path, and the
`WebhookDispatcher`: a bounded queue and a few daemon threads that POST, retry with
exponential backoff, and never block or fail the request that queued.

The dispatcher serves the admin's synchronous test delivery (`send_once`) everywhere, and
step-up/vault events only where `VAULTGUARD_WEBHOOK_DELIVERY=thread` (the in-process test
stack). Deployed stages deliver those from the audit table's stream instead
(chalicelib/jobs/webhook_delivery.py): Lambda freezes a container's threads once the response
is returned, so nothing on a request path may wait for them.

Every attempt goes through `PinnedPoster` (services/safe_http.py): the host is resolved
once, refused when any address is not public (unless `allow_private`, the local stage),
and the connection goes to the checked address. A refused destination is not retried.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import requests

from chalicelib.domain.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, redact_url, sign
from chalicelib.observability import logger
from chalicelib.services.safe_http import PinnedPoster, Resolver, UnsafeDestination

USER_AGENT = "VaultGuard-Webhooks/1"
EXIT_FLUSH_SECONDS = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and waits: with the defaults, tries at 0, 0.5, 1.5 and 3.5 s (plus timeouts)."""

    max_attempts: int = 4
    backoff_base: float = 0.5
    timeout: float = 3.0

    def delay(self, failed_attempt: int) -> float:
        return self.backoff_base * 2 ** (failed_attempt - 1)


@dataclass(frozen=True)
class Delivery:
    tenant_id: str
    url: str
    event_id: str
    event_type: str
    body: bytes
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Outcome:
    """One attempt's result, as a test delivery reports it to the admin."""

    delivered: bool
    status_code: int | None
    error: str | None
    duration_ms: float


class Result(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # worth another attempt: no connection, a timeout, 5xx or 429
    FAILED = "failed"  # never retried: a refused destination, another 4xx, a bad URL



Post = Callable[..., Any]


class WebhookDispatcher:
    """Queues deliveries for worker threads (started on first use). A full queue drops the
    event with a warning; `flush` waits for what is queued or in flight. `allow_private`
    lets the local stage reach loopback and LAN receivers; `resolver` replaces
    `socket.getaddrinfo`; `post` replaces the whole transport (tests)."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        workers: int = 4,
        queue_size: int = 1000,
        post: Post | None = None,
        allow_private: bool = False,
        resolver: Resolver | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._queue: queue.Queue[Delivery] = queue.Queue(maxsize=queue_size)
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._stop = threading.Event()
        self._post: Post = post or PinnedPoster(allow_private=allow_private, resolver=resolver)

    def submit(self, delivery: Delivery) -> bool:
        """Queue `delivery` without waiting; False when it was dropped."""
        if self._stop.is_set():
            logger.warning("webhook dispatcher closed; event dropped", extra=fields(delivery))
            return False
        self._start()
        with self._lock:
            self._pending += 1
        try:
            self._queue.put_nowait(delivery)
        except queue.Full:
            self._done()
            logger.warning("webhook queue full; event dropped", extra=fields(delivery))
            return False
        return True

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for queued and in-flight deliveries; True if none is left."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self, timeout: float = 0.0) -> None:
        """Flush for up to `timeout`, then abandon retries, drop what is queued and stop."""
        if timeout > 0:
            self.flush(timeout)
        self._stop.set()
        atexit.unregister(self._at_exit)
        dropped = 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
            dropped += 1
            self._done()
        if dropped:
            logger.warning("webhook dispatcher closed with events queued", extra={"dropped": dropped})
        for thread in self._threads:
            thread.join(timeout=self.policy.timeout + 1)

    # -- workers ---------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._threads:
                return
            for n in range(self._workers):
                thread = threading.Thread(target=self._run, name=f"vaultguard-webhook-{n}", daemon=True)
                thread.start()
                self._threads.append(thread)
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        """The embedded server's shutdown: give queued deliveries a few seconds."""
        self.close(EXIT_FLUSH_SECONDS)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivery = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._deliver(delivery)
            except Exception:
                logger.exception("webhook delivery crashed", extra=fields(delivery))
            finally:
                self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def send_once(self, delivery: Delivery) -> Outcome:
        """One attempt now, on the caller's thread, without retries: the admin's "send a test
        delivery", through the same pinned transport and SSRF checks as every delivery."""
        started = time.perf_counter()
        result, detail = self._attempt(delivery)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        status = int(detail) if detail.isdigit() else None
        logger.info("webhook test delivery", extra={**fields(delivery), "detail": detail})
        if result is Result.DELIVERED:
            return Outcome(True, status, None, duration_ms)
        error = f"The receiver answered {status}." if status is not None else _describe(detail)
        return Outcome(False, status, error, duration_ms)

    def _deliver(self, delivery: Delivery) -> None:
        policy = self.policy
        for n in range(1, policy.max_attempts + 1):
            result, detail = self._attempt(delivery)
            extra = {**fields(delivery), "attempt": n, "detail": detail}
            if result is Result.DELIVERED:
                logger.info("webhook delivered", extra=extra)
                return
            if result is Result.FAILED:
                logger.warning("webhook refused; not retried", extra=extra)
                return
            if n == policy.max_attempts:
                logger.warning("webhook delivery failed; giving up", extra=extra)
                return
            logger.info("webhook delivery failed; will retry", extra=extra)
            if self._stop.wait(policy.delay(n)):
                logger.warning("webhook delivery abandoned at shutdown", extra=extra)
                return

    def _attempt(self, delivery: Delivery) -> tuple[Result, str]:
        return attempt(self._post, delivery, self.policy.timeout)


def attempt(post: Post, delivery: Delivery, timeout: float) -> tuple[Result, str]:
    """One signed POST of `delivery` (a fresh signature timestamp each time); the result and
    a detail for the log: the HTTP status, or the name of the failure."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: delivery.event_id,
        SIGNATURE_HEADER: sign(delivery.secret, delivery.body),
    }
    try:
        response = post(
            delivery.url,
            data=delivery.body,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,  # the receiver's answer body is never read
        )
    except UnsafeDestination as exc:
        return Result.FAILED, f"UnsafeDestination: {exc}"
    except (requests.ConnectionError, requests.Timeout) as exc:
        return Result.RETRY, type(exc).__name__
    except requests.RequestException as exc:
        return Result.FAILED, type(exc).__name__
    status = int(response.status_code)
    response.close()
    if 200 <= status < 300:
        return Result.DELIVERED, str(status)
    if status >= 500 or status == 429:
        return Result.RETRY, str(status)
    return Result.FAILED, str(status)


def fields(delivery: Delivery) -> dict[str, Any]:
    return {
        "tenant_id": delivery.tenant_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "webhook": redact_url(delivery.url),
    }


def _describe(detail: str) -> str:
    """What the admin is told about a failure without an HTTP status (no internals)."""
    if detail.startswith("UnsafeDestination"):
        return "The webhook's address is not allowed (it resolves to a private or reserved address)."
    if detail == "Timeout" or detail.endswith("Timeout"):
        return "The receiver did not answer in time."
    if detail == "ConnectionError":
        return "The receiver could not be reached."
    return f"The delivery failed ({detail})."
