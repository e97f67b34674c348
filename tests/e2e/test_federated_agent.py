"""Federated agents end to end (issue 15, item 2): node-oidc-provider (local-idp/) stands in
for an Auth0 tenant where the agent is an M2M application. The agent gets a client-credentials
JWT access token for VaultGuard from it, exchanges that JWT with its VaultGuard client id at the
token endpoint for an API token as that agent, and requests a delegation with it; a second
tenant federating the same M2M application gets its own agent, never the first's; over real
HTTP, with VaultGuard discovering the issuer's keys itself."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import jwt
import pytest
import requests

from chalicelib.local.idp import LocalIdentityProvider
from tests.e2e.conftest import LocalServer, free_port
from tests.e2e.test_local_server import admin_token, request_delegation

AGENT_CLIENT = "medicore-ledger-agent"
STRANGER_CLIENT = "someone-elses-agent"
SECRET = secrets.token_urlsafe(24)
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def m2m_client(client_id: str) -> dict[str, object]:
    return {
        "client_id": client_id,
        "client_secret": SECRET,
        "grant_types": ["client_credentials"],
        "response_types": [],
        "redirect_uris": [],
    }


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory, server: LocalServer) -> Iterator[LocalIdentityProvider]:
    provider = LocalIdentityProvider(
        tmp_path_factory.mktemp("workload-idp") / "state",
        free_port(),
        clients=[m2m_client(AGENT_CLIENT), m2m_client(STRANGER_CLIENT)],
        users=[],
        resource_servers={server.url: {}},  # VaultGuard, as an API of the Auth0 tenant
    )
    provider.start()
    yield provider
    provider.stop()


def idp_token(idp: LocalIdentityProvider, client_id: str, resource: str) -> requests.Response:
    discovery = requests.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=10).json()
    return requests.post(
        discovery["token_endpoint"],
        data={"grant_type": "client_credentials", "resource": resource},
        auth=(client_id, SECRET),
        timeout=10,
    )


def vaultguard_token(server: LocalServer, **form: str) -> requests.Response:
    return requests.post(f"{server.url}/oauth/token", data=form, timeout=10)


@dataclass(frozen=True)
class Agent:
    agent_id: str
    client_id: str


def register(server: LocalServer, idp: LocalIdentityProvider, tenant: str, subject: str) -> Agent:
    reply = requests.post(
        f"{server.url}/agents",
        json={"name": "ledger (Auth0 M2M)", "federated": {"issuer": idp.issuer, "subject": subject}},
        headers={"Authorization": f"Bearer {admin_token(server, tenant)}"},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["token_endpoint_auth_method"] == "none"
    return Agent(str(reply.json()["agent_id"]), str(reply.json()["client_id"]))


@pytest.fixture(scope="module")
def agent(server: LocalServer, idp: LocalIdentityProvider) -> Agent:
    return register(server, idp, "medicore", AGENT_CLIENT)


def test_the_idp_issues_jwt_access_tokens_for_vaultguard_only(
    server: LocalServer, idp: LocalIdentityProvider
) -> None:
    reply = idp_token(idp, AGENT_CLIENT, server.url)
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["sub"]) == (idp.issuer, server.url, AGENT_CLIENT)
    refused = idp_token(idp, AGENT_CLIENT, "https://elsewhere.example")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"


def exchange(server: LocalServer, subject_token: str, client_id: str) -> requests.Response:
    return vaultguard_token(
        server,
        grant_type=TOKEN_EXCHANGE,
        subject_token=subject_token,
        subject_token_type=JWT_TYPE,
        client_id=client_id,
    )


def test_an_idp_token_becomes_an_api_token_that_requests_a_delegation(
    server: LocalServer, idp: LocalIdentityProvider, agent: Agent
) -> None:
    subject_token = idp_token(idp, AGENT_CLIENT, server.url).json()["access_token"]
    reply = exchange(server, subject_token, agent.client_id)
    assert reply.status_code == 200, reply.text
    assert reply.headers["Cache-Control"] == "no-store"
    api_token = reply.json()["access_token"]
    claims = jwt.decode(api_token, options={"verify_signature": False})
    assert claims["sub"] == agent.agent_id
    assert claims["tenant_id"] == server.state["tenants"]["medicore"]["tenant_id"]

    allowed = request_delegation(server, api_token, "stock.write")
    assert allowed.status_code == 201, allowed.text
    assert allowed.json()["decision"] == "ALLOW"

    # the same IdP token again: used once already
    replay = exchange(server, subject_token, agent.client_id)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def claims_of(reply: requests.Response) -> dict[str, object]:
    assert reply.status_code == 200, reply.text
    return dict(jwt.decode(reply.json()["access_token"], options={"verify_signature": False}))


def test_the_jwt_bearer_grant_works_the_same(
    server: LocalServer, idp: LocalIdentityProvider, agent: Agent
) -> None:
    assertion = idp_token(idp, AGENT_CLIENT, server.url).json()["access_token"]
    reply = vaultguard_token(server, grant_type=JWT_BEARER, assertion=assertion, client_id=agent.client_id)
    assert claims_of(reply)["sub"] == agent.agent_id


def test_a_client_of_the_same_idp_that_is_no_agent_gets_nothing(
    server: LocalServer, idp: LocalIdentityProvider, agent: Agent
) -> None:
    for client_id in (agent.client_id, None):  # another M2M app with the agent's client id, or none
        assertion = idp_token(idp, STRANGER_CLIENT, server.url).json()["access_token"]
        form = {
            "grant_type": JWT_BEARER,
            "assertion": assertion,
            **({"client_id": client_id} if client_id else {}),
        }
        reply = vaultguard_token(server, **form)
        assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"
    # the agent's own token without its client id: refused alike
    assertion = idp_token(idp, AGENT_CLIENT, server.url).json()["access_token"]
    reply = vaultguard_token(server, grant_type=JWT_BEARER, assertion=assertion)
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"


def test_two_tenants_federating_the_same_m2m_application_each_get_their_own_agent(
    server: LocalServer, idp: LocalIdentityProvider, agent: Agent
) -> None:
    theirs = register(server, idp, "natsupply", AGENT_CLIENT)  # no 409, nothing of MediCore's
    tenants = server.state["tenants"]
    for who, tenant in ((agent, "medicore"), (theirs, "natsupply")):
        assertion = idp_token(idp, AGENT_CLIENT, server.url).json()["access_token"]
        reply = vaultguard_token(server, grant_type=JWT_BEARER, assertion=assertion, client_id=who.client_id)
        claims = claims_of(reply)
        assert (claims["sub"], claims["tenant_id"]) == (who.agent_id, tenants[tenant]["tenant_id"])


def test_the_sdk_client_takes_a_federated_token_source(
    server: LocalServer, idp: LocalIdentityProvider, agent: Agent
) -> None:
    from vaultguard import Delegation, VaultGuardClient

    fetched: list[str] = []

    def from_idp() -> str:  # a fresh JWT for each new API token: each is accepted once
        token = str(idp_token(idp, AGENT_CLIENT, server.url).json()["access_token"])
        fetched.append(token)
        return token

    with VaultGuardClient(server.url, agent.client_id, federated_token=from_idp) as client:
        natsupply = server.state["tenants"]["natsupply"]["tenant_id"]
        delegation = client.request_delegation(natsupply, "stock.write")
        assert isinstance(delegation, Delegation) and len(fetched) == 1
        client._token = None  # as when the API token nears expiry: a new JWT is fetched
        assert isinstance(client.request_delegation(natsupply, "stock.write"), Delegation)
        assert len(fetched) == 2
