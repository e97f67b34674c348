"""An OAuth 2.0 / OpenID provider in memory for the vault tests, standing in for Google (or
the local stand-in, `local-google`): discovery with RFC 9207 `iss` support, an authorization
step that records the request, a token endpoint that checks client authentication, the
redirect URI and the PKCE verifier (RFC 7636 §4.6) and issues refresh tokens, the refresh
grant (optionally rotating, optionally down-scoped) and RFC 7009 revocation. It speaks the
vault's transport (`get`, `post`)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from chalicelib.vault.transport import HttpAnswer

ISSUER = "https://google.fake.test/google"
CLIENT_ID = "vaultguard-vault-local"
CLIENT_SECRET = "vault-local-client-secret"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Grant:
    sub: str
    email: str
    client_id: str
    scopes: tuple[str, ...]
    refresh_token: str
    revoked: bool = False


@dataclass
class FakeProvider:
    issuer: str = ISSUER
    clients: dict[str, str] = field(default_factory=lambda: {CLIENT_ID: CLIENT_SECRET})
    rotate: bool = False
    iss_supported: bool = True
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)  # by refresh token
    revoked: list[str] = field(default_factory=list)
    issued_refresh_tokens: list[str] = field(default_factory=list)
    issued_access_tokens: list[str] = field(default_factory=list)
    access_token_scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # what each carries
    id_token_overrides: dict[str, Any] = field(default_factory=dict)
    fail_next: list[HttpAnswer] = field(default_factory=list)  # answers the token endpoint gives first
    token_endpoint_calls: int = 0

    @property
    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/auth",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "revocation_endpoint": self.issuer + "/token/revocation",
            "authorization_response_iss_parameter_supported": self.iss_supported,
            "scopes_supported": ["openid", "email", "offline_access", "calendar.readonly", "gmail.readonly"],
        }

    # -- the vault's transport -------------------------------------------------------------------
    def get(self, url: str) -> tuple[int, bytes]:
        if url == self.issuer + "/.well-known/openid-configuration":
            return 200, json.dumps(self.discovery).encode()
        if url == self.issuer + "/jwks":
            jwk = RSAAlgorithm.to_jwk(_KEY.public_key(), as_dict=True)
            return 200, json.dumps({"keys": [{**jwk, "kid": "g1", "use": "sig", "alg": "RS256"}]}).encode()
        return 404, b"{}"

    def post(self, url: str, form: Mapping[str, str], basic_auth: tuple[str, str] | None) -> HttpAnswer:
        if basic_auth is None or self.clients.get(basic_auth[0]) != basic_auth[1]:
            return _error(401, "invalid_client")
        if url == self.issuer + "/token/revocation":
            token = str(form.get("token"))
            self.revoked.append(token)
            grant = self.grants.get(token)
            if grant is not None:
                grant.revoked = True
            return HttpAnswer(200, b"")
        if url != self.issuer + "/token":
            return HttpAnswer(404, b"{}")
        self.token_endpoint_calls += 1
        if self.fail_next:
            return self.fail_next.pop(0)
        if form.get("grant_type") == "authorization_code":
            return self._code(form, basic_auth[0])
        if form.get("grant_type") == "refresh_token":
            return self._refresh(form, basic_auth[0])
        return _error(400, "unsupported_grant_type")

    # -- what the person does at the provider ------------------------------------------------------
    def authorize(
        self,
        authorize_url: str,
        sub: str = "g-sub-1",
        email: str = "ada@medicore.example",
        granted: tuple[str, ...] | None = None,
    ) -> dict[str, str]:
        """The person consents: the query the provider redirects back with (code, state, iss)."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        assert query["code_challenge_method"] == "S256" and query["response_type"] == "code"
        scopes = tuple(query["scope"].split(" ")) if granted is None else granted
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**query, "sub": sub, "email": email, "granted": scopes}
        return {"code": code, "state": query["state"], "iss": self.issuer}

    # -- the token endpoint -------------------------------------------------------------------------
    def _code(self, form: Mapping[str, str], client_id: str) -> HttpAnswer:
        request = self.codes.pop(str(form.get("code")), None)
        if request is None or request["client_id"] != client_id:
            return _error(400, "invalid_grant")
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if challenge != request["code_challenge"] or form.get("redirect_uri") != request["redirect_uri"]:
            return _error(400, "invalid_grant")
        scopes = request["granted"]
        answer = self._tokens(
            request["sub"],
            request["email"],
            client_id,
            scopes,
            with_refresh="offline_access" in scopes or "access_type" in request,
        )
        if "openid" in scopes:
            answer["id_token"] = self._id_token(
                request["sub"], request["email"], client_id, request.get("nonce")
            )
        return HttpAnswer(200, json.dumps(answer).encode(), {"cache-control": "no-store"})

    def _refresh(self, form: Mapping[str, str], client_id: str) -> HttpAnswer:
        grant = self.grants.get(str(form.get("refresh_token")))
        if grant is None or grant.revoked or grant.client_id != client_id:
            return _error(400, "invalid_grant")
        asked = tuple(str(form["scope"]).split(" ")) if form.get("scope") else grant.scopes
        if not set(asked) <= set(grant.scopes):
            return _error(400, "invalid_scope")
        if self.rotate:
            grant.revoked = True
            answer = self._tokens(grant.sub, grant.email, client_id, grant.scopes, with_refresh=True)
            answer["scope"] = " ".join(asked)
        else:
            answer = self._access(asked)
        return HttpAnswer(200, json.dumps(answer).encode())

    def _access(self, scopes: tuple[str, ...]) -> dict[str, Any]:
        token = "at-" + secrets.token_hex(16)
        self.issued_access_tokens.append(token)
        self.access_token_scopes[token] = scopes
        return {"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": " ".join(scopes)}

    def _tokens(
        self, sub: str, email: str, client_id: str, scopes: tuple[str, ...], *, with_refresh: bool
    ) -> dict[str, Any]:
        answer = self._access(scopes)
        if with_refresh:
            refresh = "1//rt-CANARY-" + secrets.token_hex(20)
            self.issued_refresh_tokens.append(refresh)
            self.grants[refresh] = Grant(sub, email, client_id, scopes, refresh)
            answer["refresh_token"] = refresh
        return answer

    def _id_token(self, sub: str, email: str, client_id: str, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "email": email,
            "email_verified": True,
            "nonce": nonce,
            **self.id_token_overrides,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, _KEY, algorithm="RS256", headers={"kid": "g1"})


def _error(status: int, error: str, headers: Mapping[str, str] | None = None) -> HttpAnswer:
    return HttpAnswer(status, json.dumps({"error": error}).encode(), dict(headers or {}))


def error_answer(status: int, error: str = "server_error", retry_after: str | None = None) -> HttpAnswer:
    return _error(status, error, {"retry-after": retry_after} if retry_after else None)
