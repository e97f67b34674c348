"""Audit event types and the event record (docs/architecture.md, "Audit events")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TENANT_CREATED = "tenant.created"
TENANT_STATUS_CHANGED = "tenant.status_changed"
AGENT_CREATED = "agent.created"
AGENT_SECRET_ROTATED = "agent.secret_rotated"
AGENT_KEYS_ROTATED = "agent.keys_rotated"
AGENT_DISABLED = "agent.disabled"
POLICY_UPSERTED = "policy.upserted"
POLICY_DELETED = "policy.deleted"
DELEGATION_REQUESTED = "delegation.requested"
DELEGATION_ALLOWED = "delegation.allowed"
DELEGATION_STEPUP_REQUIRED = "delegation.stepup_required"
DELEGATION_APPROVED = "delegation.approved"
DELEGATION_REJECTED = "delegation.rejected"
DELEGATION_BLOCKED = "delegation.blocked"
DELEGATION_REVOKED = "delegation.revoked"
DELEGATION_EXPIRED = "delegation.expired"
DELEGATION_VERIFIED = "delegation.verified"
TOKEN_ISSUED = "token.issued"
AUTH_FAILED = "auth.failed"
WEBHOOK_UPDATED = "webhook.updated"
WEBHOOK_DELETED = "webhook.deleted"
WEBHOOK_TESTED = "webhook.tested"
USER_INVITED = "user.invited"
USER_JOINED = "user.joined"
USER_ROLE_CHANGED = "user.role_changed"
USER_REMOVED = "user.removed"
SESSION_STARTED = "session.started"
SESSION_ENDED = "session.ended"
VAULT_PROVIDER_CONFIGURED = "vault.provider_configured"
VAULT_CONNECT_STARTED = "vault.connect_started"
VAULT_CONNECTED = "vault.connected"
VAULT_CONNECT_FAILED = "vault.connect_failed"
VAULT_RECONNECTED = "vault.reconnected"
VAULT_UPDATED = "vault.updated"
VAULT_EXCHANGED = "vault.exchanged"
VAULT_EXCHANGE_DENIED = "vault.exchange_denied"
VAULT_REFRESH_FAILED = "vault.refresh_failed"
VAULT_NEEDS_REAUTH = "vault.needs_reauth"
VAULT_DISCONNECTED = "vault.disconnected"

EVENT_TYPES = frozenset(
    {
        TENANT_CREATED,
        TENANT_STATUS_CHANGED,
        AGENT_CREATED,
        AGENT_SECRET_ROTATED,
        AGENT_KEYS_ROTATED,
        AGENT_DISABLED,
        POLICY_UPSERTED,
        POLICY_DELETED,
        DELEGATION_REQUESTED,
        DELEGATION_ALLOWED,
        DELEGATION_STEPUP_REQUIRED,
        DELEGATION_APPROVED,
        DELEGATION_REJECTED,
        DELEGATION_BLOCKED,
        DELEGATION_REVOKED,
        DELEGATION_EXPIRED,
        DELEGATION_VERIFIED,
        TOKEN_ISSUED,
        VAULT_PROVIDER_CONFIGURED,
        VAULT_CONNECT_STARTED,
        VAULT_CONNECTED,
        VAULT_CONNECT_FAILED,
        VAULT_RECONNECTED,
        VAULT_UPDATED,
        VAULT_EXCHANGED,
        VAULT_EXCHANGE_DENIED,
        VAULT_REFRESH_FAILED,
        VAULT_NEEDS_REAUTH,
        VAULT_DISCONNECTED,
        AUTH_FAILED,
        WEBHOOK_UPDATED,
        WEBHOOK_DELETED,
        WEBHOOK_TESTED,
        USER_INVITED,
        USER_JOINED,
        USER_ROLE_CHANGED,
        USER_REMOVED,
        SESSION_STARTED,
        SESSION_ENDED,
    }
)


@dataclass(frozen=True)
class Actor:
    type: str  # platform | admin | agent | system
    id: str


@dataclass(frozen=True)
class AuditEvent:
    """One event as written to one tenant's log. Never carries a secret or a token."""

    event_id: str
    tenant_id: str
    occurred_at: str
    type: str
    actor: Actor
    request_id: str
    delegation_id: str | None = None
    counterpart_tenant_id: str | None = None
    action: str | None = None
    decision: str | None = None
    token_sha256: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "tenant_id": self.tenant_id,
            "occurred_at": self.occurred_at,
            "type": self.type,
            "actor": {"type": self.actor.type, "id": self.actor.id},
            "request_id": self.request_id,
        }
        for name in ("delegation_id", "counterpart_tenant_id", "action", "decision", "token_sha256"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.detail:
            out["detail"] = dict(self.detail)
        return out


@dataclass(frozen=True)
class AuditFilter:
    """What a reader asks of one tenant's log; `since`/`until` bound `occurred_at`."""

    types: frozenset[str] | None = None
    delegation_id: str | None = None
    actor_id: str | None = None
    since: str | None = None
    until: str | None = None
