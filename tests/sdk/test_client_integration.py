"""The SDK client against the real local server (`python -m chalicelib.local`) over HTTP:
NatSupply's seeded policies for MediCore are stock.write ALLOW, requisition.submit STEP_UP,
admin.access BLOCK."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from vaultguard import (
    AsyncVaultGuardClient,
    AuthenticationFailed,
    Delegation,
    DelegationBlocked,
    PendingDelegation,
    StepUpRejected,
    VaultGuardClient,
    VaultGuardError,
)

from tests.e2e.conftest import LocalServer

pytestmark = pytest.mark.e2e
TIMEOUT = 60


def creds(server: LocalServer, tenant: str, role: str) -> tuple[str, str]:
    entry = server.state["tenants"][tenant][role]
    return str(entry["client_id"]), str(entry["client_secret"])


@pytest.fixture(scope="module")
def natsupply(server: LocalServer) -> str:
    return str(server.state["tenants"]["natsupply"]["tenant_id"])


@pytest.fixture(scope="module")
def agent(server: LocalServer) -> Iterator[VaultGuardClient]:
    """MediCore's agent, pinned to its tenant."""
    tenant_id = server.state["tenants"]["medicore"]["tenant_id"]
    with VaultGuardClient(server.url, *creds(server, "medicore", "agent"), tenant_id, timeout=TIMEOUT) as c:
        yield c


@pytest.fixture(scope="module")
def natsupply_agent(server: LocalServer) -> Iterator[VaultGuardClient]:
    """NatSupply's own agent: the receiving API's view, for online verification."""
    with VaultGuardClient(server.url, *creds(server, "natsupply", "agent"), timeout=TIMEOUT) as c:
        yield c


