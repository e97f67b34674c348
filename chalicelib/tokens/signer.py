"""RS256 signers (RFC 7518 §3.3): a local PEM key or an AWS KMS asymmetric key."""

from __future__ import annotations

import hashlib
import pathlib
import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ..private_files import create_private_file
from .keys import jwk_thumbprint

__all__ = ["KmsSigner", "LocalKeySigner", "Signer", "SigningUnavailable"]

MIN_RSA_BITS = 2048
_KMS_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"


class SigningUnavailable(Exception):
    """The signing backend (KMS) cannot be reached or refused; callers answer 503."""


@runtime_checkable
class Signer(Protocol):
    """Produces RS256 signatures (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3)."""

    @property
    def kid(self) -> str: ...

    def public_key(self) -> rsa.RSAPublicKey: ...

    def sign(self, signing_input: bytes) -> bytes: ...


def _require_rsa_public(key: object) -> rsa.RSAPublicKey:
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise TypeError(f"an RSA public key of at least {MIN_RSA_BITS} bits is required")
    return key


class LocalKeySigner:
    """Signs with an in-process RSA private key (loaded once, kept as a key object)."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise TypeError("an RSA private key is required")
        self._private_key = private_key
        self._public_key = _require_rsa_public(private_key.public_key())
        self._kid = jwk_thumbprint(self._public_key)

    @classmethod
    def from_private_key(cls, key: rsa.RSAPrivateKey) -> LocalKeySigner:
        return cls(key)

    @classmethod
    def load_or_create(cls, path: pathlib.Path) -> LocalKeySigner:
        """Load the PKCS#8 PEM key at ``path``; first create an RSA-2048 one (0600)."""
        path = pathlib.Path(path)
        if not path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            if create_private_file(path, pem):
                return cls(key)
        # The file existed, or a concurrent process created it first: use that key.
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise TypeError(f"{path} does not hold an RSA private key")
        return cls(loaded)

    @property
    def kid(self) -> str:
        return self._kid

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public_key

    def sign(self, signing_input: bytes) -> bytes:
        return self._private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


class KmsSigner:
    """Signs with an AWS KMS RSA key (SIGN_VERIFY); the client is built lazily."""

    def __init__(self, key_id: str, client_factory: Callable[[], Any]) -> None:
        self._key_id = key_id
        self._client_factory = client_factory
        self._client: Any = None
        self._public_key: rsa.RSAPublicKey | None = None
        self._kid: str | None = None
        self._lock = threading.Lock()

    def _kms(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = self._client_factory()
                    except (BotoCoreError, ClientError) as exc:
                        raise SigningUnavailable(f"cannot create KMS client: {exc}") from exc
        return self._client

    def _load_public_key(self) -> rsa.RSAPublicKey:
        if self._public_key is None:
            try:
                der = self._kms().get_public_key(KeyId=self._key_id)["PublicKey"]
            except (BotoCoreError, ClientError) as exc:
                raise SigningUnavailable(f"KMS GetPublicKey failed: {exc}") from exc
            try:
                key = _require_rsa_public(serialization.load_der_public_key(der))
            except (TypeError, ValueError) as exc:
                raise SigningUnavailable(f"KMS key is not usable for RS256: {exc}") from exc
            self._kid = jwk_thumbprint(key)
            self._public_key = key
        return self._public_key

    @property
    def kid(self) -> str:
        self._load_public_key()
        assert self._kid is not None
        return self._kid

    def public_key(self) -> rsa.RSAPublicKey:
        return self._load_public_key()

    def sign(self, signing_input: bytes) -> bytes:
        """KMS Sign with MessageType=DIGEST: we hash, KMS signs the SHA-256 digest.

        The signature is checked against the cached public key before it is returned,
        so a wrong key or a KMS (emulator) mishandling DIGEST never yields bad tokens.
        """
        public_key = self._load_public_key()
        digest = hashlib.sha256(signing_input).digest()
        try:
            response = self._kms().sign(
                KeyId=self._key_id,
                Message=digest,
                MessageType="DIGEST",
                SigningAlgorithm=_KMS_ALGORITHM,
            )
        except (BotoCoreError, ClientError) as exc:
            raise SigningUnavailable(f"KMS Sign failed: {exc}") from exc
        signature = response["Signature"]
        if not isinstance(signature, bytes) or not signature:
            raise SigningUnavailable("KMS Sign returned no signature")
        try:
            public_key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        except InvalidSignature as exc:
            raise SigningUnavailable("KMS signature does not match the KMS public key") from exc
        return signature
