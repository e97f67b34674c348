"""Data survives a restart of `make run`, and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import requests

from tests.e2e.conftest import LocalServer, free_port
from tests.e2e.test_local_server import agent_token, request_delegation


def test_data_survives_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = LocalServer(free_port(), tmp_path / "state")
    server.start()
    try:
        first_state = server.state
        token = agent_token(server)
        created = request_delegation(server, token, "stock.write")
        assert created.status_code == 201
        delegation_id = created.json()["delegation_id"]
        jwks_before = requests.get(f"{server.url}/.well-known/jwks.json", timeout=10).json()
    finally:
        assert server.stop() == 0
    assert "Data saved" in server.log()

    server.start()
    try:
        assert server.state["tenants"] == first_state["tenants"], "demo data must not be re-seeded"
        token = agent_token(server)  # the same credentials still work
        got = requests.get(
            f"{server.url}/delegations/{delegation_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert got.status_code == 200 and got.json()["status"] == "ACTIVE"
        assert requests.get(f"{server.url}/.well-known/jwks.json", timeout=10).json() == jwks_before
    finally:
        assert server.stop() == 0
