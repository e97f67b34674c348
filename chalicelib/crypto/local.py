"""AES-256-GCM under a key-encryption key kept in `<state_dir>/local-kek.bin` (0600).

For the embedded stack and tests: the key file is the only secret, created once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..private_files import create_private_file
from .base import KEY_BYTES, NONCE_BYTES, DecryptionFailed, b64encode, canonical_context, split_blob

PREFIX = "v1.local"
KEK_FILE = "local-kek.bin"


class LocalEncryptor:
    """`v1.local.<nonce>.<ciphertext+tag>`; the context and the prefix are the AAD."""

    def __init__(self, kek_path: Path) -> None:
        self._path = Path(kek_path)
        self._aead: AESGCM | None = None
        self._lock = threading.Lock()

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> LocalEncryptor:
        return cls(Path(state_dir) / KEK_FILE)

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._key().encrypt(nonce, bytes(plaintext), _aad(context))
        return f"{PREFIX}.{b64encode(nonce)}.{b64encode(sealed)}"

    def decrypt(self, blob: str, context: dict[str, str]) -> bytes:
        nonce, sealed = split_blob(blob, PREFIX, 2)
        if len(nonce) != NONCE_BYTES:
            raise DecryptionFailed("bad nonce")
        try:
            return self._key().decrypt(nonce, sealed, _aad(context))
        except InvalidTag:
            raise DecryptionFailed("the blob does not open under this key and context") from None

    def _key(self) -> AESGCM:
        with self._lock:
            if self._aead is None:
                self._aead = AESGCM(_load_or_create(self._path))
            return self._aead


def _aad(context: dict[str, str]) -> bytes:
    return PREFIX.encode() + b"|" + canonical_context(context)


def load_or_create_key(path: Path) -> bytes:
    """A 256-bit key in a 0600 file, created at first use (concurrent creators agree)."""
    return _load_or_create(path)


def _load_or_create(path: Path) -> bytes:
    if not path.exists():
        create_private_file(path, AESGCM.generate_key(bit_length=KEY_BYTES * 8))
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path} must hold exactly {KEY_BYTES} bytes")
    return key
