"""VaultGuardClient(dpop=True) and AsyncVaultGuardClient(dpop=True): the API token is requested
with a proof, every API call sends `Authorization: DPoP` with a fresh proof carrying `ath`,
and a `use_dpop_nonce` answer is retried once with the server's nonce."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
from vaultguard import AsyncVaultGuardClient, AuthenticationFailed, DPoPKey, VaultGuardClient

from tests.sdk._tokens import token
from tests.sdk.fake_api import FakeApi, FakeTime, async_client, sync_client

URL = "https://vg.example"


def _claims(proof: str) -> dict[str, Any]:
    segment = proof.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


class NonceServer:
    """Issues a DPoP-bound API token, then asks for its nonce once before answering."""

    def __init__(self, api_token: str, *, token_type: str = "DPoP", challenge: str = "body") -> None:
        self.sent: list[tuple[str, str, dict[str, str]]] = []
        self.api_token, self.token_type, self.challenge = api_token, token_type, challenge
        self.asked_nonce = False

    def answer(self, method: str, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        self.sent.append((method, url, {k.lower(): v for k, v in headers.items()}))
        if url.endswith("/oauth/token"):
            return 200, {}, {"access_token": self.api_token, "token_type": self.token_type, "expires_in": 900}
        if not self.asked_nonce:
            self.asked_nonce = True
            if self.challenge == "header":  # as a resource server says it (RFC 9449 §9)
                return (
                    401,
                    {"DPoP-Nonce": "server-nonce-1", "WWW-Authenticate": 'DPoP error="use_dpop_nonce"'},
                    {},
                )
            body = {"error": "use_dpop_nonce", "error_description": "Use the nonce."}
            return 401, {"DPoP-Nonce": "server-nonce-1"}, body
        return 200, {}, {"delegations": [], "next_cursor": None}


class FakeSession(requests.Session):
    def __init__(self, server: NonceServer) -> None:
        super().__init__()
        self.server = server

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        status, headers, body = self.server.answer(method, url, dict(kwargs.get("headers") or {}))
        response = requests.Response()
        response.status_code = status
        response.headers.update({"Content-Type": "application/json", **headers})
        response._content = json.dumps(body).encode()
        return response


def run_sync(server: NonceServer, key: DPoPKey | bool) -> VaultGuardClient:
    client = VaultGuardClient(URL, "cid", "secret", dpop=key, session=FakeSession(server))
    client.list_delegations()
    return client


def run_async(server: NonceServer, key: DPoPKey | bool) -> AsyncVaultGuardClient:
    def handler(request: httpx.Request) -> httpx.Response:
        status, headers, body = server.answer(request.method, str(request.url), dict(request.headers))
        return httpx.Response(status, json=body, headers=headers)

    async def scenario() -> AsyncVaultGuardClient:
        session = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncVaultGuardClient(URL, "cid", "secret", dpop=key, session=session) as client:
            await client.list_delegations()
        await session.aclose()
        return client

    return asyncio.run(scenario())


Run = Callable[[NonceServer, "DPoPKey | bool"], "VaultGuardClient | AsyncVaultGuardClient"]
CLIENTS = pytest.mark.parametrize("run", [run_sync, run_async], ids=["sync", "async"])


def _ath(api_token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(api_token.encode()).digest()).rstrip(b"=").decode()


@CLIENTS
@pytest.mark.parametrize("challenge", ["body", "header"])
def test_dpop_client_binds_its_token_and_proves_every_call(run: Run, challenge: str) -> None:
    key = DPoPKey()
    api_token = token()
    server = NonceServer(api_token, challenge=challenge)
    client = run(server, key)
    assert client.dpop_key is key
    (m1, u1, h1), (m2, u2, h2), (m3, u3, h3) = server.sent
    sign_in = _claims(h1["dpop"])
    assert u1 == f"{URL}/oauth/token" and "ath" not in sign_in and sign_in["htm"] == "POST"
    assert sign_in["htu"] == f"{URL}/oauth/token"
    assert h2["authorization"] == h3["authorization"] == f"DPoP {api_token}"
    first, retry = _claims(h2["dpop"]), _claims(h3["dpop"])
    assert first["ath"] == retry["ath"] == _ath(api_token)
    assert first["htm"] == "GET" and first["htu"] == f"{URL}/delegations"
    assert "nonce" not in first and retry["nonce"] == "server-nonce-1"
    assert len({sign_in["jti"], first["jti"], retry["jti"]}) == 3
    for headers in (h1, h2, h3):
        segment = headers["dpop"].split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        assert header["typ"] == "dpop+jwt" and header["jwk"] == key.public_jwk


@CLIENTS
def test_dpop_true_makes_a_key_and_a_bearer_answer_is_sent_as_bearer(run: Run) -> None:
    """A server that did not bind the token (token_type Bearer) gets it as Bearer (RFC 9449
    §7.1: the DPoP scheme only for a bound token); the proofs still go along."""
    api_token = token()
    server = NonceServer(api_token, token_type="Bearer")
    client = run(server, True)
    assert isinstance(client.dpop_key, DPoPKey)
    (_, _, call), (_, _, retry) = server.sent[1:]
    assert call["authorization"] == f"Bearer {api_token}"
    assert _claims(call["dpop"])["ath"] == _ath(api_token) and "nonce" in _claims(retry["dpop"])


def test_the_nonce_is_retried_once_only(clock: FakeTime) -> None:
    """A server that keeps asking for a nonce gets one retry per call, then its answer."""
    asked = (401, {"error": "use_dpop_nonce"}, {"DPoP-Nonce": "n1"})
    bound = {"access_token": token(), "token_type": "DPoP", "expires_in": 900}
    for make in (sync_client, async_client):
        api = FakeApi().on("POST", "client_credentials", (200, bound)).on("GET", "/delegations", asked)
        client = make(api, clock, dpop=True)
        with pytest.raises(AuthenticationFailed, match="use_dpop_nonce"):
            if isinstance(client, VaultGuardClient):
                client.list_delegations()
            else:
                asyncio.run(client.list_delegations())
        # the 401 also makes the client fetch a new token once, and ask again with its nonce
        calls = api.calls("GET", "/delegations")
        assert len(calls) == 4 and clock.sleeps == []
        assert [_claims(c.headers["dpop"]).get("nonce") for c in calls] == [None, "n1", "n1", "n1"]


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()
