"""The core happy path: ALLOW issues a token the receiving tenant can verify until revoked."""

from __future__ import annotations

from tests.functional.conftest import Stack


def test_allow_verify_revoke(stack: Stack) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)

    granted = stack.request(agent, natsupply, "stock.write")
    assert granted.status == 201
    assert granted.body["decision"] == "ALLOW"

    token = granted.body["access_token"]
    assert stack.verify(token, natsupply.admin_token).body["active"] is True

    revoked = stack.call("POST", f"/delegations/{granted.body['delegation_id']}/revoke", agent.token)
    assert revoked.status == 200
    assert revoked.body["status"] == "REVOKED"
    assert stack.verify(token, natsupply.admin_token).body == {"active": False}
