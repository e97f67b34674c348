"""VaultGuard SDK: request delegations and vault tokens (agents), verify delegations (receiving APIs)."""

from __future__ import annotations

from ._async_client import AsyncDelegationScope, AsyncVaultGuardClient, AsyncVaultTokenScope
from ._client import DelegationScope, VaultGuardClient, VaultTokenScope
from ._client_key import ClientKey
from ._dpop import DPoPAuth, DPoPKey, HttpxDPoPAuth, ReplayCache
from ._errors import (
    AuthenticationFailed,
    ConnectionNeedsReauth,
    ConnectionNotFound,
    DelegationBlocked,
    InvalidDelegationToken,
    RateLimited,
    ServiceUnavailable,
    StepUpExpired,
    StepUpRejected,
    StepUpTimeout,
    VaultAccessDenied,
    VaultGuardError,
    VaultScopeError,
    VaultUnavailable,
)
from ._introspection import Introspector
from ._jwks import JWKSCache
from ._models import Delegation, PendingDelegation, VaultToken
from ._status_list import StatusLists
from ._verifier import ActionVerifier, DelegationVerifier, VerifiedDelegation

__all__ = [
    "AsyncDelegationScope",
    "AsyncVaultGuardClient",
    "ClientKey",
    "Delegation",
    "DelegationScope",
    "DPoPAuth",
    "DPoPKey",
    "HttpxDPoPAuth",
    "ReplayCache",
    "PendingDelegation",
    "VaultGuardClient",
    "VaultToken",
    "VaultTokenScope",
    "AsyncVaultTokenScope",
    "StepUpTimeout",
    "ActionVerifier",
    "DelegationVerifier",
    "Introspector",
    "JWKSCache",
    "StatusLists",
    "VerifiedDelegation",
    "AuthenticationFailed",
    "DelegationBlocked",
    "InvalidDelegationToken",
    "RateLimited",
    "ServiceUnavailable",
    "StepUpExpired",
    "StepUpRejected",
    "VaultGuardError",
    "ConnectionNeedsReauth",
    "ConnectionNotFound",
    "VaultAccessDenied",
    "VaultScopeError",
    "VaultUnavailable",
]
