"""Test keys (generated per run), a stub JWKS and token builders for the SDK verifier tests."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from vaultguard import DelegationVerifier, JWKSCache, ServiceUnavailable

ISSUER = "http://127.0.0.1:8000"
AUDIENCE = "urn:vaultguard:tenant:natsupply"
DELEGATION_TYP = "at+jwt"
API_TYP = "vg-api+jwt"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


@functools.cache
def rsa_key(index: int) -> rsa.RSAPrivateKey:
    """Key 0 is the issuer's, the others are foreign or retired keys."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    members = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    kid = b64url(hashlib.sha256(members.encode()).digest())  # RFC 7638
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": jwk["n"], "e": jwk["e"]}


def kid_of(key: rsa.RSAPrivateKey) -> str:
    return str(public_jwk(key)["kid"])


def make_claims(**overrides: Any) -> dict[str, Any]:
    """Valid delegation claims; an override of None removes the claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "agent-medicore-1",
        "aud": AUDIENCE,
        "client_id": "agent-medicore-1",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "dlg-0001",
        "scope": "stock.write",
        "tenant_id": "medicore",
        "receiving_tenant_id": "natsupply",
        "act": {"sub": "agent-medicore-1"},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def header(key: rsa.RSAPrivateKey | None = None, **overrides: Any) -> dict[str, Any]:
    head = {"alg": "RS256", "typ": DELEGATION_TYP, "kid": kid_of(key or rsa_key(0))}
    head.update(overrides)
    return {k: v for k, v in head.items() if v is not None}


def rs256(key: rsa.RSAPrivateKey, head: dict[str, Any], claims: Any) -> str:
    """Hand-made RS256 JWS, so tests can put anything in the header."""
    signing_input = f"{b64json(head)}.{b64json(claims)}"
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(sig)}"


def token(typ: str = DELEGATION_TYP, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
    """A token signed with PyJWT, as the server signs them."""
    key = key or rsa_key(0)
    return jwt.encode(make_claims(**claims), key, algorithm="RS256", headers={"typ": typ, "kid": kid_of(key)})


class StubJWKS:
    """A fetch function for JWKSCache: serves ``keys``, counts calls, can be made to fail."""

    def __init__(self, *keys: rsa.RSAPrivateKey) -> None:
        self.keys = list(keys or (rsa_key(0),))
        self.calls = 0
        self.fail = False

    def __call__(self, url: str) -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            raise ServiceUnavailable("stub JWKS is down")
        return {"keys": [public_jwk(k) for k in self.keys]}


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def verifier(stub: StubJWKS | None = None, **kwargs: Any) -> DelegationVerifier:
    names = ("min_refresh_interval", "error_backoff", "max_age")
    jwks_options = {k: kwargs.pop(k) for k in names if k in kwargs}
    if "jwks_clock" in kwargs:
        jwks_options["clock"] = kwargs.pop("jwks_clock")
    cache = JWKSCache(f"{ISSUER}/.well-known/jwks.json", fetch=stub or StubJWKS(), **jwks_options)
    return DelegationVerifier(ISSUER, AUDIENCE, jwks=cache, **kwargs)
