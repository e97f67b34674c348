"""Receiving side: verify a VaultGuard delegation token (DESIGN.md "Tokens", RFC 8725, RFC 9068).

Every check the server makes offline is made here too: RS256 only, the key only from the
issuer's JWKS by ``kid``, no ``crit``, ``typ`` = ``at+jwt``, exact ``iss`` and ``aud``,
required and well-typed claims. An optional ``introspect`` callable adds the registry check
(revoked delegations are refused). ``InvalidDelegationToken.reason`` is machine-readable and
uses the server's vocabulary; ``ServiceUnavailable`` means "could not check".
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ._errors import InvalidDelegationToken, ServiceUnavailable
from ._jwks import JWKSCache, jwks_url_for

__all__ = [
    "DELEGATION_TOKEN_TYP",
    "MAX_TOKEN_LENGTH",
    "ActionVerifier",
    "DelegationVerifier",
    "SupportsVerify",
    "VerifiedDelegation",
]

DELEGATION_TOKEN_TYP = "at+jwt"
MAX_TOKEN_LENGTH = 8 * 1024
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_REQUIRED = (
    "iss", "aud", "exp", "iat", "nbf", "jti", "sub",
    "scope", "client_id", "tenant_id", "receiving_tenant_id", "act",
)  # fmt: skip
_STRING_CLAIMS = ("jti", "sub", "scope", "client_id", "tenant_id", "receiving_tenant_id")
_TIME_CLAIMS = ("exp", "iat", "nbf")
_JWS = jwt.PyJWS(algorithms=["RS256"])

Introspect = Callable[[str], bool | Mapping[str, Any]]


@dataclass(frozen=True)
class VerifiedDelegation:
    """A delegation token that passed every check; what a receiving API may rely on."""

    delegation_id: str  # jti
    agent_id: str  # sub
    client_id: str
    scope: str  # the one action granted
    requesting_tenant_id: str  # tenant_id
    receiving_tenant_id: str
    expires_at: datetime  # exp, UTC
    claims: Mapping[str, Any] = field(repr=False, compare=False)


class SupportsVerify(Protocol):
    def verify(self, token: str, *, action: str | None = None) -> VerifiedDelegation: ...


def normalise_typ(value: object) -> str | None:
    """RFC 7515 §4.1.9: compared case-insensitively; the "application/" prefix is optional."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    if value.startswith("application/"):
        value = value[len("application/") :]
    return value if value and "/" not in value else None


