"""A request the SDK retries after a lost answer carries a new client assertion and a new DPoP
proof on every attempt, in both clients: VaultGuard accepts each `jti` once, and the lost
attempt may well have reached it (resending it would be `invalid_client`)."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from typing import Any

import httpx
import jwt
import pytest
import requests
from vaultguard import AsyncVaultGuardClient, ClientKey, PendingDelegation, VaultGuardClient

from chalicelib.tokens.dpop import verify_proof
from chalicelib.tokens.rfc7523 import parse_jwks, registered_keys, verify_assertion
from tests.sdk import fake_api
from tests.sdk.fake_api import (
    API,
    CLIENT_ID,
    DLG,
    FakeApi,
    FakeTime,
    Seen,
    Unreachable,
    ciba_token,
    oauth_error,
    stepped_up,
)

TOKEN_ENDPOINT = f"{API}/oauth/token"
LOST = Unreachable  # the server saw the request, the answer never came back


class ReplayCheckingApi(FakeApi):
    """Checks assertions and proofs as VaultGuard does, and refuses any `jti` seen before,
    even one of an attempt whose answer was then lost."""

    def __init__(self, key: ClientKey) -> None:
        super().__init__()
        self.keys = registered_keys(json.dumps(parse_jwks(key.public_jwks())))
        self.jtis: list[str] = []

    def handle(self, seen: Seen) -> tuple[int, bytes, dict[str, str]]:
        now = int(time.time())
        jtis = []
        if seen.path == "/oauth/token":
            assertion = seen.form["client_assertion"]
            audiences = (API, TOKEN_ENDPOINT)
            checked = verify_assertion(
                assertion, self.keys, client_id=CLIENT_ID, audiences=audiences, now=now
            )
            jtis.append(checked.jti)
        if "dpop" in seen.headers:
            token = seen.headers.get("authorization", "").partition(" ")[2] or None
            url = API + seen.path
            jtis.append(
                verify_proof(
                    seen.headers["dpop"], method=seen.method, url=url, now=now, access_token=token
                ).jti
            )
        if any(jti in self.jtis for jti in jtis):
            self.seen.append(seen)
            status, body = oauth_error("invalid_client", 401)
            return status, json.dumps(body).encode(), {"content-type": "application/json"}
        self.jtis.extend(jtis)
        return super().handle(seen)


def make_client(kind: str, api: FakeApi, clock: FakeTime, key: ClientKey | None, **kwargs: Any) -> Any:
    client: VaultGuardClient | AsyncVaultGuardClient
    if key is not None:
        kwargs["private_key"] = key
    if kind == "sync":
        session = requests.Session()
        session.mount(API, fake_api.FakeAdapter(api))
        client = VaultGuardClient(API, CLIENT_ID, session=session, **kwargs)
        client._sleep = clock.sleep
    else:
        transport = httpx.AsyncClient(transport=fake_api.async_transport(api))
        client = AsyncVaultGuardClient(API, CLIENT_ID, session=transport, **kwargs)
        client._sleep = clock.async_sleep
    client._clock = clock.monotonic
    return client


def run(result: Any) -> Any:
    """The result of a sync client's call, or of an async client's, awaited."""
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def jti(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


CLIENTS = pytest.mark.parametrize("kind", ["sync", "async"])


@CLIENTS
def test_a_token_request_retried_after_a_lost_answer_signs_a_new_assertion(kind: str) -> None:
    clock, key = FakeTime(), ClientKey.generate()
    api = ReplayCheckingApi(key)
    bound = {"access_token": "api-token-1", "token_type": "Bearer", "expires_in": 900}
    api.on("POST", "client_credentials", LOST, (503, {"error": "unavailable"}), (200, bound))
    api.on("GET", f"/delegations/{DLG}", (200, {"delegation_id": DLG}))
    client = make_client(kind, api, clock, key)
    assert run(client.get_delegation(DLG)) == {"delegation_id": DLG}
    attempts = api.token_requests()
    assert len(attempts) == 3 and clock.sleeps == [0.5, 1.0]
    assert len({jti(a.form["client_assertion"]) for a in attempts}) == 3


@CLIENTS
def test_a_ciba_poll_retried_after_a_lost_answer_signs_a_new_assertion(kind: str) -> None:
    clock, key = FakeTime(), ClientKey.generate()
    api = ReplayCheckingApi(key)
    api.on("POST", "/delegations/request", stepped_up(interval=1))
    client = make_client(kind, api, clock, key)
    pending = run(client.request_delegation("tnt_natsupply", "requisition.submit"))
    assert isinstance(pending, PendingDelegation)
    api.on("POST", "/oauth/token", LOST, ciba_token())
    assert run(client.poll_delegation(pending)).delegation_id == DLG
    polls = [s for s in api.calls("POST", "/oauth/token") if s.form["grant_type"].endswith(":ciba")]
    assert len(polls) == 2 and len({jti(p.form["client_assertion"]) for p in polls}) == 2


@CLIENTS
def test_a_dpop_call_retried_after_a_lost_answer_sends_a_new_proof(kind: str) -> None:
    clock, key = FakeTime(), ClientKey.generate()
    api = ReplayCheckingApi(key)
    bound = {"access_token": "api-token-1", "token_type": "DPoP", "expires_in": 900}
    api.on("POST", "client_credentials", LOST, (200, bound))
    api.on("GET", "/delegations", LOST, (502, {"error": "bad_gateway"}), (200, {"delegations": []}))
    client = make_client(kind, api, clock, key, dpop=True)
    assert run(client.list_delegations()) == []
    sign_ins, calls = api.token_requests(), api.calls("GET", "/delegations")
    assert len(sign_ins) == 2 and len(calls) == 3
    assert {c.headers["authorization"] for c in calls} == {"DPoP api-token-1"}
    assert len({jti(s.headers["dpop"]) for s in sign_ins + calls}) == 5


@CLIENTS
def test_a_federated_sign_in_retried_after_a_lost_answer_uses_a_new_issuer_jwt(kind: str) -> None:
    """Each issuer JWT is accepted once too: the source is asked again for every attempt."""
    clock, api, issued = FakeTime(), FakeApi(), []

    def source() -> str:
        issued.append(f"issuer-jwt-{len(issued)}")
        return issued[-1]

    api.on("POST", "/oauth/token", LOST, (200, {"access_token": "api-token-1", "expires_in": 900}))
    api.on("GET", f"/delegations/{DLG}", (200, {"delegation_id": DLG}))
    client = make_client(kind, api, clock, None, federated_token=source)
    assert run(client.get_delegation(DLG)) == {"delegation_id": DLG}
    sent = [s.form["assertion"] for s in api.calls("POST", "/oauth/token")]
    assert sent == issued == ["issuer-jwt-0", "issuer-jwt-1"]
