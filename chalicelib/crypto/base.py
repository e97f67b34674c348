"""The Encryptor protocol, its errors and the helpers both implementations share."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

NONCE_BYTES = 12  # AES-GCM's recommended nonce size (NIST SP 800-38D §8.2)
KEY_BYTES = 32  # AES-256


class DecryptionFailed(Exception):
    """The blob is malformed, was tampered with, or belongs to another context or key."""


class EncryptionUnavailable(Exception):
    """The key service (KMS) could not be reached or refused; callers answer 503."""


@runtime_checkable
class Encryptor(Protocol):
    """Authenticated encryption bound to a context; the blob is a printable string."""

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> str: ...

    def decrypt(self, blob: str, context: dict[str, str]) -> bytes: ...


def canonical_context(context: Mapping[str, str]) -> bytes:
    """The context as AES-GCM associated data: sorted keys, no whitespace, UTF-8."""
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in context.items()):
        raise TypeError("an encryption context maps strings to strings")
    return json.dumps(dict(context), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionFailed("the blob is not valid base64url") from None


def split_blob(blob: str, prefix: str, parts: int) -> list[bytes]:
    """`<prefix>.<b64>.<b64>...` -> the decoded parts (exactly `parts` of them)."""
    if not isinstance(blob, str) or not blob.startswith(prefix + "."):
        raise DecryptionFailed(f"not a {prefix} blob")
    pieces = blob[len(prefix) + 1 :].split(".")
    if len(pieces) != parts or not all(pieces):
        raise DecryptionFailed(f"a {prefix} blob has {parts} parts")
    return [b64decode(p) for p in pieces]
