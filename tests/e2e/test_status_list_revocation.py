"""Against the real local server: DelegationVerifier(status_list=True) refuses a revoked
delegation within 5 s of the revocation, offline (no call per verification)."""

from __future__ import annotations

import time

import pytest
import requests
from vaultguard import DelegationVerifier, InvalidDelegationToken

from tests.e2e.conftest import LocalServer
from tests.sdk.test_verifier_live import _agent_token, _allow_delegation

pytestmark = pytest.mark.e2e


def test_revoke_then_refusal_within_5_s_offline(server: LocalServer) -> None:
    natsupply = server.state["tenants"]["natsupply"]
    agent_token = _agent_token(server)
    issued = _allow_delegation(server, agent_token)
    verifier = DelegationVerifier(server.url, natsupply["audience"], status_list=True)
    assert verifier.status_lists is not None
    try:
        assert verifier.verify(issued["access_token"]).delegation_id == issued["delegation_id"]
        fetches = verifier.status_lists.fetch_count
        for _ in range(100):
            verifier.verify(issued["access_token"])
        assert verifier.status_lists.fetch_count - fetches <= 2  # the refresher only
        reply = requests.post(
            f"{server.url}/delegations/{issued['delegation_id']}/revoke",
            json={},
            headers={"Authorization": f"Bearer {agent_token}"},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        revoked = time.monotonic()
        while True:
            try:
                verifier.verify(issued["access_token"])
            except InvalidDelegationToken as exc:
                assert exc.reason == "revoked"
                break
            assert time.monotonic() - revoked < 5, "still accepted 5 s after the revocation"
            time.sleep(0.05)
    finally:
        verifier.status_lists.close()
