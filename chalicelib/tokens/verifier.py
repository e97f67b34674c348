"""RS256 JWT verification following RFC 8725 (JWT BCP) and docs/architecture.md, "Tokens".

The token is split and base64url-decoded once (`jwt_codec.parse_compact`); the header picks
the key from our own KeySet; PyJWT's RS256 algorithm object, built once, checks the
signature; the claims are then checked here. Decoding the token once instead of three times
(PyJWT's header peek, then its full decode) is what brings verification to the speed of a
bare `jwt.decode` (bench/crypto_bench.py) without giving up any of the checks below.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm

from .jwks import KeySet
from .jwt_codec import CompactJWS, MalformedJWS, parse_compact, parse_json_object

__all__ = ["MAX_TOKEN_LENGTH", "TokenRejected", "TokenVerifier"]

MAX_TOKEN_LENGTH = 8 * 1024
_BASE_CLAIMS = ("iss", "aud", "exp", "iat", "jti", "sub")
_TIME_CLAIMS = ("exp", "iat", "nbf")
_RS256 = RSAAlgorithm(RSAAlgorithm.SHA256)  # the only algorithm we accept (RFC 8725 §3.1)


class TokenRejected(Exception):
    """The token is not acceptable; ``reason`` is short and machine-readable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _normalise_typ(value: object) -> str | None:
    """RFC 7515 §4.1.9: case-insensitive media type; "application/" may be omitted."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    if value.startswith("application/"):
        value = value[len("application/") :]
    return value if value and "/" not in value else None


def _is_numeric_date(value: object) -> bool:
    """RFC 7519 §2 NumericDate: a JSON number (not a boolean), finite."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


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
        try:
            jws = parse_compact(token)
        except MalformedJWS as exc:
            raise TokenRejected("malformed", str(exc)) from None
        key = self._key_for(jws.header, expected_typ)
        claims = self._signed_claims(jws, key)
        self._check_claims(claims, audience, required_claims)
        return claims

    def _key_for(self, header: dict[str, Any], expected_typ: str) -> RSAPublicKey:
        if "crit" in header:  # RFC 7515 §4.1.11: no extension is understood
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

    @staticmethod
    def _signed_claims(jws: CompactJWS, key: RSAPublicKey) -> dict[str, Any]:
        """The payload, decoded only once its RS256 signature verifies with ``key``."""
        if not _RS256.verify(jws.signing_input, key, jws.signature):
            raise TokenRejected("bad_signature", "signature verification failed")
        try:
            return parse_json_object(jws.payload(), "payload")
        except MalformedJWS as exc:
            raise TokenRejected("malformed", str(exc)) from None

    def _check_claims(self, claims: dict[str, Any], audience: str, required_claims: Sequence[str]) -> None:
        """RFC 7519 §4.1 and RFC 8725 §3.8-3.9: required, typed, exact iss and aud, times."""
        for name in (*_BASE_CLAIMS, *required_claims):
            if claims.get(name) is None:
                raise TokenRejected("missing_claim", f"{name} is required")
        if not claims["aud"]:
            raise TokenRejected("missing_claim", "aud is required")
        for name in ("jti", "sub"):
            value = claims[name]
            if not isinstance(value, str) or not value.strip():
                raise TokenRejected("invalid_claim", f"{name} must be a non-empty string")
        for name in _TIME_CLAIMS:
            if name in claims and not _is_numeric_date(claims[name]):
                raise TokenRejected("invalid_claim", f"{name} must be a NumericDate")
        now = time.time()
        if claims["iat"] > now + self._leeway:
            raise TokenRejected("not_yet_valid", "iat is in the future")
        if "nbf" in claims and claims["nbf"] > now + self._leeway:
            raise TokenRejected("not_yet_valid", "the token is not valid yet (nbf)")
        if claims["exp"] <= now - self._leeway:
            raise TokenRejected("expired", "the token has expired")
        iss = claims["iss"]
        if not isinstance(iss, str) or iss != self._issuer:
            raise TokenRejected("wrong_issuer", "the token is from another issuer")
        aud = claims["aud"]
        if not isinstance(aud, str) or aud != audience:  # a single, exact audience
            raise TokenRejected("wrong_audience", "the token is addressed to someone else")
