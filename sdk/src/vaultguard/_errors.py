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
    |   +-- VaultUnavailable        the vault exchange answered 503 (the provider is down or
    |                               throttling); `retry_after` seconds, None when not said
    +-- InvalidDelegationToken      the receiving side's verifier refused a token (`reason`)
    +-- ConnectionNotFound          no such vault connection for this tenant (404: unknown,
    |                               deleted and another tenant's look the same)
    +-- ConnectionNeedsReauth       the connection's grant is dead (409); an admin must reconnect
    |                               it (`connection_id`, `reason`, e.g. "invalid_grant")
    +-- VaultAccessDenied           this agent is not allowed to use the connection (403)
    +-- VaultScopeError             scopes outside what the connection allows (400 invalid_scope;
                                    `missing_scopes`)
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


class VaultUnavailable(ServiceUnavailable):
    """The vault could not get a token now (503): the provider is down or throttling. Not the
    caller's fault; try again after `retry_after` seconds (None when the server named none)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ConnectionNotFound(VaultGuardError):
    """No vault connection with this id for the agent's tenant: unknown, deleted and another
    tenant's connection get the same answer, so nothing about other tenants can be learnt."""


class ConnectionNeedsReauth(VaultGuardError):
    """The provider refused the stored grant (revoked, expired, a policy change): an admin of
    the tenant must reconnect the connection. Retrying does not help until then."""

    def __init__(
        self, message: str, *, connection_id: str | None = None, reason: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.connection_id = connection_id
        self.reason = reason


class VaultAccessDenied(VaultGuardError):
    """The connection exists in this tenant but does not allow this agent (403)."""


class VaultScopeError(VaultGuardError):
    """Some requested scopes are not allowed on the connection (400 `invalid_scope`)."""

    def __init__(self, message: str, *, missing_scopes: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.missing_scopes = list(missing_scopes or [])
