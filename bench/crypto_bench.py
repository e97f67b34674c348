"""The physical bounds, measured in-process on this machine:

(a) raw RSA-2048 PKCS#1 v1.5 SHA-256 signing with `cryptography` (what every issuance pays once),
(b) raw `jwt.decode(..., algorithms=["RS256"], audience=..., issuer=...)` with PyJWT (what every
    verification pays once), plus raw RSA verification beneath it for reference,
(e) VaultGuard's own `TokenVerifier.verify` (header checks, kid lookup, PyJWT, claim checks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench._timing import Repetition, run_loop, summarise
from chalicelib.domain.delegation import DELEGATION_TOKEN_TYP, TokenGrant
from chalicelib.services.verification import DELEGATION_CLAIMS
from chalicelib.tokens import KeySet, LocalKeySigner, TokenVerifier, encode_jwt

ISSUER = "http://127.0.0.1:8000"
AUDIENCE = "urn:vaultguard:tenant:tnt_bbbbbbbbbbbbbbbbbbbb"


@dataclass
class Material:
    key: rsa.RSAPrivateKey
    signer: LocalKeySigner
    token: str
    signing_input: bytes


def make_material() -> Material:
    """One RSA-2048 key and a delegation token exactly as the service mints it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = LocalKeySigner(key)
    now = int(time.time())
    grant = TokenGrant(
        delegation_id="dlg_0197a1b2c3d4" + "e5f60718293a4b5c6d7e8f90a1b2c3d4",
        issuer=ISSUER,
        audience=AUDIENCE,
        agent_id="agt_11111111111111111111",
        client_id="vgc_222222222222222222222222",
        requesting_tenant_id="tnt_aaaaaaaaaaaaaaaaaaaa",
        receiving_tenant_id="tnt_bbbbbbbbbbbbbbbbbbbb",
        action="stock.write",
        issued_at=now,
        expires_at=now + 3600,
    )
    token = encode_jwt(signer, grant.claims(), typ=DELEGATION_TOKEN_TYP)
    signing_input = token.rsplit(".", 1)[0].encode("ascii")
    return Material(key, signer, token, signing_input)


def _reps(op: Any, repeats: int, seconds: float, max_ops: int) -> list[Repetition]:
    for _ in range(min(200, max_ops)):  # warm-up: caches, branch predictors, lazy imports
        op()
    return [run_loop(op, max_ops=max_ops, max_seconds=seconds, min_ops=20) for _ in range(repeats)]


def bench_raw_sign(m: Material, repeats: int, seconds: float, max_ops: int) -> dict[str, Any]:
    key, data, pad, alg = m.key, m.signing_input, padding.PKCS1v15(), hashes.SHA256()
    return summarise(_reps(lambda: key.sign(data, pad, alg), repeats, seconds, max_ops))


def bench_raw_rsa_verify(m: Material, repeats: int, seconds: float, max_ops: int) -> dict[str, Any]:
    public = m.key.public_key()
    signature = m.key.sign(m.signing_input, padding.PKCS1v15(), hashes.SHA256())
    data, pad, alg = m.signing_input, padding.PKCS1v15(), hashes.SHA256()
    return summarise(_reps(lambda: public.verify(signature, data, pad, alg), repeats, seconds, max_ops))


def bench_raw_pyjwt_decode(m: Material, repeats: int, seconds: float, max_ops: int) -> dict[str, Any]:
    public, token = m.key.public_key(), m.token
    # PyJWT accepts the key object directly (no PEM parsing per call, as the service does).
    jwt.decode(token, public, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)

    def op() -> None:
        jwt.decode(token, public, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)

    return summarise(_reps(op, repeats, seconds, max_ops))


def bench_verifier(m: Material, repeats: int, seconds: float, max_ops: int) -> dict[str, Any]:
    verifier = TokenVerifier(KeySet(m.signer), ISSUER)
    token = m.token

    def op() -> dict[str, Any]:
        return verifier.verify(
            token, typ=DELEGATION_TOKEN_TYP, audience=AUDIENCE, required_claims=DELEGATION_CLAIMS
        )

    assert op()["scope"] == "stock.write"

    return summarise(_reps(op, repeats, seconds, max_ops))


def bench_encode_jwt(m: Material, repeats: int, seconds: float, max_ops: int) -> dict[str, Any]:
    """VaultGuard's own `encode_jwt` (claims -> canonical JSON -> sign -> compact JWS)."""
    signer, claims = m.signer, jwt.decode(m.token, options={"verify_signature": False})
    return summarise(
        _reps(lambda: encode_jwt(signer, claims, typ=DELEGATION_TOKEN_TYP), repeats, seconds, max_ops)
    )
