"""High-entropy secrets VaultGuard generates (client secrets; later webhook secrets, session
ids, invitation codes) are stored as HMAC-SHA256 under a server-side key.

A slow password KDF buys nothing for 256-bit random values and would cost tens of ms of CPU
per request (and hand anyone who can reach `/oauth/token` a cheap way to burn ours). The key
stays on the server (a 0600 file locally, a KMS-encrypted blob in production), so a leaked
table alone does not let anyone test guesses offline.

Hashes written before this change are scrypt (RFC 7914): they still verify, and the caller
rewrites them on their next successful use (`needs_rehash`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

HMAC_SCHEME = "hmac-sha256"
SCRYPT_SCHEME = "scrypt"
_SCRYPT_DKLEN = 32
MIN_KEY_BYTES = 32
SECRET_HASH_KEY_FILE = "secret-hash.key"  # in the state directory (local stack, tests)
SECRET_HASH_KEY_CONTEXT = {"purpose": "secret-hash-key"}  # KMS: the blob's encryption context


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class SecretHasher:
    """`hmac-sha256$<key id>$<digest>`; the key id lets a later key rotation tell hashes apart."""

    def __init__(self, key: Callable[[], bytes]) -> None:
        self._load_key = key
        self._key: bytes | None = None
        self._key_id = ""

    def _material(self) -> tuple[bytes, str]:
        if self._key is None:
            key = self._load_key()
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(f"the secret hashing key must have at least {MIN_KEY_BYTES} bytes")
            self._key_id = hashlib.sha256(b"vaultguard-secret-hash-key-id|" + key).hexdigest()[:8]
            self._key = key
        return self._key, self._key_id

    def _digest(self, secret: str) -> bytes:
        key, _ = self._material()
        return hmac.new(key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()

    def hash(self, secret: str) -> str:
        _, key_id = self._material()
        return f"{HMAC_SCHEME}${key_id}${_b64(self._digest(secret))}"

    def fingerprint(self, secret: str) -> str:
        """The keyed hash of a secret in URL-safe form, for keys: a session, an invitation or
        a sign-in under way is stored under it, never under the secret itself."""
        return base64.urlsafe_b64encode(self._digest(secret)).decode().rstrip("=")

    def verify(self, secret: str, stored: str) -> bool:
        """Constant-time check of `secret` against a stored hash; False for anything malformed."""
        if not isinstance(secret, str) or not isinstance(stored, str):
            return False
        if stored.startswith(SCRYPT_SCHEME + "$"):
            return _verify_scrypt(secret, stored)
        parts = stored.split("$")
        if len(parts) != 3 or parts[0] != HMAC_SCHEME:
            return False
        try:
            expected = base64.b64decode(parts[2], validate=True)
        except ValueError:
            return False
        actual = self._digest(secret)
        if len(expected) != len(actual):  # a truncated digest would accept wrong secrets
            return False
        return hmac.compare_digest(actual, expected)

    def needs_rehash(self, stored: str) -> bool:
        """True for a hash in an older form (scrypt, or another key) that should be rewritten."""
        _, key_id = self._material()
        return not stored.startswith(f"{HMAC_SCHEME}${key_id}$")

    def burn(self) -> None:
        """Spend what a real check costs, so an unknown client id answers like a known one."""
        self._digest("unknown-client")


def new_key_blob(encrypt: Callable[[bytes, dict[str, str]], str]) -> str:
    """A fresh secret-hashing key, sealed for `VAULTGUARD_SECRET_HASH_KEY_BLOB` (production:
    `encrypt` is the KMS envelope encryptor's, so only the deployment's role can open it)."""
    import secrets

    return encrypt(secrets.token_bytes(MIN_KEY_BYTES), SECRET_HASH_KEY_CONTEXT)


def scrypt_hash(secret: str, n: int, salt: bytes) -> str:
    """A legacy scrypt hash (tests build old records with it; nothing writes new ones)."""
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=8, p=1, dklen=_SCRYPT_DKLEN, maxmem=2**27)
    return f"{SCRYPT_SCHEME}${n}$8$1${_b64(salt)}${_b64(digest)}"


def _verify_scrypt(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        if len(expected) != _SCRYPT_DKLEN:
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
