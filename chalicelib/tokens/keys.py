"""RSA public keys as JWKs (RFC 7517, RFC 7518 §6.3) and thumbprints (RFC 7638)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = ["b64url_encode", "jwk_thumbprint", "public_jwk"]


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    """Base64urlUInt (RFC 7518 §2): big-endian, minimal length, no padding."""
    length = max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(length, "big"))


def _rsa_members(public_key: RSAPublicKey) -> tuple[str, str]:
    if not isinstance(public_key, RSAPublicKey):
        raise TypeError("an RSA public key is required")
    numbers = public_key.public_numbers()
    return _b64url_uint(numbers.n), _b64url_uint(numbers.e)


def jwk_thumbprint(public_key: RSAPublicKey) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, without whitespace."""
    n, e = _rsa_members(public_key)
    canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, sort_keys=True, separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def public_jwk(public_key: RSAPublicKey, kid: str) -> dict[str, Any]:
    """The public JWK for an RS256 signing key (RFC 7517 §4, RFC 7518 §6.3.1)."""
    n, e = _rsa_members(public_key)
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e}
