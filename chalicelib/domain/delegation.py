"""The delegation state machine, TTL rules and token claims (RFC 9068 profile)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

DELEGATION_TOKEN_TYP = "at+jwt"
API_TOKEN_TYP = "vg-api+jwt"

MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 86400
DEFAULT_TTL_SECONDS = 3600
MIN_STEPUP_EXPIRY_SECONDS = 30
MAX_STEPUP_EXPIRY_SECONDS = 3600
DEFAULT_STEPUP_EXPIRY_SECONDS = 300


class Status(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


LIVE_STATUSES = frozenset({Status.PENDING, Status.ACTIVE})


def effective_status(
    status: Status, *, now: int, expires_at: int | None, stepup_expires_at: int | None
) -> Status:
    """The status a reader must see: a live record past its expiry is EXPIRED, whatever
    the stored status says (TTL deletion is best-effort and can lag for days)."""
    if status is Status.ACTIVE and expires_at is not None and now >= expires_at:
        return Status.EXPIRED
    if status is Status.PENDING and stepup_expires_at is not None and now >= stepup_expires_at:
        return Status.EXPIRED
    return status


def granted_ttl(requested: int | None, policy_ttl: int) -> int:
    """The requested TTL capped by the policy's; the policy's when none was asked for."""
    if requested is None:
        return policy_ttl
    return min(requested, policy_ttl)


@dataclass(frozen=True)
class TokenGrant:
    """Everything that goes into one delegation token."""

    delegation_id: str
    issuer: str
    audience: str
    agent_id: str
    client_id: str
    requesting_tenant_id: str
    receiving_tenant_id: str
    action: str
    issued_at: int
    expires_at: int
    jkt: str | None = None  # RFC 9449 §6.1: bound to this key (cnf.jkt), presented with DPoP proofs

    def claims(self) -> dict[str, Any]:
        claims = {
            "iss": self.issuer,
            "sub": self.agent_id,
            "aud": self.audience,
            "client_id": self.client_id,
            "iat": self.issued_at,
            "nbf": self.issued_at,
            "exp": self.expires_at,
            "jti": self.delegation_id,
            "scope": self.action,
            "tenant_id": self.requesting_tenant_id,
            "receiving_tenant_id": self.receiving_tenant_id,
            "act": {"sub": self.agent_id},
        }
        if self.jkt is not None:
            claims["cnf"] = {"jkt": self.jkt}
        return claims
