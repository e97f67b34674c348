"""Disabling a tenant stops it everywhere: its clients, its API tokens, its delegations."""

from __future__ import annotations

from tests.functional.conftest import Stack


def test_disabling_the_requesting_tenant_deactivates_its_delegations(stack: Stack) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    token = stack.request(agent, natsupply, "stock.write").body["access_token"]
    assert stack.verify(token, natsupply.admin_token).body["active"] is True

    disabled = stack.call(
        "PATCH", f"/tenants/{medicore.tenant_id}", stack.platform_token, {"status": "DISABLED"}
    )
    assert disabled.status == 200 and disabled.body["status"] == "DISABLED"

    assert stack.verify(token, natsupply.admin_token).body == {"active": False}
    assert stack.call("GET", "/agents", medicore.admin_token).status == 401
    refused = stack.form(
        "/oauth/token",
        f"grant_type=client_credentials&client_id={agent.client_id}&client_secret={agent.secret}",
    )
    assert refused.status == 401 and refused.body["error"] == "invalid_client"

    # Re-enabling restores service for the same credentials.
    stack.call("PATCH", f"/tenants/{medicore.tenant_id}", stack.platform_token, {"status": "ACTIVE"})
    assert stack.verify(token, natsupply.admin_token).body["active"] is True
    assert (
        stack.call("GET", "/agents", stack.token(medicore.admin_client_id, medicore.admin_secret)).status
        == 200
    )


def test_tenant_admin_sees_own_tenant_and_stats_only(stack: Stack) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    own = stack.call("GET", f"/tenants/{medicore.tenant_id}", medicore.admin_token)
    assert own.status == 200 and own.body["name"] == "MediCore"
    stats = stack.call("GET", f"/tenants/{medicore.tenant_id}/stats", medicore.admin_token)
    assert stats.status == 200 and stats.body["agents"] == 0
    assert stack.call("GET", "/tenants", medicore.admin_token).status == 403
    listed = stack.call("GET", "/tenants", stack.platform_token).body["tenants"]
    assert {t["tenant_id"] for t in listed} == {medicore.tenant_id, natsupply.tenant_id}