@pytest.fixture(scope="module")
def admin_token(server: LocalServer) -> str:
    reply = requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=creds(server, "natsupply", "admin"),
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def decide(server: LocalServer, admin_token: str, delegation_id: str, verb: str) -> None:
    """A NatSupply approver, through the admin API."""
    reply = requests.post(
        f"{server.url}/delegations/{delegation_id}/{verb}",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={"reason": f"sdk test {verb}"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, reply.text


def test_allow_returns_a_delegation_whose_token_verifies_online(
    agent: VaultGuardClient, natsupply_agent: VaultGuardClient, natsupply: str
) -> None:
    delegation = agent.request_delegation(natsupply, "stock.write", purpose="sdk integration")
    assert isinstance(delegation, Delegation)
    assert delegation.scope == "stock.write" and delegation.token_type == "Bearer"
    assert 0 < delegation.expires_in <= 3600
    assert delegation.access_token not in repr(delegation)

    claims = natsupply_agent.verify_token(delegation.access_token)
    assert claims["active"] is True
    assert claims["delegation_id"] == delegation.delegation_id and claims["scope"] == "stock.write"
    # MediCore's agent is not the receiving side: for it the token is simply inactive.
    assert agent.verify_token(delegation.access_token) == {"active": False}

    view = agent.get_delegation(delegation.delegation_id)
    assert view["status"] == "ACTIVE" and view["action"] == "stock.write"
    listed = agent.list_delegations(status="ACTIVE")
    assert delegation.delegation_id in {d["delegation_id"] for d in listed}


def test_step_up_approved_from_another_thread_delivers_the_token(
    server: LocalServer,
    agent: VaultGuardClient,
    natsupply_agent: VaultGuardClient,
    natsupply: str,
    admin_token: str,
) -> None:
    pending = agent.request_delegation(natsupply, "requisition.submit", binding_message="REQ-SDK-OK")
    assert isinstance(pending, PendingDelegation)
    approver = threading.Timer(1.0, decide, (server, admin_token, pending.delegation_id, "approve"))
    approver.start()
    try:
        started = time.monotonic()
        delegation = agent.poll_delegation(pending, timeout=30)
    finally:
        approver.join()
    assert time.monotonic() - started < 30
    assert delegation.delegation_id == pending.delegation_id
    assert delegation.scope == "requisition.submit"
    assert natsupply_agent.verify_token(delegation.access_token)["active"] is True


def test_step_up_rejected_is_step_up_rejected(
    server: LocalServer, agent: VaultGuardClient, natsupply: str, admin_token: str
) -> None:
    pending = agent.request_delegation(natsupply, "requisition.submit", binding_message="REQ-SDK-NO")
    assert isinstance(pending, PendingDelegation)
    decide(server, admin_token, pending.delegation_id, "reject")
    # Pretend one interval has passed already, so the first poll goes out at once.
    due = dataclasses.replace(pending, created=pending.created - pending.interval - 1)
    with pytest.raises(StepUpRejected) as caught:
        agent.poll_delegation(due, timeout=30)
    assert caught.value.status_code == 400 and caught.value.error == "access_denied"
    assert caught.value.request_id


def test_block_is_delegation_blocked(agent: VaultGuardClient, natsupply: str) -> None:
    with pytest.raises(DelegationBlocked) as caught:
        agent.request_delegation(natsupply, "admin.access")
    assert caught.value.status_code == 403 and caught.value.error == "access_denied"
    assert caught.value.request_id
    # An unknown tenant gets the very same answer.
    with pytest.raises(DelegationBlocked):
        agent.request_delegation("tnt_" + "0" * 26, "stock.write")


def test_revoke_then_the_token_is_inactive(
    agent: VaultGuardClient, natsupply_agent: VaultGuardClient, natsupply: str
) -> None:
    delegation = agent.request_delegation(natsupply, "stock.write")
    assert isinstance(delegation, Delegation)
    assert natsupply_agent.verify_token(delegation.access_token)["active"] is True
    assert agent.revoke(delegation.delegation_id)["status"] == "REVOKED"
    assert natsupply_agent.verify_token(delegation.access_token) == {"active": False}
    assert agent.revoke(delegation.delegation_id)["status"] == "REVOKED"  # idempotent


def test_with_delegation_call_form_end_to_end(
    agent: VaultGuardClient, natsupply_agent: VaultGuardClient, natsupply: str
) -> None:
    seen: dict[str, Any] = {}

    def call_natsupply(token: str) -> str:
        seen["token"] = token
        claims = natsupply_agent.verify_token(token)  # what NatSupply's API would do
        assert claims["active"] is True
        return str(claims["delegation_id"])

    delegation_id = agent.with_delegation(
        {"receiving_tenant_id": natsupply, "action": "stock.write"}, call_natsupply
    )
    assert delegation_id.startswith("dlg_")
    assert agent.get_delegation(delegation_id)["status"] == "REVOKED"  # revoke_on_exit
    assert natsupply_agent.verify_token(seen["token"]) == {"active": False}


def test_credentials_of_another_tenant_or_a_wrong_secret_fail(server: LocalServer, natsupply: str) -> None:
    with VaultGuardClient(server.url, *creds(server, "medicore", "agent"), natsupply) as wrong_tenant:
        with pytest.raises(VaultGuardError) as caught:
            wrong_tenant.request_delegation(natsupply, "stock.write")
    assert caught.value.error == "tenant_mismatch"
    client_id, _ = creds(server, "medicore", "agent")
    with VaultGuardClient(server.url, client_id, "not-the-secret") as wrong_secret:
        with pytest.raises(AuthenticationFailed) as failed:
            wrong_secret.list_delegations()
    assert failed.value.error == "invalid_client" and failed.value.request_id


def test_async_client_allow_and_context_manager(server: LocalServer, natsupply: str) -> None:
    async def scenario() -> None:
        async with (
            AsyncVaultGuardClient(server.url, *creds(server, "medicore", "agent"), timeout=TIMEOUT) as agent,
            AsyncVaultGuardClient(
                server.url, *creds(server, "natsupply", "agent"), timeout=TIMEOUT
            ) as receiver,
        ):
            delegation = await agent.request_delegation(natsupply, "stock.write")
            assert isinstance(delegation, Delegation)
            assert (await receiver.verify_token(delegation.access_token))["active"] is True
            async with agent.with_delegation(receiving_tenant_id=natsupply, action="stock.write") as token:
                assert (await receiver.verify_token(token))["active"] is True
            assert (await receiver.verify_token(token)) == {"active": False}
            with pytest.raises(DelegationBlocked):
                await agent.request_delegation(natsupply, "admin.access")

    asyncio.run(scenario())
