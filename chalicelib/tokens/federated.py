"""A trusted external issuer's JWT, presented by a federated agent (RFC 7523 §3 as the
`jwt-bearer` grant's assertion, RFC 8693 §2.1 as a token exchange's `subject_token`).

Checked against the one identity the token's (issuer, subject) is mapped to: signature by a
key of that issuer's JWKS (by `kid`; `jku`, `jwk`, `x5u`, `x5c` ignored) under an algorithm
of the allow-list and of that key; `iss` exactly the issuer; the subject exactly the mapped
one; `aud` naming VaultGuard (its issuer or token endpoint) or the audience configured for
the identity; `exp` required, `iat`/`nbf` not in the future, with a small leeway; `jti`, when
sent, well-formed (its single use is the caller's). PyJWT is called here, as in the rest of
`tokens/`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from chalicelib.domain.federation import subject_of
from chalicelib.tokens.rfc7523 import JTI, AssertionRejected, KeySource, signed_claims

MAX_TOKEN = 16 * 1024
LEEWAY = 30
MAX_REMAINING = 24 * 3600 + LEEWAY  # longer-lived tokens are refused (Auth0 M2M: 24 h at most)
_ACCEPTED_TYP = {"jwt", "application/jwt", "at+jwt", "application/at+jwt"}


@dataclass(frozen=True)
class VerifiedToken:
    jti: str | None
    exp: int


@dataclass(frozen=True)
class UnverifiedIdentity:
    issuer: str
    subject: str


def unverified_identity(token: str) -> UnverifiedIdentity | None:
    """The (issuer, subject) a token says it is from and about, before any check: only to find
    the identity whose issuer's keys then check it."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    issuer, subject = claims.get("iss"), subject_of(claims)
    if not isinstance(issuer, str) or not issuer or subject is None:
        return None
    return UnverifiedIdentity(issuer, subject)


def verify_federated(
    token: str, keys: KeySource, *, issuer: str, subject: str, audiences: Iterable[str], now: int
) -> VerifiedToken:
    """AssertionRejected (with a reason for the log) unless the token is the identity's."""
    claims = signed_claims(token, keys, max_length=MAX_TOKEN, accepted_typ=_ACCEPTED_TYP)
    return _checked(claims, issuer=issuer, subject=subject, audiences=set(audiences), now=now)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _checked(
    claims: Mapping[str, Any], *, issuer: str, subject: str, audiences: set[str], now: int
) -> VerifiedToken:
    if claims.get("iss") != issuer:
        raise AssertionRejected("iss is not the trusted issuer")
    if subject_of(claims) != subject:
        raise AssertionRejected("subject is not the mapped one")
    aud = claims.get("aud")
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and a in audiences for a in named):
        raise AssertionRejected("aud does not name VaultGuard")
    exp: Any = claims.get("exp")
    if not _number(exp):
        raise AssertionRejected("exp required")
    if exp <= now - LEEWAY:
        raise AssertionRejected("expired")
    if exp > now + MAX_REMAINING:
        raise AssertionRejected("exp too far ahead")
    iat: Any = claims.get("iat")
    if iat is not None and (not _number(iat) or iat > now + LEEWAY):
        raise AssertionRejected("iat in the future")
    nbf: Any = claims.get("nbf")
    if nbf is not None and (not _number(nbf) or nbf > now + LEEWAY):
        raise AssertionRejected("not yet valid")
    jti = claims.get("jti")
    if jti is not None and (not isinstance(jti, str) or not JTI.fullmatch(jti)):
        raise AssertionRejected("jti malformed")
    return VerifiedToken(jti=jti, exp=int(exp))
