"""What the sync and the async client share: no I/O here, only decisions about replies.

Error mapping, reply parsing, retry and backoff rules, the API-token cache entry and the
CIBA poll schedule are plain functions and classes, so `_client.py` (requests) and
`_async_client.py` (httpx) differ only in how they send and how they sleep.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import jwt

from ._errors import (
    AuthenticationFailed,
    DelegationBlocked,
    RateLimited,
    ServiceUnavailable,
    StepUpExpired,
    StepUpRejected,
    StepUpTimeout,
    VaultGuardError,
)
from ._models import Delegation, PendingDelegation

CIBA_GRANT_TYPE = "urn:openid:params:grant-type:ciba"
JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # federated agents (RFC 7523 §2.1)
SLOW_DOWN_INCREMENT = 5  # CIBA Core §11 / RFC 8628 §3.5: the server grows the interval by 5 s
DEFAULT_INTERVAL = 5  # CIBA Core §7.3: the interval when the server names none
POLL_MARGIN = 0.25  # seconds added to `interval`, so clock granularity never makes a slow_down
EXPIRY_GRACE = 10.0  # poll this long past `expires_in` for the server's own expired_token
TOKEN_REFRESH_MARGIN = 60.0  # refresh the API token this long before it expires
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 60.0  # a longer Retry-After is raised as RateLimited at once, not slept
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
USER_AGENT = "vaultguard-sdk/0.1"
UTC = timezone.utc  # noqa: UP017 (the SDK still supports Python 3.10)

logger = logging.getLogger("vaultguard")


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, independent of the library that fetched it."""

    status_code: int
    headers: Mapping[str, str]  # lower-case names
    body: Any  # the decoded JSON, or None
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def error(self) -> str | None:
        value = self.body.get("error") if isinstance(self.body, dict) else None
        return value if isinstance(value, str) else None

    @property
    def request_id(self) -> str | None:
        value = self.body.get("request_id") if isinstance(self.body, dict) else None
        return value if isinstance(value, str) else self.headers.get("x-request-id")


def check_sign_in(
    client_id: str | None, client_secret: str | None, federated_token: object, private_key: object = None
) -> None:
    """A client signs in with its client id and exactly one of its secret, its private key
    (private_key_jwt) or, as a federated agent, a source of its trusted issuer's JWTs:
    ValueError otherwise."""
    given = sum(x is not None for x in (client_secret, federated_token, private_key))
    if not client_id or given != 1:
        raise ValueError(
            "Give client_id with one of client_secret, private_key (private_key_jwt) or federated_token."
        )


def federated_form(client_id: str, assertion: str) -> dict[str, str]:
    """The jwt-bearer grant (RFC 7523 §2.1) of a federated agent: its issuer's JWT, and its
    client id (§3.1) naming which agent, without client authentication."""
    return {"grant_type": JWT_BEARER_GRANT_TYPE, "assertion": assertion, "client_id": client_id}


def make_reply(status_code: int, headers: Mapping[str, str], content: bytes) -> Reply:
    text = content.decode("utf-8", "replace")
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    return Reply(status_code, {k.lower(): v for k, v in headers.items()}, body, text)


def new_request_id() -> str:
    """Sent as `x-request-id`, so the server's logs and the raised error name the same call."""
    return f"sdk-{uuid.uuid4().hex}"


def path_segment(value: str) -> str:
    return quote(value, safe="")


# -- errors --------------------------------------------------------------------------------


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP-date), None when absent or unreadable."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_parts(reply: Reply) -> tuple[str, dict[str, Any]]:
    """What every error from a refusal carries: the message ("error: description") and the
    keyword arguments error, status_code, request_id and body."""
    body = reply.body if isinstance(reply.body, dict) else {}
    description = body.get("error_description")
    if not isinstance(description, str) or not description:
        description = f"HTTP {reply.status_code}"
    message = f"{reply.error}: {description}" if reply.error else description
    return message, {
        "error": reply.error,
        "status_code": reply.status_code,
        "request_id": reply.request_id,
        "body": reply.body,
    }


def error_from_reply(reply: Reply) -> VaultGuardError:
    """The typed exception for a non-2xx answer; every one carries error, status code and
    request id. A 403 `access_denied` is a policy BLOCK; a 400 `access_denied` (the CIBA token
    endpoint, CIBA Core §11) is an approver's rejection."""
    status, error = reply.status_code, reply.error
    message, common = error_parts(reply)
    if status == 429:
        return RateLimited(message, retry_after=retry_after_seconds(reply.headers) or 0.0, **common)
    if status >= 500:
        return ServiceUnavailable(message, **common)
    if status == 401:
        return AuthenticationFailed(message, **common)
    if status == 403 and error == "access_denied":
        return DelegationBlocked(message, **common)
    if error == "access_denied":
        return StepUpRejected(message, **common)
    if error == "expired_token":
        return StepUpExpired(message, **common)
    return VaultGuardError(message, **common)


