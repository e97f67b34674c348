"""Unit tests for chalicelib.domain.delegation: read-time expiry, TTL rules, token claims."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.delegation import (
    DEFAULT_TTL_SECONDS,
    LIVE_STATUSES,
    MAX_TTL_SECONDS,
    MIN_TTL_SECONDS,
    Status,
    TokenGrant,
    effective_status,
    granted_ttl,
)

NOW = 1_750_000_000
TERMINAL = [Status.REJECTED, Status.REVOKED, Status.EXPIRED]

# -- effective_status --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOW - 3600, Status.ACTIVE),
        (NOW - 1, Status.ACTIVE),
        (NOW, Status.EXPIRED),  # exactly at exp the token is no longer valid (RFC 7519 §4.1.4)
        (NOW + 1, Status.EXPIRED),
        (NOW + 10 * 86400, Status.EXPIRED),  # TTL deletion lagging by days changes nothing
    ],
)
def test_active_expires_at_exp(now: int, expected: Status) -> None:
    assert effective_status(Status.ACTIVE, now=now, expires_at=NOW, stepup_expires_at=None) is expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOW - 1, Status.PENDING),
        (NOW, Status.EXPIRED),
        (NOW + 1, Status.EXPIRED),
    ],
)
def test_pending_expires_at_stepup_expiry(now: int, expected: Status) -> None:
    assert effective_status(Status.PENDING, now=now, expires_at=None, stepup_expires_at=NOW) is expected


def test_each_live_status_looks_only_at_its_own_expiry() -> None:
    # An ACTIVE delegation whose (old) step-up window has passed is still ACTIVE.
    assert (
        effective_status(Status.ACTIVE, now=NOW, expires_at=NOW + 60, stepup_expires_at=NOW - 60)
        is Status.ACTIVE
    )
    # A PENDING one has no token expiry yet; one that is set does not expire it.
    assert (
        effective_status(Status.PENDING, now=NOW, expires_at=NOW - 60, stepup_expires_at=NOW + 60)
        is Status.PENDING
    )


@pytest.mark.parametrize("status", [Status.ACTIVE, Status.PENDING])
def test_live_status_without_expiry_is_unchanged(status: Status) -> None:
    assert effective_status(status, now=NOW, expires_at=None, stepup_expires_at=None) is status


@pytest.mark.parametrize("status", TERMINAL)
@pytest.mark.parametrize(
    ("expires_at", "stepup_expires_at"),
    [(None, None), (NOW - 1, None), (None, NOW - 1), (NOW - 1, NOW - 1), (NOW + 60, NOW + 60)],
)
def test_terminal_statuses_are_unchanged(
    status: Status, expires_at: int | None, stepup_expires_at: int | None
) -> None:
    assert (
        effective_status(status, now=NOW, expires_at=expires_at, stepup_expires_at=stepup_expires_at)
        is status
    )


def test_effective_status_returns_the_enum_member() -> None:
    result = effective_status(Status("ACTIVE"), now=NOW, expires_at=NOW, stepup_expires_at=None)
    assert result is Status.EXPIRED and result.value == "EXPIRED"


def test_live_statuses() -> None:
    assert LIVE_STATUSES == {Status.PENDING, Status.ACTIVE}
    assert not LIVE_STATUSES & set(TERMINAL)
    assert {s.value for s in Status} == {"PENDING", "ACTIVE", "REJECTED", "REVOKED", "EXPIRED"}


# -- granted_ttl ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "policy", "expected"),
    [
        (None, 3600, 3600),  # default = the policy's
        (None, 60, 60),
        (None, MAX_TTL_SECONDS, MAX_TTL_SECONDS),
        (600, 3600, 600),  # shorter than the policy: as asked
        (3600, 3600, 3600),  # equal
        (7200, 3600, 3600),  # longer: capped
        (MAX_TTL_SECONDS, 60, 60),
        (MIN_TTL_SECONDS, DEFAULT_TTL_SECONDS, MIN_TTL_SECONDS),
    ],
)
def test_granted_ttl(requested: int | None, policy: int, expected: int) -> None:
    assert granted_ttl(requested, policy) == expected


def test_granted_ttl_never_exceeds_policy() -> None:
    for policy in (MIN_TTL_SECONDS, 61, 900, DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS):
        for requested in (None, MIN_TTL_SECONDS, policy - 1, policy, policy + 1, MAX_TTL_SECONDS):
            granted = granted_ttl(requested, policy)
            assert granted <= policy
            assert granted == (policy if requested is None else min(requested, policy))


def test_ttl_constants_are_consistent() -> None:
    assert 0 < MIN_TTL_SECONDS <= DEFAULT_TTL_SECONDS <= MAX_TTL_SECONDS


# -- TokenGrant.claims --------------------------------------------------------------------------------

DESIGN_CLAIMS = {
    "iss",
    "sub",
    "aud",
    "client_id",
    "iat",
    "nbf",
    "exp",
    "jti",
    "scope",
    "tenant_id",
    "receiving_tenant_id",
    "act",
}


def grant(**overrides: object) -> TokenGrant:
    values: dict[str, object] = {
        "delegation_id": "dlg_0197a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4",
        "issuer": "http://127.0.0.1:8000",
        "audience": "urn:vaultguard:tenant:tnt_bbbbbbbbbbbbbbbbbbbb",
        "agent_id": "agt_11111111111111111111",
        "client_id": "vgc_222222222222222222222222",
        "requesting_tenant_id": "tnt_aaaaaaaaaaaaaaaaaaaa",
        "receiving_tenant_id": "tnt_bbbbbbbbbbbbbbbbbbbb",
        "action": "stock.write",
        "issued_at": NOW,
        "expires_at": NOW + 3600,
    }
    values.update(overrides)
    return TokenGrant(**values)  # type: ignore[arg-type]


def test_claims_are_exactly_the_design_set() -> None:
    assert set(grant().claims()) == DESIGN_CLAIMS


def test_claim_values() -> None:
    g = grant()
    assert g.claims() == {
        "iss": g.issuer,
        "sub": g.agent_id,
        "aud": g.audience,
        "client_id": g.client_id,
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 3600,
        "jti": g.delegation_id,
        "scope": "stock.write",
        "tenant_id": "tnt_aaaaaaaaaaaaaaaaaaaa",
        "receiving_tenant_id": "tnt_bbbbbbbbbbbbbbbbbbbb",
        "act": {"sub": g.agent_id},
    }


def test_claims_keep_the_two_tenants_apart() -> None:
    claims = grant().claims()
    assert claims["tenant_id"] != claims["receiving_tenant_id"]
    assert claims["tenant_id"] == "tnt_aaaaaaaaaaaaaaaaaaaa"  # requesting side


def test_claims_types_and_json() -> None:
    claims = grant().claims()
    for name in ("iat", "nbf", "exp"):
        assert type(claims[name]) is int
    for name in DESIGN_CLAIMS - {"iat", "nbf", "exp", "act"}:
        assert isinstance(claims[name], str) and claims[name]
    assert claims["aud"] == grant().audience  # a single audience string, not a list
    assert json.loads(json.dumps(claims)) == claims


def test_claims_return_fresh_objects() -> None:
    g = grant()
    first = g.claims()
    first["act"]["sub"] = "tampered"
    first["scope"] = "admin.*"
    assert g.claims()["act"] == {"sub": g.agent_id}
    assert g.claims()["scope"] == "stock.write"


def test_grant_is_frozen() -> None:
    g = grant()
    with pytest.raises(AttributeError):
        g.action = "admin.access"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("requested", "policy", "granted"),
    [
        (None, 300, 300),
        (120, 300, 120),
        (1, 300, 30),  # below the minimum: clamped up, not refused (CIBA Core §7.1: a hint)
        (29, 300, 30),
        (10_000, 300, 300),  # above the policy: capped
        (5, 20, 20),  # a policy shorter than the minimum wins
    ],
)
def test_requested_expiry_is_clamped_to_the_allowed_range(
    requested: int | None, policy: int, granted: int
) -> None:
    from chalicelib.domain.ciba import stepup_expiry

    assert stepup_expiry(requested, policy) == granted
