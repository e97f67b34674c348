"""Envelope encryption with AWS KMS: a fresh AES-256 data key per blob from
`GenerateDataKey`, bound to the encryption context, and the data sealed locally with
AES-GCM. The encrypted data key travels in the blob; `Decrypt` needs the same context."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .base import (
    KEY_BYTES,
    NONCE_BYTES,
    DecryptionFailed,
    EncryptionUnavailable,
    b64encode,
    canonical_context,
    split_blob,
)

PREFIX = "v1.kms"
# KMS answers these when the blob or its context is wrong, not when KMS is unwell.
_REFUSALS = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class KmsEncryptor:
    """`v1.kms.<encrypted data key>.<nonce>.<ciphertext+tag>`; the KMS client is built lazily."""

    def __init__(self, key_id: str, client_factory: Callable[[], Any]) -> None:
        self._key_id = key_id
        self._client_factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> str:
        aad = canonical_context(context)
        try:
            answer = self._kms().generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=dict(context)
            )
        except (BotoCoreError, ClientError) as exc:
            raise EncryptionUnavailable(f"KMS GenerateDataKey failed: {exc}") from exc
        data_key, wrapped = answer["Plaintext"], answer["CiphertextBlob"]
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(data_key).encrypt(nonce, bytes(plaintext), aad)
        return f"{PREFIX}.{b64encode(wrapped)}.{b64encode(nonce)}.{b64encode(sealed)}"

    def decrypt(self, blob: str, context: dict[str, str]) -> bytes:
        wrapped, nonce, sealed = split_blob(blob, PREFIX, 3)
        aad = canonical_context(context)
        if len(nonce) != NONCE_BYTES:
            raise DecryptionFailed("bad nonce")
        try:
            answer = self._kms().decrypt(
                CiphertextBlob=wrapped, EncryptionContext=dict(context), KeyId=self._key_id
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _REFUSALS:
                raise DecryptionFailed("KMS refused the data key for this context") from None
            raise EncryptionUnavailable(f"KMS Decrypt failed: {exc}") from exc
        except BotoCoreError as exc:
            raise EncryptionUnavailable(f"KMS Decrypt failed: {exc}") from exc
        data_key = answer["Plaintext"]
        if len(data_key) != KEY_BYTES:
            raise DecryptionFailed("unexpected data key size")
        try:
            return AESGCM(data_key).decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise DecryptionFailed("the blob was tampered with") from None

    def _kms(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client
