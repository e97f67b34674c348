"""A scripted stand-in for the VaultGuard API, mounted as a requests adapter (sync client)
or an httpx.MockTransport (async client), and a fake clock whose sleeps only advance time."""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from vaultguard import AsyncVaultGuardClient, VaultGuardClient

API = "http://vg.test"
MEDICORE = "tnt_medicore"
NATSUPPLY = "tnt_natsupply"
CLIENT_ID, CLIENT_SECRET = "vgc_agent", "s3cret"


class Unreachable(Exception):
    """Scripted instead of a reply: the connection fails."""


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str]

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:] if value.startswith("Bearer ") else None


Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]] | type[Unreachable]


def api_token(tenant_id: str | None = MEDICORE, serial: int = 0) -> str:
    claims: dict[str, Any] = {"sub": "agt_1", "jti": f"api-{serial}"}
    if tenant_id is not None:
        claims["tenant_id"] = tenant_id
    return jwt.encode(claims, "not-checked-by-the-client-0123456789", algorithm="HS256")


@dataclass
class FakeApi:
    """Routes `(METHOD, path)` to a queue of scripted answers (the last one repeats)."""

    token_tenant: str | None = MEDICORE
    token_expires_in: int = 3600
    routes: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def on(self, method: str, path: str, *answers: Answer) -> FakeApi:
        self.routes[(method, path)] = list(answers)
        return self

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path) == (method, path)]

    def token_requests(self) -> list[Seen]:
        return [
            s for s in self.calls("POST", "/oauth/token") if s.form.get("grant_type") == "client_credentials"
        ]

    def handle(self, seen: Seen) -> tuple[int, bytes, dict[str, str]]:
        self.seen.append(seen)
        key = (seen.method, seen.path)
        if key == ("POST", "/oauth/token") and seen.form.get("grant_type") == "client_credentials":
            answers = self.routes.get(("POST", "client_credentials"))
            if answers is None:
                token = api_token(self.token_tenant, next(self._serial))
                body = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_expires_in}
                return 200, json.dumps(body).encode(), {"content-type": "application/json"}
            key = ("POST", "client_credentials")
        queue = self.routes.get(key)
        if not queue:
            return 404, json.dumps({"error": "not_found", "request_id": "req-404"}).encode(), {}
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if answer is Unreachable:
            raise Unreachable()
        assert isinstance(answer, tuple)
        status, body, *rest = answer
        headers = {"content-type": "application/json", "x-request-id": seen.headers.get("x-request-id", "")}
        if rest:
            headers.update(rest[0])
        return status, json.dumps(body).encode(), headers


class FakeAdapter(HTTPAdapter):
    def __init__(self, api: FakeApi) -> None:
        super().__init__()
        self.api = api

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body or b""
        assert isinstance(body, str | bytes)  # the client never streams a body
        seen = Seen(
            str(request.method),
            url.path,
            {k.lower(): str(v) for k, v in request.headers.items()},
            body.encode() if isinstance(body, str) else body,
            dict(parse_qsl(url.query)),
        )
        try:
            status, content, headers = self.api.handle(seen)
        except Unreachable as exc:
            raise requests.ConnectionError("connection refused") from exc
        response = requests.Response()
        response.status_code = status
        response._content = content
        response.headers = CaseInsensitiveDict(headers)
        response.url = request.url or ""
        response.request = request
        return response


def async_transport(api: FakeApi) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen = Seen(
            request.method,
            request.url.path,
            {k.lower(): v for k, v in request.headers.items()},
            request.content,
            dict(request.url.params),
        )
        try:
            status, content, headers = api.handle(seen)
        except Unreachable as exc:
            raise httpx.ConnectError("connection refused", request=request) from exc
        return httpx.Response(status, content=content, headers=headers)

    return httpx.MockTransport(handler)


class FakeTime:
    """`monotonic()` that only moves when the client sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def sync_client(api: FakeApi, clock: FakeTime, **kwargs: Any) -> VaultGuardClient:
    session = requests.Session()
    session.mount(API, FakeAdapter(api))
    client = VaultGuardClient(API, CLIENT_ID, CLIENT_SECRET, session=session, **kwargs)
    client._sleep = clock.sleep
    client._clock = clock.monotonic
    return client


def async_client(api: FakeApi, clock: FakeTime, **kwargs: Any) -> AsyncVaultGuardClient:
    session = httpx.AsyncClient(transport=async_transport(api))
    client = AsyncVaultGuardClient(API, CLIENT_ID, CLIENT_SECRET, session=session, **kwargs)
    client._sleep = clock.async_sleep
    client._clock = clock.monotonic
    return client


# -- canned answers ------------------------------------------------------------------------

DLG = "dlg_" + "a" * 44
DELEGATION_TOKEN = "eyJhbGciOiJSUzI1NiJ9.delegation-token-value.signature"


def allowed(delegation_id: str = DLG, token: str = DELEGATION_TOKEN) -> tuple[int, dict[str, Any]]:
    return 201, {
        "delegation_id": delegation_id,
        "decision": "ALLOW",
        "status": "ACTIVE",
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "expires_at": "2030-01-01T01:00:00Z",
        "scope": "stock.write",
    }


def stepped_up(expires_in: int = 300, interval: int = 5) -> tuple[int, dict[str, Any]]:
    return 202, {
        "delegation_id": DLG,
        "decision": "STEP_UP",
        "status": "PENDING",
        "auth_req_id": "areq-1",
        "expires_in": expires_in,
        "interval": interval,
    }


def oauth_error(error: str, status: int = 400, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"error": error, "error_description": f"{error} happened", "request_id": "req-1", **extra}


def ciba_token(token: str = DELEGATION_TOKEN) -> tuple[int, dict[str, Any]]:
    return 200, {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "requisition.submit",
        "delegation_id": DLG,
    }


def revoked() -> tuple[int, dict[str, Any]]:
    return 200, {"delegation_id": DLG, "status": "REVOKED"}


CONN = "conn_" + "c" * 20
GOOGLE_TOKEN = "ya29.a0-google-access-token-value"
CALENDAR = "https://www.googleapis.com/auth/calendar.readonly"
GMAIL = "https://www.googleapis.com/auth/gmail.readonly"


def exchanged(
    token: str = GOOGLE_TOKEN, expires_in: int = 3599, scope: str = CALENDAR
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A 200 of POST /vault/exchange, as the contract in issue 13 describes it."""
    body = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scope,
        "connection_id": CONN,
        "provider": "google",
    }
    return 200, body, {"Cache-Control": "no-store"}