def unreachable(exc: BaseException, api_url: str, attempts: int) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"cannot reach VaultGuard at {api_url} after {attempts} attempt(s): {type(exc).__name__}",
        error="connection_error",
    )


def unexpected(reply: Reply, what: str) -> VaultGuardError:
    return VaultGuardError(
        f"unexpected answer to {what} (HTTP {reply.status_code})",
        error="invalid_response",
        status_code=reply.status_code,
        request_id=reply.request_id,
        body=reply.body,
    )


# -- retries -------------------------------------------------------------------------------


def backoff_delay(attempt: int, base: float) -> float:
    """Exponential: base, 2*base, 4*base... for attempt 0, 1, 2..., capped at MAX_BACKOFF."""
    return float(min(MAX_BACKOFF, base * (2**attempt)))


def retry_delay(
    reply: Reply | None, attempt: int, *, max_retries: int, backoff: float, idempotent: bool
) -> float | None:
    """Seconds to wait before retrying, or None to stop. `reply` None means the connection
    failed. A 429 is retried after its Retry-After (always safe: the server did nothing);
    5xx and connection failures only for idempotent calls, with backoff, and not before a
    5xx's own Retry-After; a Retry-After over MAX_RETRY_AFTER is raised at once, not slept.
    Any other 4xx is a decision and is never retried."""
    if attempt >= max_retries:
        return None
    if reply is None:
        return backoff_delay(attempt, backoff) if idempotent else None
    if reply.status_code == 429:
        wait = retry_after_seconds(reply.headers)
        if wait is None:
            return backoff_delay(attempt, backoff)
        return wait if wait <= MAX_RETRY_AFTER else None
    if reply.status_code in RETRYABLE_STATUSES and idempotent:
        delay = backoff_delay(attempt, backoff)
        wait = retry_after_seconds(reply.headers)  # RFC 9110 §10.2.3: a 503 may say when
        if wait is None:
            return delay
        return max(delay, wait) if wait <= MAX_RETRY_AFTER else None
    return None


# -- the client's own API token -------------------------------------------------------------


@dataclass(frozen=True)
class ApiToken:
    """A cached VaultGuard API access token and the monotonic time to refresh it."""

    value: str
    refresh_at: float
    tenant_id: str | None
    token_type: str = "Bearer"  # "DPoP" when bound to the client's key: then sent as such

    def fresh(self, now: float) -> bool:
        return now < self.refresh_at


def api_token_from(reply: Reply, now: float, expected_tenant_id: str | None) -> ApiToken:
    """Parse a client_credentials answer; refuse a token of another tenant than the one the
    client was built for (the claim is read without verification: it only guards against a
    misconfiguration, the server checks the token itself)."""
    if not reply.ok:
        raise error_from_reply(reply)
    body = reply.body if isinstance(reply.body, dict) else {}
    token = body.get("access_token")
    expires_in = body.get("expires_in")
    if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
        raise unexpected(reply, "the token request")
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        claims = {}
    tenant_id = claims.get("tenant_id") if isinstance(claims.get("tenant_id"), str) else None
    if expected_tenant_id is not None and tenant_id != expected_tenant_id:
        raise VaultGuardError(
            f"these client credentials belong to tenant {tenant_id!r}, not {expected_tenant_id!r}",
            error="tenant_mismatch",
            status_code=reply.status_code,
            request_id=reply.request_id,
        )
    margin = min(TOKEN_REFRESH_MARGIN, float(expires_in) / 2)
    token_type = "DPoP" if str(body.get("token_type")).lower() == "dpop" else "Bearer"
    return ApiToken(token, now + float(expires_in) - margin, tenant_id, token_type)


# -- delegations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DelegationSpec:
    """What `with_delegation` asks for, from a mapping or from keyword arguments."""

    receiving_tenant_id: str
    action: str
    ttl_seconds: int | None = None
    purpose: str | None = None
    binding_message: str | None = None
    idempotency_key: str | None = None


SPEC_FIELDS = frozenset(DelegationSpec.__dataclass_fields__)


