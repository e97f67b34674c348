"""Published keys in memory: trusted external issuers (discovery + JWKS) and agents' jwks_uri
documents, speaking `RemoteKeys`' fetch (`get(url) -> (status, body)`), with a clock the
tests move (the cache's TTL and its refetch interval)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from chalicelib.tokens.remote_jwks import RemoteKeys
from tests.functional.conftest import ISSUER as VAULTGUARD


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    jwk = dict(RSAAlgorithm.to_jwk(key.public_key(), as_dict=True))
    jwk.pop("key_ops", None)
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig", "x5t": "ignored-member"}


@dataclass
class Issuer:
    """An OIDC issuer (Auth0 tenant, Kubernetes cluster, GitHub Actions...) with its keys."""

    url: str
    keys: dict[str, Any] = field(default_factory=lambda: {"k1": rsa_key()})

    def token(
        self,
        subject: str | None,
        *,
        kid: str = "k1",
        key: Any = None,
        alg: str = "RS256",
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.url,
            "sub": subject,
            "aud": VAULTGUARD,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        head = {"kid": kid, "typ": "at+jwt", **(headers or {})}
        return jwt.encode(body, key or self.keys[kid], algorithm=alg, headers=head)

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(k, kid) for kid, k in self.keys.items()]}


@dataclass
class Publisher:
    issuers: dict[str, Issuer] = field(default_factory=dict)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # url -> JSON (jwks_uri)
    down: set[str] = field(default_factory=set)
    fetched: list[str] = field(default_factory=list)
    now: float = 1000.0

    def issuer(self, url: str) -> Issuer:
        self.issuers[url] = Issuer(url)
        return self.issuers[url]

    def clock(self) -> float:
        return self.now

    def get(self, url: str) -> tuple[int, bytes]:
        self.fetched.append(url)
        if url in self.down:
            raise ConnectionError("publisher unreachable")
        if url in self.documents:
            return 200, json.dumps(self.documents[url]).encode()
        for issuer in self.issuers.values():
            base = issuer.url.rstrip("/")
            if url == base + "/.well-known/openid-configuration":
                doc = {"issuer": issuer.url, "jwks_uri": base + "/jwks"}
                return 200, json.dumps(doc).encode()
            if url == base + "/jwks":
                return 200, json.dumps(issuer.jwks).encode()
        return 404, b"{}"

    def remote_keys(self) -> RemoteKeys:
        return RemoteKeys(self.get, clock=self.clock)
