"""Encryption of small secrets at rest (webhook signing secrets, vault refresh tokens).

`LocalEncryptor` (AES-256-GCM under a key file in the state directory) is the embedded
default; `KmsEncryptor` envelope-encrypts under an AWS KMS key. Both bind every blob to an
encryption context (`{"tenant_id": ...}`), so a blob copied to another tenant fails to open.
"""

from __future__ import annotations

from .base import DecryptionFailed, EncryptionUnavailable, Encryptor, canonical_context
from .kms import KmsEncryptor
from .local import LocalEncryptor

__all__ = [
    "DecryptionFailed",
    "EncryptionUnavailable",
    "Encryptor",
    "KmsEncryptor",
    "LocalEncryptor",
    "canonical_context",
]
