"""VaultGuard SDK: request delegations (agents) and verify them (receiving APIs)."""

from __future__ import annotations

from ._async_client import AsyncDelegationScope, AsyncVaultGuardClient
from ._client import DelegationScope, VaultGuardClient
from ._errors import (
    AuthenticationFailed,
    DelegationBlocked,
    InvalidDelegationToken,
    RateLimited,
    ServiceUnavailable,
    StepUpExpired,
    StepUpRejected,
    StepUpTimeout,
    VaultGuardError,
)
from ._introspection import Introspector
from ._jwks import JWKSCache
from ._models import Delegation, PendingDelegation
from ._verifier import ActionVerifier, DelegationVerifier, VerifiedDelegation

__all__ = [
    "AsyncDelegationScope",
    "AsyncVaultGuardClient",
    "Delegation",
    "DelegationScope",
    "PendingDelegation",
    "VaultGuardClient",
    "StepUpTimeout",
    "ActionVerifier",
    "DelegationVerifier",
    "Introspector",
    "JWKSCache",
    "VerifiedDelegation",
    "AuthenticationFailed",
    "DelegationBlocked",
    "InvalidDelegationToken",
    "RateLimited",
    "ServiceUnavailable",
    "StepUpExpired",
    "StepUpRejected",
    "VaultGuardError",
]
