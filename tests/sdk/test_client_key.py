"""VaultGuardClient with `private_key=` (private_key_jwt, RFC 7523 §2.2): every token request
and CIBA poll carries a fresh client assertion that VaultGuard's own check accepts, and no
client secret is ever sent; the registered public JWK set holds no private member."""

from __future__ import annotations

import json
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from vaultguard import ClientKey, VaultGuardClient

from chalicelib.tokens.rfc7523 import (
    AssertionRejected,
    parse_jwks,
    registered_keys,
    verify_assertion,
)
from tests.sdk.fake_api import (
    API,
    CLIENT_ID,
    DLG,
    FakeAdapter,
    FakeApi,
    FakeTime,
    api_token,
    ciba_token,
    stepped_up,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_ENDPOINT = f"{API}/oauth/token"


def keyed_client(api: FakeApi, clock: FakeTime, key: ClientKey) -> VaultGuardClient:
    session = requests.Session()
    session.mount(API, FakeAdapter(api))
    client = VaultGuardClient(API, CLIENT_ID, private_key=key, session=session)
    client._sleep = clock.sleep
    client._clock = clock.monotonic
    return client


def server_accepts(key: ClientKey, assertion: str) -> str:
    keys = registered_keys(json.dumps(parse_jwks(key.public_jwks())))
    return verify_assertion(
        assertion, keys, client_id=CLIENT_ID, audiences=(API, TOKEN_ENDPOINT), now=int(time.time())
    ).jti


@pytest.mark.parametrize(
    "private",
    [ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)],
    ids=["ES256", "RS256"],
)
def test_vaultguard_accepts_the_assertions_and_registers_the_public_half_only(private: object) -> None:
    key = ClientKey(private)  # type: ignore[arg-type]
    jwks = key.public_jwks()
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwks["keys"][0])
    assert jwks["keys"][0]["kid"] == key.key_id == key.thumbprint
    first = server_accepts(key, key.assertion(CLIENT_ID, TOKEN_ENDPOINT))
    second = server_accepts(key, key.assertion(CLIENT_ID, TOKEN_ENDPOINT))
    assert first != second  # a new jti each time: each assertion is usable once
    assert "PRIVATE" not in repr(key) and key.key_id in repr(key)
    # Another key's assertion for the same client is refused.
    with pytest.raises(AssertionRejected):
        server_accepts(key, ClientKey.generate().assertion(CLIENT_ID, TOKEN_ENDPOINT))
    # The PEM round trip gives the same key.
    assert ClientKey.from_pem(key.private_pem()).thumbprint == key.thumbprint


def test_token_requests_and_polls_send_a_fresh_assertion_and_no_secret() -> None:
    clock, key = FakeTime(), ClientKey.generate()
    api = FakeApi(token_expires_in=120)
    signed_in = {"access_token": api_token(), "token_type": "Bearer", "expires_in": 120}
    api.on("POST", "/oauth/token", (200, signed_in))
    api.on("POST", "/delegations/request", stepped_up(interval=1))
    client = keyed_client(api, clock, key)
    pending = client.request_delegation("tnt_natsupply", "requisition.submit")
    api.on("POST", "/oauth/token", ciba_token())
    assert client.poll_delegation(pending).delegation_id == DLG
    sign_in, poll = api.calls("POST", "/oauth/token")
    assert sign_in.form["grant_type"] == "client_credentials"
    assert poll.form["grant_type"] == "urn:openid:params:grant-type:ciba"
    jtis = set()
    for seen in (sign_in, poll):
        assert seen.basic_auth is None and "client_secret" not in seen.form
        assert seen.form["client_assertion_type"] == ASSERTION_TYPE
        assert seen.form["client_id"] == CLIENT_ID
        assert jwt.get_unverified_header(seen.form["client_assertion"])["kid"] == key.key_id
        jtis.add(server_accepts(key, seen.form["client_assertion"]))
    assert len(jtis) == 2


def test_one_way_of_signing_in_only() -> None:
    key = ClientKey.generate()
    with pytest.raises(ValueError, match="one of client_secret, private_key"):
        VaultGuardClient(API, CLIENT_ID, "a-secret", private_key=key)
    with pytest.raises(ValueError):
        VaultGuardClient(API, CLIENT_ID, private_key=key, federated_token=lambda: "jwt")
    with pytest.raises(ValueError, match="P-256"):
        ClientKey(ec.generate_private_key(ec.SECP384R1()))
    # PEM text is taken as the key.
    pem = key.private_pem().decode()
    assert VaultGuardClient(API, CLIENT_ID, private_key=pem)._client_key is not None
