"""An OIDC provider in memory for the sign-in tests: it remembers each authorization
request, issues a one-time code for it, and answers the token endpoint with an ID token
bound to that request's nonce after checking the PKCE verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://idp.example.test/"
CLIENT_ID = "vaultguard-dashboard"
CLIENT_SECRET = "dashboard-secret"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Person:
    sub: str
    email: str
    email_verified: bool = True
    name: str | None = None


class FakeIdp:
    def __init__(self) -> None:
        self.discovery = {
            "issuer": ISSUER,
            "authorization_endpoint": ISSUER + "authorize",
            "token_endpoint": ISSUER + "token",
            "jwks_uri": ISSUER + "jwks",
            "end_session_endpoint": ISSUER + "logout",
            "authorization_response_iss_parameter_supported": True,
        }
        jwk = RSAAlgorithm.to_jwk(_KEY.public_key(), as_dict=True)
        self.jwks = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
        self._codes: dict[str, tuple[Person, dict[str, str]]] = {}
        self.token_overrides: dict[str, Any] = {}  # claims to change in the next ID tokens
        self.sign_with: Any = _KEY
        self.algorithm = "RS256"

    # -- the transport VaultGuard's client uses -------------------------------------------------
    def get(self, url: str) -> tuple[int, bytes]:
        if url == ISSUER.rstrip("/") + "/.well-known/openid-configuration":
            return 200, json.dumps(self.discovery).encode()
        if url == self.discovery["jwks_uri"]:
            return 200, json.dumps(self.jwks).encode()
        return 404, b"{}"

    def post_form(
        self, url: str, form: Mapping[str, str], basic_auth: tuple[str, str] | None
    ) -> tuple[int, bytes]:
        if basic_auth != (CLIENT_ID, CLIENT_SECRET):
            return 401, b'{"error": "invalid_client"}'
        entry = self._codes.pop(str(form.get("code")), None)
        if entry is None:
            return 400, b'{"error": "invalid_grant"}'
        person, request = entry
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if challenge != request["code_challenge"] or form.get("redirect_uri") != request["redirect_uri"]:
            return 400, b'{"error": "invalid_grant"}'
        return 200, json.dumps(
            {
                "token_type": "Bearer",
                "access_token": "x",
                "id_token": self._id_token(person, request["nonce"]),
            }
        ).encode()

    # -- what a browser at the provider would do --------------------------------------------------
    def authorize(self, authorize_url: str, person: Person) -> str:
        """The person signs in: the code for this authorization request."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        assert query["client_id"] == CLIENT_ID and query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self._codes[code] = (person, query)
        return code

    def _id_token(self, person: Person, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": person.sub,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            "nonce": nonce,
            "email": person.email,
            "email_verified": person.email_verified,
            "name": person.name,
        }
        claims.update(self.token_overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.sign_with
        if self.algorithm == "HS256" and isinstance(key, str):
            return _hs256(claims, key.encode())  # PyJWT rightly refuses to make this one
        return jwt.encode(claims, key, algorithm=self.algorithm, headers={"kid": "k1"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """The key-confusion forgery: HS256 "signed" with the provider's public key as secret."""
    signing_input = ".".join(
        _b64(json.dumps(part).encode()) for part in ({"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims)
    )
    return signing_input + "." + _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


OTHER_KEY = _OTHER_KEY
