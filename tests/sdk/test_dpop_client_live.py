"""Both SDK clients with `dpop=True` against the real local server: the API token and the
delegations come back bound to the client's key (`cnf.jkt`), and every call with the bound
token (sent as `Authorization: DPoP` with a fresh proof) is accepted."""

from __future__ import annotations

import asyncio

import jwt
import pytest
from vaultguard import AsyncVaultGuardClient, Delegation, VaultGuardClient

from tests.e2e.conftest import LocalServer

pytestmark = pytest.mark.e2e
TIMEOUT = 60


def creds(server: LocalServer) -> tuple[str, str]:
    entry = server.state["tenants"]["medicore"]["agent"]
    return str(entry["client_id"]), str(entry["client_secret"])


def jkt(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["cnf"]["jkt"])


def test_sync_and_async_clients_get_tokens_bound_to_their_keys(server: LocalServer) -> None:
    natsupply = str(server.state["tenants"]["natsupply"]["tenant_id"])

    with VaultGuardClient(server.url, *creds(server), timeout=TIMEOUT, dpop=True) as client:
        delegation = client.request_delegation(natsupply, "stock.write")
        assert isinstance(delegation, Delegation)
        assert client.revoke(delegation.delegation_id)["status"] == "REVOKED"
        sync_key, sync_token = client.dpop_key, client._token

    async def scenario() -> tuple[Delegation, dict[str, object]]:
        async with AsyncVaultGuardClient(server.url, *creds(server), timeout=TIMEOUT, dpop=True) as agent:
            outcome = await agent.request_delegation(natsupply, "stock.write")
            assert isinstance(outcome, Delegation) and agent._token is not None
            assert agent.dpop_key is not None and jkt(agent._token.value) == agent.dpop_key.thumbprint
            assert agent._token.token_type == "DPoP"
            assert jkt(outcome.access_token) == agent.dpop_key.thumbprint
            return outcome, await agent.revoke(outcome.delegation_id)

    outcome, revoked = asyncio.run(scenario())
    assert revoked["status"] == "REVOKED"
    assert sync_key is not None and sync_token is not None and sync_token.token_type == "DPoP"
    assert jkt(sync_token.value) == jkt(delegation.access_token) == sync_key.thumbprint
    assert jkt(outcome.access_token) != sync_key.thumbprint  # each client its own key
