"""VaultGuard SDK: request delegations (agents) and verify them (receiving APIs)."""

from __future__ import annotations

from ._errors import (
    AuthenticationFailed,
    DelegationBlocked,
    InvalidDelegationToken,
    RateLimited,
    ServiceUnavailable,
    StepUpExpired,
    StepUpRejected,
    VaultGuardError,
)

__all__ = [
    "AuthenticationFailed",
    "DelegationBlocked",
    "InvalidDelegationToken",
    "RateLimited",
    "ServiceUnavailable",
    "StepUpExpired",
    "StepUpRejected",
    "VaultGuardError",
]
