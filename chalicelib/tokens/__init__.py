"""VaultGuard token package: signers, JWKS, JWT encoding and verification.

This is the only place in VaultGuard where PyJWT is called.
"""

from __future__ import annotations

from .jwks import KeySet
from .jwt_codec import encode_jwt, token_fingerprint
from .keys import jwk_thumbprint, public_jwk
from .signer import KmsSigner, LocalKeySigner, Signer, SigningUnavailable
from .verifier import TokenRejected, TokenVerifier

__all__ = [
    "KeySet",
    "KmsSigner",
    "LocalKeySigner",
    "Signer",
    "SigningUnavailable",
    "TokenRejected",
    "TokenVerifier",
    "encode_jwt",
    "jwk_thumbprint",
    "public_jwk",
    "token_fingerprint",
]
