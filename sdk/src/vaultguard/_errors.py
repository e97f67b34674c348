"""Errors raised by the VaultGuard SDK.

    VaultGuardError                 anything the SDK reports (carries error, description,
    |                               status_code, request_id when the server sent them)
    +-- AuthenticationFailed        the client's credentials or token were refused (401)
    +-- DelegationBlocked           the receiving tenant's policy said BLOCK (403 access_denied)
    +-- StepUpRejected              an approver rejected the step-up request
    +-- StepUpExpired               the step-up request expired before anyone approved it
    |   +-- StepUpTimeout           (also a TimeoutError) the caller's own poll `timeout` ran
    |                               out first; the request may still be approved later
    +-- RateLimited                 429; `retry_after` seconds to wait
    +-- ServiceUnavailable          5xx or the connection failed, after retries
    +-- InvalidDelegationToken      the receiving side's verifier refused a token (`reason`)
"""

from __future__ import annotations

from typing import Any


class VaultGuardError(Exception):
    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.status_code = status_code
        self.request_id = request_id
        self.body = body


class AuthenticationFailed(VaultGuardError):
    pass


class DelegationBlocked(VaultGuardError):
    pass


class StepUpRejected(VaultGuardError):
    pass


class StepUpExpired(VaultGuardError):
    pass


class StepUpTimeout(StepUpExpired, TimeoutError):
    """The caller's poll `timeout` elapsed while the request was still pending on the server.

    A StepUpExpired, so one `except StepUpExpired` covers both ends of waiting, and a
    TimeoutError for code that handles timeouts generically. `pending` can be polled again."""

    def __init__(self, message: str, *, pending: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.pending = pending


class RateLimited(VaultGuardError):
    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(VaultGuardError):
    pass


class InvalidDelegationToken(VaultGuardError):
    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"invalid delegation token: {reason}", error="invalid_token")
        self.reason = reason
