"""`make run` end to end: the curl walkthrough of the README, over real HTTP."""

from __future__ import annotations

import jwt
import requests

from tests.e2e.conftest import LocalServer


def agent_token(server: LocalServer, tenant: str = "medicore") -> str:
    agent = server.state["tenants"][tenant]["agent"]
    reply = requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(agent["client_id"], agent["client_secret"]),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["Cache-Control"] == "no-store"
    return str(reply.json()["access_token"])


def admin_token(server: LocalServer, tenant: str) -> str:
    admin = server.state["tenants"][tenant]["admin"]
    reply = requests.post(
        f"{server.url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": admin["client_id"],
            "client_secret": admin["client_secret"],
        },
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def request_delegation(server: LocalServer, token: str, action: str) -> requests.Response:
    return requests.post(
        f"{server.url}/delegations/request",
        json={"receiving_tenant_id": server.state["tenants"]["natsupply"]["tenant_id"], "action": action},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_state_file_describes_the_demo(server: LocalServer) -> None:
    state = server.state
    assert state["api_url"] == server.url
    assert state["issuer"] == server.url
    assert set(state["tenants"]) == {"medicore", "natsupply"}
    for tenant in state["tenants"].values():
        assert tenant["tenant_id"].startswith("tnt_")
        assert {"client_id", "client_secret"} <= set(tenant["admin"])
        assert {"client_id", "client_secret", "agent_id"} <= set(tenant["agent"])


def test_discovery_and_jwks(server: LocalServer) -> None:
    meta = requests.get(f"{server.url}/.well-known/oauth-authorization-server", timeout=10).json()
    assert meta["issuer"] == server.url
    assert meta["jwks_uri"] == f"{server.url}/.well-known/jwks.json"
    keys = requests.get(meta["jwks_uri"], timeout=10).json()["keys"]
    assert keys and all(set(k) == {"kty", "use", "alg", "kid", "n", "e"} for k in keys)


def test_three_outcomes_and_verification_over_http(server: LocalServer) -> None:
    token = agent_token(server)

    allowed = request_delegation(server, token, "stock.write")
    assert allowed.status_code == 201, allowed.text
    body = allowed.json()
    assert body["decision"] == "ALLOW" and body["token_type"] == "Bearer"
    delegation_token = body["access_token"]

    # The receiving API can check the token offline against the published JWKS...
    jwks = jwt.PyJWKClient(f"{server.url}/.well-known/jwks.json")
    key = jwks.get_signing_key_from_jwt(delegation_token)
    claims = jwt.decode(
        delegation_token,
        key.key,
        algorithms=["RS256"],
        issuer=server.url,
        audience=server.state["tenants"]["natsupply"]["audience"],
    )
    assert claims["scope"] == "stock.write" and claims["jti"] == body["delegation_id"]

    # ...and online against the registry.
    natsupply_admin = admin_token(server, "natsupply")
    headers = {"Authorization": f"Bearer {natsupply_admin}"}
    verified = requests.post(
        f"{server.url}/delegations/verify", json={"token": delegation_token}, headers=headers, timeout=10
    )
    assert verified.json()["active"] is True

    pending = request_delegation(server, token, "requisition.submit")
    assert pending.status_code == 202
    assert pending.json()["status"] == "PENDING" and pending.json()["interval"] == 5

    blocked = request_delegation(server, token, "admin.access")
    assert blocked.status_code == 403
    assert blocked.json()["error"] == "access_denied"

    revoked = requests.post(
        f"{server.url}/delegations/{body['delegation_id']}/revoke",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert revoked.status_code == 200
    after = requests.post(
        f"{server.url}/delegations/verify", json={"token": delegation_token}, headers=headers, timeout=10
    )
    assert after.json() == {"active": False}


def test_every_response_carries_request_id_and_security_headers(server: LocalServer) -> None:
    reply = requests.get(f"{server.url}/health", headers={"x-request-id": "e2e-check-0001"}, timeout=10)
    assert reply.headers["x-request-id"] == "e2e-check-0001"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age" in reply.headers["Strict-Transport-Security"]
    bad = requests.post(
        f"{server.url}/delegations/request",
        data="{not json",
        headers={"Authorization": f"Bearer {agent_token(server)}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert bad.status_code == 400
    assert set(bad.json()) == {"error", "error_description", "request_id"}


def test_admin_exports_own_audit_log_as_csv(server: LocalServer) -> None:
    token = admin_token(server, "natsupply")
    reply = requests.get(
        f"{server.url}/audit/export.csv", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/csv")
    lines = reply.text.split("\r\n")
    assert lines[0].startswith("occurred_at,event_id,type,")
    assert any(",tenant.created," in line for line in lines[1:])