def _check_action(action: str) -> str:
    if not isinstance(action, str) or not action.strip() or "*" in action or " " in action:
        raise ValueError("action must be one concrete action such as 'stock.write'")
    return action


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class DelegationVerifier:
    """Offline verification against ``issuer``'s JWKS, for tokens addressed to ``audience``.

    Build one per process and share it: the JWKS cache and its lock live on the instance.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        introspect: Introspect | None = None,
        *,
        leeway: float = 30,
        clock: Callable[[], float] = time.time,
        jwks: JWKSCache | None = None,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ValueError("issuer must be a non-empty string")
        if not isinstance(audience, str) or not audience:
            raise ValueError("audience must be a non-empty string")
        if leeway < 0:
            raise ValueError("leeway must not be negative")
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks or JWKSCache(jwks_url or jwks_url_for(issuer))
        self._introspect = introspect
        self._leeway = leeway
        self._clock = clock

    def verify(self, token: str, *, action: str | None = None) -> VerifiedDelegation:
        """The verified delegation, or ``InvalidDelegationToken`` / ``ServiceUnavailable``.

        With ``action``, the token's ``scope`` must equal it exactly (reason
        ``insufficient_scope`` otherwise); tokens never carry wildcards.
        """
        if action is not None:
            _check_action(action)
        _check_shape(token)
        key = self._key_for(token)
        claims = _signed_claims(token, key)
        self._check_claims(claims)
        if action is not None and claims["scope"] != action:
            raise InvalidDelegationToken("insufficient_scope", f"the delegation does not grant {action!r}")
        if self._introspect is not None:
            self._check_registry(token)
        return VerifiedDelegation(
            delegation_id=claims["jti"],
            agent_id=claims["sub"],
            client_id=claims["client_id"],
            scope=claims["scope"],
            requesting_tenant_id=claims["tenant_id"],
            receiving_tenant_id=claims["receiving_tenant_id"],
            expires_at=datetime.fromtimestamp(claims["exp"], tz=timezone.utc),  # noqa: UP017 (3.10)
            claims=MappingProxyType(claims),
        )

    def require_action(self, action: str) -> ActionVerifier:
        """A verifier (and a callable) that also requires ``scope == action``."""
        return ActionVerifier(self, _check_action(action))

    def _key_for(self, token: str) -> RSAPublicKey:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise InvalidDelegationToken("malformed", str(exc)) from None
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
            raise InvalidDelegationToken("bad_header", str(exc)) from None
        if "crit" in header:  # RFC 7515 §4.1.11: we understand no extension
            raise InvalidDelegationToken("bad_header", "no critical header extensions are understood")
        if "b64" in header:  # RFC 7797 unencoded payloads are refused
            raise InvalidDelegationToken("bad_header", "unencoded payloads are refused")
        if header.get("alg") != "RS256":  # RFC 8725 §3.1: exact allow-list
            raise InvalidDelegationToken("unsupported_alg", "only RS256 is accepted")
        if normalise_typ(header.get("typ")) != DELEGATION_TOKEN_TYP:  # RFC 8725 §3.11
            raise InvalidDelegationToken("bad_typ", "not a delegation token (typ at+jwt)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidDelegationToken("bad_header", "kid is missing")
        return self.jwks.get(kid)  # never jku / jwk / x5u / x5c (RFC 8725 §3.10)

    def _check_claims(self, claims: dict[str, Any]) -> None:
        for name in _REQUIRED:
            if claims.get(name) is None or (name == "aud" and claims["aud"] == ""):
                raise InvalidDelegationToken("missing_claim", f"{name} is required")
        if not isinstance(claims["iss"], str) or claims["iss"] != self.issuer:
            raise InvalidDelegationToken("wrong_issuer", "the token is from another issuer")
        if not isinstance(claims["aud"], str) or claims["aud"] != self.audience:
            raise InvalidDelegationToken("wrong_audience", "the token is addressed to someone else")
        for name in _STRING_CLAIMS:
            value = claims[name]
            if not isinstance(value, str) or not value.strip():
                raise InvalidDelegationToken("invalid_claim", f"{name} must be a non-empty string")
        for name in _TIME_CLAIMS:
            value = claims[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidDelegationToken("invalid_claim", f"{name} must be a NumericDate")
        if not isinstance(claims["act"], dict):
            raise InvalidDelegationToken("invalid_claim", "act must be an object")
        now = self._clock()
        if claims["exp"] <= now - self._leeway:
            raise InvalidDelegationToken("expired", "the delegation has expired")
        if claims["nbf"] > now + self._leeway:
            raise InvalidDelegationToken("not_yet_valid", "the delegation is not valid yet")
        if claims["iat"] > now + self._leeway:
            raise InvalidDelegationToken("not_yet_valid", "iat is in the future")

    def _check_registry(self, token: str) -> None:
        assert self._introspect is not None
        try:
            answer = self._introspect(token)
        except (InvalidDelegationToken, ServiceUnavailable):
            raise
        except Exception as exc:
            raise ServiceUnavailable(f"revocation check failed: {type(exc).__name__}") from None
        active = answer.get("active") is True if isinstance(answer, Mapping) else answer is True
        if not active:
            raise InvalidDelegationToken("revoked", "the delegation is no longer active")


class ActionVerifier:
    """``DelegationVerifier.require_action(action)``: usable as ``verifier(token)`` too."""

    def __init__(self, base: DelegationVerifier, action: str) -> None:
        self.base = base
        self.action = action

    def verify(self, token: str, *, action: str | None = None) -> VerifiedDelegation:
        if action is not None and action != self.action:
            raise ValueError(f"this verifier checks {self.action!r}, not {action!r}")
        return self.base.verify(token, action=self.action)

    def __call__(self, token: str) -> VerifiedDelegation:
        return self.verify(token)


def _check_shape(token: object) -> None:
    if not isinstance(token, str):
        raise InvalidDelegationToken("malformed", "the token is not a string")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidDelegationToken("malformed", "the token is too large")
    if not _COMPACT_JWS.fullmatch(token):
        raise InvalidDelegationToken("malformed", "not a compact JWS")


def _signed_claims(token: str, key: RSAPublicKey) -> dict[str, Any]:
    """Check the RS256 signature with ``key``; return the payload as a JSON object."""
    try:
        payload = _JWS.decode_complete(token, key, algorithms=["RS256"])["payload"]
    except jwt.InvalidSignatureError:
        raise InvalidDelegationToken("bad_signature", "the signature does not verify") from None
    except jwt.InvalidAlgorithmError:
        raise InvalidDelegationToken("unsupported_alg", "only RS256 is accepted") from None
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidDelegationToken("malformed", str(exc)) from None
    try:
        claims = json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, TypeError, RecursionError):
        raise InvalidDelegationToken("malformed", "the payload is not JSON") from None
    if not isinstance(claims, dict):
        raise InvalidDelegationToken("malformed", "the claims are not a JSON object")
    return claims
