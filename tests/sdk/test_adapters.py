"""Framework adapters: FastAPI dependency, Flask and Chalice decorators, requests/httpx auth."""

from __future__ import annotations

import json
from typing import Any

import flask
import httpx
import pytest
import requests
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from vaultguard import VerifiedDelegation
from vaultguard.adapters.auth import DelegationAuth, HttpxDelegationAuth
from vaultguard.adapters.chalice import chalice_delegation_required
from vaultguard.adapters.fastapi import require_delegation
from vaultguard.adapters.flask import delegation_required

from tests.sdk._tokens import StubJWKS, token, verifier


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


class DownJWKS(StubJWKS):
    def __init__(self) -> None:
        super().__init__()
        self.fail = True


# --- FastAPI ------------------------------------------------------------------------------


@pytest.fixture()
def fastapi_client() -> TestClient:
    v = verifier()
    down = verifier(DownJWKS())
    app = FastAPI()

    @app.post("/stock")
    def write_stock(delegation: VerifiedDelegation = Depends(require_delegation(v, "stock.write"))) -> dict[str, Any]:  # noqa: B008, E501
        return {"agent": delegation.agent_id, "tenant": delegation.requesting_tenant_id}

    @app.get("/any")
    def any_action(delegation: VerifiedDelegation = Depends(require_delegation(v.require_action("stock.read")))) -> str:  # noqa: B008, E501
        return delegation.scope

    @app.post("/down")
    def down_route(delegation: VerifiedDelegation = Depends(require_delegation(down, "stock.write"))) -> str:  # noqa: B008, E501
        return delegation.scope

    return TestClient(app)


def test_fastapi_valid_delegation_reaches_the_route(fastapi_client: TestClient) -> None:
    reply = fastapi_client.post("/stock", headers=bearer(token()))
    assert reply.status_code == 200
    assert reply.json() == {"agent": "agent-medicore-1", "tenant": "medicore"}
    lower = fastapi_client.post("/stock", headers={"Authorization": f"bearer {token()}"})
    assert lower.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer a b"},
    ],
    ids=["none", "basic", "empty-bearer", "two-tokens"],
)
def test_fastapi_missing_token_is_401(fastapi_client: TestClient, headers: dict[str, str]) -> None:
    reply = fastapi_client.post("/stock", headers=headers)
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"  # RFC 6750 §3.1: no error code
    assert reply.json()["detail"]["error"] == "invalid_token"


@pytest.mark.parametrize(
    "bad",
    [
        token(aud="urn:vaultguard:tenant:other"),
        token(typ="vg-api+jwt"),
        "garbage",
        token(exp=1, iat=1, nbf=1),
    ],
    ids=["wrong-aud", "api-token", "garbage", "expired"],
)
def test_fastapi_invalid_token_is_401(fastapi_client: TestClient, bad: str) -> None:
    reply = fastapi_client.post("/stock", headers=bearer(bad))
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert reply.json()["detail"]["error"] == "invalid_token"


def test_fastapi_wrong_action_is_403(fastapi_client: TestClient) -> None:
    reply = fastapi_client.post("/stock", headers=bearer(token(scope="stock.read")))
    assert reply.status_code == 403
    assert reply.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="stock.write"'
    assert reply.json()["detail"]["error"] == "insufficient_scope"
    assert fastapi_client.get("/any", headers=bearer(token(scope="stock.read"))).json() == "stock.read"
    assert fastapi_client.get("/any", headers=bearer(token())).status_code == 403


def test_fastapi_could_not_check_is_503(fastapi_client: TestClient) -> None:
    reply = fastapi_client.post("/down", headers=bearer(token()))
    assert reply.status_code == 503
    assert reply.json()["detail"]["error"] == "temporarily_unavailable"


def test_fastapi_openapi_declares_bearer(fastapi_client: TestClient) -> None:
    schemes = fastapi_client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"


# --- Flask --------------------------------------------------------------------------------