def spec_from(spec: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> DelegationSpec:
    merged = {**(spec or {}), **{k: v for k, v in fields.items() if v is not None}}
    unknown = sorted(set(merged) - SPEC_FIELDS)
    if unknown:
        raise TypeError(f"unknown delegation field(s): {', '.join(unknown)}")
    missing = [name for name in ("receiving_tenant_id", "action") if not merged.get(name)]
    if missing:
        raise TypeError(f"with_delegation needs {' and '.join(missing)}")
    return DelegationSpec(**merged)


def request_body(
    receiving_tenant_id: str,
    action: str,
    ttl_seconds: int | None = None,
    purpose: str | None = None,
    binding_message: str | None = None,
    requested_expiry: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"receiving_tenant_id": receiving_tenant_id, "action": action}
    optional = {
        "ttl_seconds": ttl_seconds,
        "purpose": purpose,
        "binding_message": binding_message,
        "requested_expiry": requested_expiry,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def delegation_from(body: Mapping[str, Any], *, now: datetime | None = None) -> Delegation:
    """A Delegation from a 201 of /delegations/request or a 200 of the CIBA token request
    (which has no `expires_at`: it is then derived from `expires_in`)."""
    expires_in = int(body["expires_in"])
    raw_expiry = body.get("expires_at")
    if isinstance(raw_expiry, str):
        expires_at = datetime.fromisoformat(raw_expiry.replace("Z", "+00:00"))
    else:
        expires_at = (now or datetime.now(UTC)) + timedelta(seconds=expires_in)
    return Delegation(
        delegation_id=str(body["delegation_id"]),
        access_token=str(body["access_token"]),
        token_type=str(body.get("token_type") or "Bearer"),
        expires_in=expires_in,
        expires_at=expires_at,
        scope=str(body.get("scope") or ""),
    )


def pending_from(body: Mapping[str, Any], created: float) -> PendingDelegation:
    return PendingDelegation(
        delegation_id=str(body["delegation_id"]),
        auth_req_id=str(body["auth_req_id"]),
        expires_in=int(body["expires_in"]),
        interval=int(body.get("interval") or DEFAULT_INTERVAL),
        created=created,
    )


def outcome_from(reply: Reply, created: float) -> Delegation | PendingDelegation:
    """201 ALLOW -> Delegation, 202 STEP_UP -> PendingDelegation, anything else raised."""
    if not reply.ok:
        raise error_from_reply(reply)
    body = reply.body if isinstance(reply.body, dict) else None
    try:
        if body is not None and reply.status_code == 201 and "access_token" in body:
            return delegation_from(body)
        if body is not None and reply.status_code in (200, 202) and "auth_req_id" in body:
            return pending_from(body, created)
    except (KeyError, TypeError, ValueError):
        pass
    raise unexpected(reply, "the delegation request")


def json_object(reply: Reply, what: str) -> dict[str, Any]:
    if not reply.ok:
        raise error_from_reply(reply)
    if not isinstance(reply.body, dict):
        raise unexpected(reply, what)
    return reply.body


# -- CIBA polling --------------------------------------------------------------------------


class PollSchedule:
    """When to poll a PendingDelegation and what each answer means (CIBA Core §10-§11).

    The first poll comes `interval` seconds after the request was created; then one poll per
    `interval` (+5 s after each `slow_down`). The server's `expired_token` ends the wait; so
    does the caller's `timeout` (StepUpTimeout) and, should the server keep saying pending,
    `expires_in` plus a grace period (StepUpExpired)."""

    def __init__(self, pending: PendingDelegation, timeout: float | None, now: float) -> None:
        self.pending = pending
        self.interval = max(1, pending.interval)
        self.next_at = pending.created + self.interval + POLL_MARGIN
        self.expires_at = pending.deadline + EXPIRY_GRACE
        self.timeout = timeout
        self.user_deadline = None if timeout is None else now + timeout

    def wait(self, now: float) -> tuple[float, VaultGuardError | None]:
        """Seconds to sleep, then the error to raise (None: poll after sleeping)."""
        if self.user_deadline is not None and self.next_at > self.user_deadline:
            return max(0.0, self.user_deadline - now), StepUpTimeout(
                f"no decision on {self.pending.delegation_id} within {self.timeout:g} s",
                error="timeout",
                pending=self.pending,
            )
        if self.next_at > self.expires_at:
            return 0.0, StepUpExpired(
                f"the step-up request {self.pending.delegation_id} expired", error="expired_token"
            )
        return max(0.0, self.next_at - now), None

    def answer(self, reply: Reply, now: float) -> Delegation | None:
        """The Delegation once approved; None to poll again; raises on a final answer."""
        if reply.ok:
            body = reply.body if isinstance(reply.body, dict) else {}
            try:
                return delegation_from({"delegation_id": self.pending.delegation_id, **body})
            except (KeyError, TypeError, ValueError):
                raise unexpected(reply, "the CIBA token request") from None
        if reply.status_code == 400 and reply.error in ("authorization_pending", "slow_down"):
            if reply.error == "slow_down":
                self.interval += SLOW_DOWN_INCREMENT
            served = reply.body.get("interval") if isinstance(reply.body, dict) else None
            if isinstance(served, int) and served > self.interval:
                self.interval = served
            self.next_at = now + self.interval + POLL_MARGIN
            return None
        raise error_from_reply(reply)
