"""Interoperability: a generic OAuth 2.0 client library (Authlib), knowing nothing about
VaultGuard, runs the CIBA poll-mode grant against the real local server using only what
discovery publishes: backchannel request, `authorization_pending`, approval, one token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from tests.e2e.conftest import LocalServer
from tests.e2e.test_stepup_lifecycle import CIBA, TIMEOUT, cli, credentials, wait_interval


@pytest.fixture(scope="module")
def discovery(server: LocalServer) -> dict[str, Any]:
    reply = requests.get(f"{server.url}/.well-known/openid-configuration", timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


@pytest.fixture
def agent_client(server: LocalServer) -> Iterator[OAuth2Session]:
    client_id, client_secret = credentials(server, "medicore", "agent")
    client = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_basic")
    yield client
    client.close()


def test_discovery_advertises_ciba_poll_mode(server: LocalServer, discovery: dict[str, Any]) -> None:
    assert discovery["issuer"] == server.url
    assert CIBA in discovery["grant_types_supported"]
    assert discovery["backchannel_token_delivery_modes_supported"] == ["poll"]
    assert discovery["backchannel_authentication_endpoint"] == f"{server.url}/bc-authorize"
    assert "client_secret_basic" in discovery["token_endpoint_auth_methods_supported"]


def test_generic_oauth_client_runs_the_ciba_grant(
    server: LocalServer, discovery: dict[str, Any], agent_client: OAuth2Session
) -> None:
    medicore, natsupply = server.state["tenants"]["medicore"], server.state["tenants"]["natsupply"]

    # CIBA Core §7.1: a plain form POST, authenticated like the token endpoint.
    ack = requests.post(
        discovery["backchannel_authentication_endpoint"],
        data={
            "scope": "openid requisition.submit",
            "login_hint": natsupply["tenant_id"],
            "binding_message": "REQ-AUTHLIB",
            "requested_expiry": "120",
        },
        auth=credentials(server, "medicore", "agent"),
        timeout=TIMEOUT,
    )
    assert ack.status_code == 200, ack.text
    assert ack.headers["Cache-Control"] == "no-store"
    body = ack.json()
    assert set(body) == {"auth_req_id", "expires_in", "interval"}
    assert 0 < body["expires_in"] <= 120 and body["interval"] >= 1
    auth_req_id, interval = body["auth_req_id"], body["interval"]

    def fetch() -> dict[str, Any]:
        return dict(
            agent_client.fetch_token(
                discovery["token_endpoint"], grant_type=CIBA, auth_req_id=auth_req_id, timeout=TIMEOUT
            )
        )

    # Nobody has decided yet: Authlib surfaces the CIBA error as its OAuth error.
    with pytest.raises(OAuthError) as pending:
        fetch()
    assert pending.value.error == "authorization_pending"
    last_poll = time.monotonic()

    # A NatSupply approver approves it by the auth_req_id, from the command line.
    approved = cli(server, "approve", auth_req_id)
    assert approved.code == 0, approved.err

    wait_interval(last_poll, interval)
    token = fetch()
    assert token["token_type"] == "Bearer" and token["scope"] == "requisition.submit"
    assert 0 < token["expires_in"] <= 3600

    jwks = jwt.PyJWKClient(discovery["jwks_uri"])
    claims = jwt.decode(
        token["access_token"],
        jwks.get_signing_key_from_jwt(token["access_token"]).key,
        algorithms=["RS256"],
        issuer=discovery["issuer"],
        audience=natsupply["audience"],
    )
    assert claims["scope"] == "requisition.submit"
    assert claims["sub"] == medicore["agent"]["agent_id"]
    assert claims["tenant_id"] == medicore["tenant_id"]
    assert claims["receiving_tenant_id"] == natsupply["tenant_id"]

    # Handed out once: the same auth_req_id is now spent.
    with pytest.raises(OAuthError) as spent:
        fetch()
    assert spent.value.error == "invalid_grant"
