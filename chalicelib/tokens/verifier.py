"""RS256 JWT verification following RFC 8725 (JWT BCP) and DESIGN.md "Tokens"."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import jwt
from jwt.exceptions import InvalidJTIError, InvalidSubjectError

from .jwks import KeySet

__all__ = ["MAX_TOKEN_LENGTH", "TokenRejected", "TokenVerifier"]

MAX_TOKEN_LENGTH = 8 * 1024
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_BASE_CLAIMS = ("iss", "aud", "exp", "iat", "jti", "sub")
_TIME_CLAIMS = ("exp", "iat", "nbf")

# Most specific first: InvalidSignatureError is a DecodeError, and every token error is
# an InvalidTokenError.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidAlgorithmError, "unsupported_alg"),
    (jwt.InvalidIssuedAtError, "invalid_claim"),
    (InvalidSubjectError, "invalid_claim"),
    (InvalidJTIError, "invalid_claim"),
    (jwt.DecodeError, "malformed"),
    (jwt.InvalidKeyError, "bad_key"),
)


class TokenRejected(Exception):
    """The token is not acceptable; ``reason`` is short and machine-readable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _reason_for(exc: Exception) -> str:
    for exc_type, reason in _REASONS:
        if isinstance(exc, exc_type):
            return reason
    return "invalid_token"


def _normalise_typ(value: object) -> str | None:
    """RFC 7515 §4.1.9: case-insensitive media type; "application/" may be omitted."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    if value.startswith("application/"):
        value = value[len("application/") :]
    return value if value and "/" not in value else None


class TokenVerifier:
    """Verifies RS256 tokens against our own KeySet only (RFC 8725 §3.1, §3.10)."""

    def __init__(self, keys: KeySet, issuer: str, leeway_seconds: int = 30) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ValueError("issuer must be a non-empty string")
        if leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")
        self._keys = keys
        self._issuer = issuer
        self._leeway = leeway_seconds

    def verify(
        self, token: str, *, typ: str, audience: str, required_claims: Sequence[str]
    ) -> dict[str, Any]:
        """Return the claims of a valid token or raise ``TokenRejected``."""
        expected_typ = _normalise_typ(typ)
        if expected_typ is None or isinstance(required_claims, str):
            raise ValueError("typ must be a media type; required_claims a sequence of names")
        if not isinstance(audience, str) or not audience:
            raise TokenRejected("wrong_audience", "no audience to check against")
        if not isinstance(token, str):
            raise TokenRejected("malformed", "token is not a string")
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenRejected("malformed", "token too large")
        if not _COMPACT_JWS.fullmatch(token):
            raise TokenRejected("malformed", "not a compact JWS")
        key = self._key_for(token, expected_typ)
        claims = self._decode(token, key, audience, required_claims)
        self._check_claims(claims)
        return claims

    def _key_for(self, token: str, expected_typ: str) -> Any:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise TokenRejected("malformed", str(exc)) from None
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
            # e.g. a non-string kid, an unsupported or bad "crit" (RFC 7515 §4.1.11)
            raise TokenRejected("bad_header", str(exc)) from None
        if "crit" in header:
            raise TokenRejected("bad_header", "no critical extensions are understood")
        if "b64" in header:
            raise TokenRejected("bad_header", "unencoded payloads (RFC 7797) are refused")
        if header.get("alg") != "RS256":  # RFC 8725 §3.1: exact allow-list, no "none"
            raise TokenRejected("unsupported_alg", "only RS256 is accepted")
        if _normalise_typ(header.get("typ")) != expected_typ:  # RFC 8725 §3.11
            raise TokenRejected("bad_typ", "unexpected token type")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("bad_header", "kid is missing")
        key = self._keys.get(kid)  # never jku/jwk/x5u/x5c (RFC 8725 §3.10)
        if key is None:
            raise TokenRejected("unknown_kid", "kid is not in our key set")
        return key

    def _decode(self, token: str, key: Any, audience: str, required_claims: Sequence[str]) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={
                    "require": [*_BASE_CLAIMS, *required_claims],
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iat": True,
                    "verify_aud": True,
                    "verify_iss": True,
                    "strict_aud": True,
                },
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected(_reason_for(exc), str(exc)) from None
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise TokenRejected("malformed", str(exc)) from None
        if not isinstance(claims, dict):
            raise TokenRejected("malformed", "claims are not a JSON object")
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        """Checks PyJWT does not make: types (RFC 7519 §2, §4.1) and non-empty ids."""
        for name in ("jti", "sub"):
            value = claims.get(name)
            if not isinstance(value, str) or not value.strip():
                raise TokenRejected("invalid_claim", f"{name} must be a non-empty string")
        for name in _TIME_CLAIMS:
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise TokenRejected("invalid_claim", f"{name} must be a NumericDate")
        if claims["iat"] > time.time() + self._leeway:
            raise TokenRejected("not_yet_valid", "iat is in the future")
