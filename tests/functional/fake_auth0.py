"""A local Auth0 for the Token Vault backend's tests: a real HTTP server on 127.0.0.1 (one
thread per request) speaking what Auth0 documents — discovery and JWKS, `/authorize` with
`connection` and `connection_scope` (the person's consent at the provider is simulated: the
Token Vault gets a tokenset for the account and connection), `/oauth/token` for
`authorization_code` (PKCE) and the federated-connection token exchange
(https://auth0.com/docs/api/authentication/token-vault-token-exchange/get-token), and
`/oauth/revoke`. Requests may be form-encoded or JSON; the client authenticates with
client_secret_post or client_secret_basic. It records every federated request it gets."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "auth0-vaultguard-app"
CLIENT_SECRET = "auth0-app-secret-" + "x" * 16
CONNECTION = "google-oauth2"
FEDERATED_GRANT = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
FEDERATED_TOKEN_TYPE = "http://auth0.com/oauth/token-type/federated-connection-access-token"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeAuth0:
    clients: dict[str, str] = field(default_factory=lambda: {CLIENT_ID: CLIENT_SECRET})
    connections: tuple[str, ...] = (CONNECTION,)
    person: tuple[str, str] = ("g-ada", "ada@medicore.example")  # who signs in at /authorize
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # Auth0's, by token
    token_vault: dict[tuple[str, str], tuple[str, ...]] = field(
        default_factory=dict
    )  # (user, conn) -> scopes
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    federated_requests: list[dict[str, str]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    issued_refresh_tokens: list[str] = field(default_factory=list)
    issued_auth0_access_tokens: list[str] = field(default_factory=list)
    issued_federated_tokens: list[str] = field(default_factory=list)
    fail_next: list[Answer] = field(default_factory=list)  # answers the federated grant gives first
    base: str = ""
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def issuer(self) -> str:
        return self.base + "/"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeAuth0:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- HTTP ------------------------------------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if method == "GET" and parts.path == "/.well-known/openid-configuration":
            answer = Answer(200, self.discovery)
        elif method == "GET" and parts.path == "/.well-known/jwks.json":
            jwk = RSAAlgorithm.to_jwk(_KEY.public_key(), as_dict=True)
            answer = Answer(200, {"keys": [{**jwk, "kid": "a0", "use": "sig", "alg": "RS256"}]})
        elif method == "GET" and parts.path == "/authorize":
            answer = self._authorize(query)
        elif method == "POST" and parts.path in ("/oauth/token", "/oauth/revoke"):
            length = int(request.headers.get("Content-Length") or 0)
            raw = request.rfile.read(length).decode()
            if (request.headers.get("Content-Type") or "").startswith("application/json"):
                form = {k: str(v) for k, v in json.loads(raw or "{}").items()}
            else:
                form = {k: v[0] for k, v in parse_qs(raw).items()}
            with self._lock:
                answer = self._post(parts.path, form, request.headers.get("Authorization"))
        else:
            answer = Answer(404, {"error": "not_found"})
        payload = json.dumps(answer.body).encode() if answer.body or answer.status != 200 else b""
        request.send_response(answer.status)
        for name, value in {"Content-Type": "application/json", **answer.headers}.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    @property
    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.base + "/authorize",
            "token_endpoint": self.base + "/oauth/token",
            "revocation_endpoint": self.base + "/oauth/revoke",
            "jwks_uri": self.base + "/.well-known/jwks.json",
            "userinfo_endpoint": self.base + "/userinfo",
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    # -- /authorize: the person signs in through the connection and consents -----------------------
    def _authorize(self, query: dict[str, str]) -> Answer:
        self.authorize_requests.append(query)
        if (
            query.get("response_type") != "code"
            or query.get("client_id") not in self.clients
            or query.get("code_challenge_method") != "S256"
            or query.get("connection") not in self.connections
            or "redirect_uri" not in query
        ):
            return Answer(400, {"error": "invalid_request"})
        sub, email = self.person
        user_id = f"{query['connection']}|{sub}"
        scopes = tuple(query.get("connection_scope", "").split())
        self.token_vault[(user_id, query["connection"])] = scopes
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**query, "user_id": user_id, "email": email}
        back = {"code": code, "state": query.get("state", "")}
        return Answer(302, {}, {"Location": query["redirect_uri"] + "?" + urlencode(back)})

    # -- /oauth/token and /oauth/revoke ------------------------------------------------------------
    def _post(self, path: str, form: dict[str, str], authorization: str | None) -> Answer:
        client_id = self._client(form, authorization)
        if client_id is None:
            return Answer(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        if path == "/oauth/revoke":
            token = form.get("token", "")
            self.revoked.append(token)
            if token in self.refresh_tokens:
                self.refresh_tokens[token]["revoked"] = True
            return Answer(200, {})
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._code(form, client_id)
        if grant_type == FEDERATED_GRANT:
            self.federated_requests.append(dict(form))
            if self.fail_next:
                return self.fail_next.pop(0)
            return self._federated(form, client_id)
        return Answer(403, {"error": "unauthorized_client"})

    def _client(self, form: dict[str, str], authorization: str | None) -> str | None:
        if authorization and authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return client_id if client_id and self.clients.get(client_id) == secret else None

    def _code(self, form: dict[str, str], client_id: str) -> Answer:
        request = self.codes.pop(form.get("code", ""), None)
        if request is None or request["client_id"] != client_id:
            return Answer(403, {"error": "invalid_grant", "error_description": "Invalid authorization code"})
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if challenge != request["code_challenge"] or form.get("redirect_uri") != request["redirect_uri"]:
            return Answer(403, {"error": "invalid_grant"})
        scope = request.get("scope", "")
        access = "auth0-at-" + secrets.token_hex(12)
        self.issued_auth0_access_tokens.append(access)
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 86400,
            "scope": scope,
        }
        if "offline_access" in scope.split():
            refresh = "v1.MQ-auth0rt-CANARY-" + secrets.token_hex(20)
            self.issued_refresh_tokens.append(refresh)
            self.refresh_tokens[refresh] = {"user_id": request["user_id"], "client_id": client_id}
            answer["refresh_token"] = refresh
        if "openid" in scope.split():
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "sub": request["user_id"],
                "aud": client_id,
                "iat": now,
                "exp": now + 36000,
                "email": request["email"],
                "email_verified": True,
                "nonce": request.get("nonce"),
            }
            answer["id_token"] = jwt.encode(
                {k: v for k, v in claims.items() if v is not None},
                _KEY,
                algorithm="RS256",
                headers={"kid": "a0"},
            )
        return Answer(200, answer, {"Cache-Control": "no-store"})

    def _federated(self, form: dict[str, str], client_id: str) -> Answer:
        if (
            form.get("subject_token_type") != REFRESH_TOKEN_TYPE
            or form.get("requested_token_type") != FEDERATED_TOKEN_TYPE
            or not form.get("connection")
        ):
            return Answer(400, {"error": "invalid_request"})
        grant = self.refresh_tokens.get(form.get("subject_token", ""))
        if grant is None or grant.get("revoked") or grant["client_id"] != client_id:
            return Answer(
                400, {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}
            )
        scopes = self.token_vault.get((grant["user_id"], form["connection"]))
        if scopes is None:
            return Answer(
                401,
                {
                    "error": "federated_connection_refresh_token_not_found",
                    "error_description": "Federated connection Refresh Token not found.",
                },
            )
        token = "ya29.federated-" + secrets.token_hex(16)
        self.issued_federated_tokens.append(token)
        answer = {
            "access_token": token,
            "expires_in": 3599,
            "scope": " ".join(scopes),
            "issued_token_type": FEDERATED_TOKEN_TYPE,
            "token_type": "Bearer",
        }
        return Answer(200, answer, {"Cache-Control": "no-store"})
