"""`ClientKey`: an agent's private key for `private_key_jwt` (RFC 7523 §2.2, OpenID Connect
Core §9), so that the agent holds no shared secret at all.

VaultGuard keeps only the public half (`public_jwks()`, registered with `POST /agents {name,
jwks}` or published at a `jwks_uri`); the client signs a fresh assertion for each token
request (and each CIBA poll): `iss` = `sub` = its client id, `aud` = the token endpoint,
a new `jti`, `exp` a minute ahead.

    key = ClientKey.load("agent-key.pem")
    client = VaultGuardClient(api_url, client_id, private_key=key, dpop=True)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Union

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from ._dpop import _b64url

__all__ = ["ASSERTION_TYPE", "ClientKey", "PrivateKey"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 60  # seconds; VaultGuard accepts at most 300
PrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey]  # noqa: UP007
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


def _algorithm(key: object) -> tuple[str, Any]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("an EC client key must be on P-256 (ES256)")
        return "ES256", ECAlgorithm(ECAlgorithm.SHA256)
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ValueError("an RSA client key must have at least 2048 bits")
        return "RS256", RSAAlgorithm(RSAAlgorithm.SHA256)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA", OKPAlgorithm()
    raise ValueError("a client key must be a P-256, RSA (2048+) or Ed25519 private key")


class ClientKey:
    """A private signing key and its `kid` (default: the RFC 7638 thumbprint of its public
    JWK, which is what `public_jwks()` names it). The private half never leaves this object
    except through `private_pem()`, for the caller to store owner-only."""

    def __init__(self, private_key: PrivateKey, key_id: str | None = None) -> None:
        self.alg, algorithm = _algorithm(private_key)
        self._key = private_key
        public = json.loads(algorithm.to_jwk(private_key.public_key()))
        members = _THUMBPRINT_MEMBERS[public["kty"]]
        canonical = json.dumps({m: public[m] for m in members}, sort_keys=True, separators=(",", ":"))
        self.thumbprint = _b64url(hashlib.sha256(canonical.encode()).digest())
        self.key_id = key_id or self.thumbprint
        self._public = {**{m: public[m] for m in members}, "alg": self.alg, "use": "sig", "kid": self.key_id}

    def __repr__(self) -> str:
        return f"ClientKey({self.alg}, kid={self.key_id!r})"  # never the key

    @classmethod
    def generate(cls) -> ClientKey:
        """A new ES256 (P-256) key."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, data: str | bytes, key_id: str | None = None) -> ClientKey:
        raw = data.encode() if isinstance(data, str) else data
        key = serialization.load_pem_private_key(raw, password=None)
        return cls(key, key_id)  # type: ignore[arg-type]  # _algorithm refuses other kinds

    @classmethod
    def load(cls, path: str | os.PathLike[str], key_id: str | None = None) -> ClientKey:
        """Read a PEM private key (PKCS#8 or traditional, unencrypted) from a file."""
        return cls.from_pem(Path(path).read_bytes(), key_id)

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def public_jwk(self) -> dict[str, str]:
        return dict(self._public)

    def public_jwks(self) -> dict[str, list[dict[str, str]]]:
        """What to register for the agent: `{"keys": [public JWK]}`, no private member."""
        return {"keys": [self.public_jwk]}

    def assertion(self, client_id: str, audience: str, *, now: float | None = None) -> str:
        """A client assertion JWT (RFC 7523 §3) for one token request."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=self.alg, headers={"kid": self.key_id})

    def form(self, client_id: str, audience: str) -> dict[str, str]:
        """The client authentication parameters of a token request (RFC 7523 §2.2)."""
        return {
            "client_id": client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(client_id, audience),
        }


def as_client_key(value: ClientKey | PrivateKey | str | bytes | None) -> ClientKey | None:
    """What `private_key=` of the clients takes: a ClientKey, a key object, or PEM text."""
    if value is None or isinstance(value, ClientKey):
        return value
    if isinstance(value, (str, bytes)):
        return ClientKey.from_pem(value)
    return ClientKey(value)
