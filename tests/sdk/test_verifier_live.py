"""DelegationVerifier against the real local server: offline verification of a delegation it
issued, then revocation seen through introspection."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from vaultguard import DelegationVerifier, Introspector, InvalidDelegationToken

from tests.e2e.conftest import LocalServer

pytestmark = pytest.mark.e2e


def _agent_token(server: LocalServer) -> str:
    agent = server.state["tenants"]["medicore"]["agent"]
    reply = requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(agent["client_id"], agent["client_secret"]),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def _allow_delegation(server: LocalServer, agent_token: str) -> dict[str, Any]:
    reply = requests.post(
        f"{server.url}/delegations/request",
        json={
            "receiving_tenant_id": server.state["tenants"]["natsupply"]["tenant_id"],
            "action": "stock.write",
        },
        headers={"Authorization": f"Bearer {agent_token}"},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    assert body["decision"] == "ALLOW"
    return body


def test_offline_verification_then_revocation_seen_online(server: LocalServer) -> None:
    state = server.state
    natsupply = state["tenants"]["natsupply"]
    agent_token = _agent_token(server)
    issued = _allow_delegation(server, agent_token)
    delegation_token = issued["access_token"]

    offline = DelegationVerifier(issuer=server.url, audience=natsupply["audience"])
    verified = offline.verify(delegation_token, action="stock.write")
    assert verified.delegation_id == issued["delegation_id"]
    assert verified.agent_id == state["tenants"]["medicore"]["agent"]["agent_id"]
    assert verified.requesting_tenant_id == state["tenants"]["medicore"]["tenant_id"]
    assert verified.receiving_tenant_id == natsupply["tenant_id"]
    assert verified.scope == "stock.write"

    # The agent's own API token is signed by the same key but is not a delegation.
    with pytest.raises(InvalidDelegationToken) as exc:
        offline.verify(agent_token)
    assert exc.value.reason == "bad_typ"
    # Addressed to NatSupply, so MediCore's audience refuses it.
    medicore_side = DelegationVerifier(server.url, state["tenants"]["medicore"]["audience"])
    with pytest.raises(InvalidDelegationToken) as exc:
        medicore_side.verify(delegation_token)
    assert exc.value.reason == "wrong_audience"

    admin = natsupply["admin"]
    introspector = Introspector(server.url, admin["client_id"], admin["client_secret"], ttl=0)
    online = DelegationVerifier(server.url, natsupply["audience"], introspect=introspector)
    assert online.verify(delegation_token, action="stock.write").delegation_id == issued["delegation_id"]

    revoked = requests.post(
        f"{server.url}/delegations/{issued['delegation_id']}/revoke",
        headers={"Authorization": f"Bearer {agent_token}"},
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text

    with pytest.raises(InvalidDelegationToken) as exc:
        online.verify(delegation_token, action="stock.write")
    assert exc.value.reason == "revoked"
    assert introspector.request_count == 2
    # Offline verification alone cannot know: that is what the introspector is for.
    assert offline.verify(delegation_token).delegation_id == issued["delegation_id"]


def test_introspection_with_foreign_credentials_never_says_active(server: LocalServer) -> None:
    """MediCore's admin cannot use introspection to validate tokens addressed to NatSupply."""
    state = server.state
    issued = _allow_delegation(server, _agent_token(server))
    medicore_admin = state["tenants"]["medicore"]["admin"]
    introspector = Introspector(
        server.url, medicore_admin["client_id"], medicore_admin["client_secret"], ttl=0
    )
    assert introspector(issued["access_token"]) is False
