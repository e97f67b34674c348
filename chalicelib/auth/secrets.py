"""Client secrets are stored only as scrypt hashes (RFC 7914), with their parameters."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_R = 8
_P = 1
_DKLEN = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_secret(secret: str, n: int) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=_R, p=_P, dklen=_DKLEN, maxmem=2**27)
    return f"scrypt${n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """Constant-time check of `secret` against a stored hash; False for anything malformed."""
    if not isinstance(secret, str) or not isinstance(stored, str):
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        if len(expected) != _DKLEN:  # a truncated digest would accept wrong secrets
            return False
        actual = hashlib.scrypt(
            secret.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=2**27,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def burn_time(n: int) -> None:
    """Spend what a real check costs, so an unknown client id answers as slowly as a known one."""
    hashlib.scrypt(b"unknown-client", salt=b"\0" * 16, n=n, r=_R, p=_P, dklen=_DKLEN, maxmem=2**27)
