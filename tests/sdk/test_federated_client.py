"""VaultGuardClient and AsyncVaultGuardClient as a federated agent: built with its client id
and a token source instead of a client secret, each exchanges a fresh JWT of its trusted issuer
for each API token (RFC 7523 jwt-bearer grant, the client id naming the agent), never sends
client credentials, and refuses what it cannot do."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import requests
from vaultguard import AsyncVaultGuardClient, VaultGuardClient, VaultGuardError

from tests.sdk.fake_api import (
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    DLG,
    FakeAdapter,
    FakeApi,
    FakeTime,
    api_token,
    async_transport,
    stepped_up,
)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def federated_client(api: FakeApi, clock: FakeTime, source: object) -> VaultGuardClient:
    session = requests.Session()
    session.mount(API, FakeAdapter(api))
    client = VaultGuardClient(API, CLIENT_ID, federated_token=source, session=session)  # type: ignore[arg-type]
    client._sleep = clock.sleep
    client._clock = clock.monotonic
    return client


def test_each_api_token_is_got_with_a_fresh_issuer_jwt() -> None:
    clock = FakeTime()
    issued = iter(["idp-jwt-1", "idp-jwt-2"])
    api = FakeApi(token_expires_in=120)
    api.on(
        "POST",
        "/oauth/token",
        (200, {"access_token": api_token(), "token_type": "Bearer", "expires_in": 120}),
    )
    api.on("GET", f"/delegations/{DLG}", (200, {"delegation_id": DLG}))
    client = federated_client(api, clock, lambda: next(issued))
    client.get_delegation(DLG)
    client.get_delegation(DLG)
    clock.now += 120
    client.get_delegation(DLG)
    sign_ins = api.calls("POST", "/oauth/token")
    assert [s.form for s in sign_ins] == [
        {"grant_type": JWT_BEARER, "assertion": "idp-jwt-1", "client_id": CLIENT_ID},
        {"grant_type": JWT_BEARER, "assertion": "idp-jwt-2", "client_id": CLIENT_ID},
    ]
    assert all(s.basic_auth is None for s in sign_ins)
    assert "federated" in repr(client)


def test_the_async_client_signs_in_the_same_way_with_a_plain_or_async_source() -> None:
    clock = FakeTime()
    api = FakeApi(token_expires_in=120)
    api.on(
        "POST",
        "/oauth/token",
        (200, {"access_token": api_token(), "token_type": "Bearer", "expires_in": 120}),
    )
    api.on("GET", f"/delegations/{DLG}", (200, {"delegation_id": DLG}))

    async def from_idp() -> str:
        return "idp-jwt-async"

    async def scenario() -> None:
        for source in (lambda: "idp-jwt-plain", from_idp):
            session = httpx.AsyncClient(transport=async_transport(api))
            client = AsyncVaultGuardClient(API, CLIENT_ID, federated_token=source, session=session)
            client._sleep = clock.async_sleep
            client._clock = clock.monotonic
            assert "federated" in repr(client)
            await client.get_delegation(DLG)
            with pytest.raises(VaultGuardError, match="federated"):
                await client.poll_delegation(object())  # type: ignore[arg-type]
            await session.aclose()

    asyncio.run(scenario())
    sign_ins = api.calls("POST", "/oauth/token")
    assert [s.form for s in sign_ins] == [
        {"grant_type": JWT_BEARER, "assertion": "idp-jwt-plain", "client_id": CLIENT_ID},
        {"grant_type": JWT_BEARER, "assertion": "idp-jwt-async", "client_id": CLIENT_ID},
    ]
    assert all(s.basic_auth is None for s in sign_ins)


def test_it_takes_a_secret_or_a_token_source_not_both() -> None:
    with pytest.raises(ValueError):
        VaultGuardClient(API, CLIENT_ID, CLIENT_SECRET, federated_token=lambda: "x")
    with pytest.raises(ValueError):
        VaultGuardClient(API)
    with pytest.raises(ValueError):
        VaultGuardClient(API, CLIENT_ID)
    with pytest.raises(ValueError):  # the client id names the agent: required
        VaultGuardClient(API, federated_token=lambda: "x")
    with pytest.raises(ValueError):
        AsyncVaultGuardClient(API, CLIENT_ID, CLIENT_SECRET, federated_token=lambda: "x")
    with pytest.raises(ValueError):
        AsyncVaultGuardClient(API, "", federated_token=lambda: "x")


def test_a_federated_client_cannot_poll_ciba() -> None:
    clock = FakeTime()
    api = FakeApi()
    api.on(
        "POST",
        "/oauth/token",
        (200, {"access_token": api_token(), "token_type": "Bearer", "expires_in": 900}),
    )
    api.on("POST", "/delegations/request", stepped_up())
    client = federated_client(api, clock, lambda: "idp-jwt")
    pending = client.request_delegation("tnt_natsupply", "requisition.submit")
    with pytest.raises(VaultGuardError, match="federated"):
        client.poll_delegation(pending)  # type: ignore[arg-type]
