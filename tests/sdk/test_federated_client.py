"""VaultGuardClient as a federated agent: built with a token source instead of a client
secret, it exchanges a fresh JWT of its trusted issuer for each API token (RFC 7523
jwt-bearer grant), never sends client credentials, and refuses what it cannot do."""

from __future__ import annotations

import pytest
import requests
from vaultguard import VaultGuardClient, VaultGuardError

from tests.sdk.fake_api import (
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    DLG,
    FakeAdapter,
    FakeApi,
    FakeTime,
    api_token,
    stepped_up,
)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def federated_client(api: FakeApi, clock: FakeTime, source: object) -> VaultGuardClient:
    session = requests.Session()
    session.mount(API, FakeAdapter(api))
    client = VaultGuardClient(API, federated_token=source, session=session)  # type: ignore[arg-type]
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
        {"grant_type": JWT_BEARER, "assertion": "idp-jwt-1"},
        {"grant_type": JWT_BEARER, "assertion": "idp-jwt-2"},
    ]
    assert all(s.basic_auth is None for s in sign_ins)
    assert "federated" in repr(client)


def test_it_takes_a_secret_or_a_token_source_not_both() -> None:
    with pytest.raises(ValueError):
        VaultGuardClient(API, CLIENT_ID, CLIENT_SECRET, federated_token=lambda: "x")
    with pytest.raises(ValueError):
        VaultGuardClient(API)
    with pytest.raises(ValueError):
        VaultGuardClient(API, CLIENT_ID)


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
