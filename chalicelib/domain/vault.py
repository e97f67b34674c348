"""The token vault's pure rules: connection ids, statuses and their transitions, the
`state` parameter's shape, scope arithmetic and the encryption contexts of stored secrets.

A connection's life (issue 13): `pending` (connect started) -> `active` (callback done)
<-> `refresh_failing` (the provider is down or throttling: transient) -> `needs_reauth`
(the grant is dead: `invalid_grant`, `invalid_rapt`, `admin_policy_enforced`) -> `active`
(reconnected); `disabled` by an admin; `deleted` (a tombstone for the audit). A pending
connection whose callback failed becomes `failed`; one whose callback found an existing
connection of the same provider account becomes `superseded` (that one is reconnected).
A pending connection whose consent was never finished is shown as `failed`
(`connect_expired`) once its state has expired: computed on every read, whatever is stored.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from enum import StrEnum

CONNECTION_ID = re.compile(r"^con_[0-9a-f]{20}$")
PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
STATE_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")
STATE_TTL_SECONDS = 600


class Status(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REFRESH_FAILING = "refresh_failing"
    NEEDS_REAUTH = "needs_reauth"
    DISABLED = "disabled"
    DELETED = "deleted"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class Reason(StrEnum):
    """Why a connection is in its status (`status_reason`); provider error codes as sent."""

    INVALID_GRANT = "invalid_grant"
    INVALID_RAPT = "invalid_rapt"
    ADMIN_POLICY_ENFORCED = "admin_policy_enforced"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    ACCESS_DENIED = "access_denied"
    ISS_MISMATCH = "iss_mismatch"
    ISS_MISSING = "iss_missing"
    ID_TOKEN_INVALID = "id_token_invalid"
    TOKEN_ERROR = "token_error"
    NO_REFRESH_TOKEN = "no_refresh_token"
    NO_CODE = "no_code"
    RECONNECTED = "reconnected"
    REVOKED_BY_ADMIN = "revoked_by_admin"
    DISABLED_BY_ADMIN = "disabled_by_admin"
    CONNECT_EXPIRED = "connect_expired"


# Provider error codes that mean the grant is dead: only the person reconnecting helps.
DEAD_GRANT_ERRORS = frozenset({"invalid_grant", "invalid_rapt", "admin_policy_enforced"})

_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.ACTIVE, Status.FAILED, Status.SUPERSEDED, Status.DELETED}),
    Status.ACTIVE: frozenset(
        {Status.ACTIVE, Status.REFRESH_FAILING, Status.NEEDS_REAUTH, Status.DISABLED, Status.DELETED}
    ),
    Status.REFRESH_FAILING: frozenset(
        {Status.ACTIVE, Status.REFRESH_FAILING, Status.NEEDS_REAUTH, Status.DISABLED, Status.DELETED}
    ),
    Status.NEEDS_REAUTH: frozenset({Status.ACTIVE, Status.DISABLED, Status.DELETED}),
    Status.DISABLED: frozenset({Status.ACTIVE, Status.DELETED}),
    Status.FAILED: frozenset({Status.DELETED}),
    Status.SUPERSEDED: frozenset(),
    Status.DELETED: frozenset(),
}
# What a reconnect (a finished callback for the same provider account) may bring back.
RECONNECTABLE = frozenset({Status.ACTIVE, Status.REFRESH_FAILING, Status.NEEDS_REAUTH, Status.DISABLED})
# What an admin may still change (label, agents, scopes) or delete.
EDITABLE = frozenset(
    {
        Status.PENDING,
        Status.ACTIVE,
        Status.REFRESH_FAILING,
        Status.NEEDS_REAUTH,
        Status.DISABLED,
        Status.FAILED,
    }
)


class TransitionRefused(ValueError):
    """A status change the state machine does not allow."""


def can_transition(current: str, target: Status) -> bool:
    try:
        return target in _TRANSITIONS[Status(current)]
    except ValueError:
        return False


def transition(current: str, target: Status) -> Status:
    """`target` when `current -> target` is allowed, else TransitionRefused."""
    if not can_transition(current, target):
        raise TransitionRefused(f"{current} -> {target.value}")
    return target


def connect_expired(status: str, started_at: float, now: float) -> bool:
    """Whether a connection is a connect that can no longer finish: pending, its state (10
    minutes from the start) expired."""
    return status == Status.PENDING and now >= started_at + STATE_TTL_SECONDS


def shown_status(status: str, reason: str | None, started_at: float, now: float) -> tuple[str, str | None]:
    """The (status, status_reason) a reader sees: an abandoned connect is `failed`."""
    if connect_expired(status, started_at, now):
        return Status.FAILED.value, Reason.CONNECT_EXPIRED.value
    return status, reason


def reason_for_provider_error(error: str | None) -> Reason | None:
    """The dead-grant reason of a token endpoint error code, or None (not a dead grant)."""
    if error in DEAD_GRANT_ERRORS:
        return Reason(error)
    return None


def new_connection_id() -> str:
    return "con_" + secrets.token_hex(10)


def new_state(provider: str, connection_id: str) -> str:
    """`<provider>.<connection id>.<256 random bits>`: the callback finds its records from
    the first two parts before reading anything, the secret part makes it unguessable."""
    assert PROVIDER_NAME.fullmatch(provider) and CONNECTION_ID.fullmatch(connection_id)
    return f"{provider}.{connection_id}.{secrets.token_urlsafe(32)}"


def parse_state(state: str | None) -> tuple[str, str] | None:
    """(provider, connection id) of a well-formed state, else None."""
    if not state or len(state) > 128:
        return None
    parts = state.split(".")
    if len(parts) != 3:
        return None
    provider, connection_id, secret = parts
    if not (
        PROVIDER_NAME.fullmatch(provider)
        and CONNECTION_ID.fullmatch(connection_id)
        and STATE_SECRET.fullmatch(secret)
    ):
        return None
    return provider, connection_id


def parse_scope(value: object) -> tuple[str, ...] | None:
    """RFC 6749 §3.3: a space-delimited list, or None when absent or not a string."""
    if not isinstance(value, str):
        return None
    return tuple(dict.fromkeys(s for s in value.split(" ") if s))


def missing_scopes(wanted: Iterable[str], granted: Iterable[str]) -> list[str]:
    have = set(granted)
    return [s for s in dict.fromkeys(wanted) if s not in have]


# -- encryption contexts (DESIGN.md, "Storage": {tenant_id, <object id>, purpose}) -------------
REFRESH_TOKEN = "vault.refresh_token"
ACCESS_TOKEN = "vault.access_token"
PKCE_VERIFIER = "vault.pkce_verifier"
CLIENT_SECRET = "vault.client_secret"


def connection_context(tenant_id: str, connection_id: str, purpose: str) -> dict[str, str]:
    """The context of a connection's secret (refresh token, cached access token, verifier)."""
    return {"tenant_id": tenant_id, "connection_id": connection_id, "purpose": purpose}


def client_secret_context(tenant_id: str, provider: str) -> dict[str, str]:
    """The context of the OAuth client secret a tenant brought for a provider."""
    return {"tenant_id": tenant_id, "provider": provider, "purpose": CLIENT_SECRET}