@pytest.fixture()
def flask_client() -> Any:
    v = verifier()
    app = flask.Flask(__name__)

    @app.post("/stock")
    @delegation_required(v, "stock.write")
    def write_stock() -> dict[str, Any]:
        return {"agent": flask.g.delegation.agent_id}

    @app.post("/down")
    @delegation_required(verifier(DownJWKS()), "stock.write")
    def down_route() -> str:
        return "unreachable"

    return app.test_client()


def test_flask_decorator(flask_client: Any) -> None:
    ok = flask_client.post("/stock", headers=bearer(token()))
    assert ok.status_code == 200 and ok.get_json() == {"agent": "agent-medicore-1"}

    missing = flask_client.post("/stock")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert missing.get_json()["error"] == "invalid_token"

    invalid = flask_client.post("/stock", headers=bearer(token(iss="https://evil.example")))
    assert invalid.status_code == 401
    assert invalid.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert invalid.get_json()["reason"] == "wrong_issuer"

    wrong = flask_client.post("/stock", headers=bearer(token(scope="stock.read")))
    assert wrong.status_code == 403 and wrong.get_json()["error"] == "insufficient_scope"

    down = flask_client.post("/down", headers=bearer(token()))
    assert down.status_code == 503


# --- Chalice ------------------------------------------------------------------------------


def test_chalice_decorator() -> None:
    from chalice import Chalice
    from chalice.test import Client

    app = Chalice(app_name="natsupply-test")
    v = verifier()

    @app.route("/stock", methods=["POST"])
    @chalice_delegation_required(app, v, "stock.write")
    def write_stock() -> dict[str, Any]:
        return {"agent": app.current_request.delegation.agent_id}

    with Client(app) as client:
        ok = client.http.post("/stock", headers=bearer(token()))
        assert ok.status_code == 200 and json.loads(ok.body) == {"agent": "agent-medicore-1"}
        missing = client.http.post("/stock")
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
        invalid = client.http.post("/stock", headers=bearer("garbage"))
        assert invalid.status_code == 401 and json.loads(invalid.body)["error"] == "invalid_token"
        wrong = client.http.post("/stock", headers=bearer(token(scope="stock.read")))
        assert wrong.status_code == 403


# --- outgoing auth ------------------------------------------------------------------------


class _RecordingAdapter(requests.adapters.BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.seen.append(request)
        reply = requests.Response()
        reply.status_code, reply.request, reply.url = 200, request, str(request.url)
        return reply

    def close(self) -> None:
        pass


def test_requests_auth_attaches_bearer() -> None:
    session = requests.Session()
    adapter = _RecordingAdapter()
    session.mount("https://", adapter)
    session.get("https://natsupply.example/stock", auth=DelegationAuth("tok-1"))
    tokens = iter(["tok-a", "tok-b"])
    auth = DelegationAuth(lambda: next(tokens))
    session.get("https://natsupply.example/stock", auth=auth)
    session.get("https://natsupply.example/stock", auth=auth)
    seen = [r.headers["Authorization"] for r in adapter.seen]
    assert seen == ["Bearer tok-1", "Bearer tok-a", "Bearer tok-b"]
    with pytest.raises(ValueError):
        DelegationAuth("two\r\nlines")


def test_httpx_auth_attaches_bearer_sync_and_async() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(handler), auth=HttpxDelegationAuth("tok-1")) as client:
        client.get("https://natsupply.example/stock")
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        client.get("https://natsupply.example/stock", auth=HttpxDelegationAuth(lambda: "tok-2"))

    import asyncio

    async def run() -> None:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(handler), auth=HttpxDelegationAuth("tok-3")
        ) as client:
            await client.get("https://natsupply.example/stock")

    asyncio.run(run())
    assert seen == ["Bearer tok-1", "Bearer tok-2", "Bearer tok-3"]
    with pytest.raises(ValueError):
        HttpxDelegationAuth("")
