"""The paths that keep requests within their round-trip budgets behave like the slower ones
they replaced: disabling an agent revokes every live delegation however many there are, and
records written before the fast paths existed (delegation references without the token's
fingerprint, auth_req_ids that name nothing) still work."""

from __future__ import annotations

import hashlib
import secrets

import boto3
import pytest

from chalicelib.config import RATE_DELEGATIONS_PER_MINUTE, get_settings
from tests.functional.conftest import Stack
from tests.functional.helpers import basic, form, grant, is_active, shared_botocore_data

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

CIBA = "urn:openid:params:grant-type:ciba"


@pytest.fixture
def no_delegation_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many delegations by one agent within a minute (set before the stack reads settings)."""
    monkeypatch.setenv(RATE_DELEGATIONS_PER_MINUTE, "0")


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_disabling_an_agent_revokes_more_delegations_than_one_transaction_holds(
    no_delegation_limit: None, stack: Stack, subtests: pytest.Subtests
) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    stack.policy(natsupply, "stock.approve", "STEP_UP", medicore)
    active = [grant(stack, agent, natsupply) for _ in range(27)]
    pending = [stack.request(agent, natsupply, "stock.approve").body for _ in range(3)]

    disabled = stack.call("DELETE", f"/agents/{agent.agent_id}", medicore.admin_token)
    with subtests.test("all 30 live delegations are reported revoked"):
        assert disabled.status == 200, disabled.body
        assert disabled.body["status"] == "DISABLED" and disabled.body["revoked_delegations"] == 30
    with subtests.test("none of the tokens verifies any more, and no pending one can be approved"):
        assert not any(is_active(stack, g.token, natsupply) for g in active)
        for body in pending:
            shown = stack.call("GET", f"/delegations/{body['delegation_id']}", natsupply.admin_token)
            assert shown.body["status"] == "REVOKED", shown.body
    with subtests.test("each revocation is in both logs, with the token's fingerprint"):
        for tenant in (medicore, natsupply):
            events = [
                e
                for e in stack.audit(tenant, "&type=delegation.revoked")
                if e["detail"].get("reason") == "agent_disabled"
            ]
            by_delegation = {e["delegation_id"]: e for e in events}
            assert len(events) == len(by_delegation) == 30
            for g in active:
                assert by_delegation[g.delegation_id]["token_sha256"] == fingerprint(g.token)
    with subtests.test("disabling it again revokes nothing more"):
        again = stack.call("DELETE", f"/agents/{agent.agent_id}", medicore.admin_token)
        assert again.status == 200 and again.body["revoked_delegations"] == 0, again.body


def test_a_reference_without_the_token_fingerprint_still_revokes_with_it(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    """References written before they carried `token_sha256`: the record of truth supplies it."""
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    older, newer = grant(stack, agent, natsupply), grant(stack, agent, natsupply)
    boto3.client("dynamodb").update_item(
        TableName=get_settings().table_name,
        Key={"pk": {"S": f"T#{medicore.tenant_id}"}, "sk": {"S": f"DLGREF#{older.delegation_id}"}},
        UpdateExpression="REMOVE token_sha256",
    )

    disabled = stack.call("DELETE", f"/agents/{agent.agent_id}", medicore.admin_token)
    assert disabled.status == 200 and disabled.body["revoked_delegations"] == 2, disabled.body
    with subtests.test("both tokens stop verifying"):
        assert not is_active(stack, older.token, natsupply)
        assert not is_active(stack, newer.token, natsupply)
    with subtests.test("both revocation events carry their token's fingerprint"):
        events = stack.audit(natsupply, "&type=delegation.revoked")
        shown = {e["delegation_id"]: e["token_sha256"] for e in events}
        assert shown == {g.delegation_id: fingerprint(g.token) for g in (older, newer)}


def test_an_auth_req_id_of_the_older_form_still_polls_and_completes(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    """auth_req_ids issued before they named the receiving tenant and the delegation."""
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.approve", "STEP_UP", medicore)
    started = stack.request(agent, natsupply, "stock.approve").body
    older = "ar_" + secrets.token_urlsafe(32)
    _rename_auth_req(
        started["delegation_id"], started["auth_req_id"], older, medicore.tenant_id, natsupply.tenant_id
    )

    def poll() -> tuple[int, dict[str, object]]:
        body = form({"grant_type": CIBA, "auth_req_id": older})
        reply = stack.form("/oauth/token", body, basic(agent.client_id, agent.secret))
        return reply.status, reply.body

    with subtests.test("the agent polls with it: pending"):
        status, body = poll()
        assert (status, body["error"]) == (400, "authorization_pending"), body
    with subtests.test("the new id no longer names anything"):
        renamed = form({"grant_type": CIBA, "auth_req_id": started["auth_req_id"]})
        reply = stack.form("/oauth/token", renamed, basic(agent.client_id, agent.secret))
        assert (reply.status, reply.body["error"]) == (400, "invalid_grant"), reply.body
    with subtests.test("the receiving admin approves by it, and the agent gets the token once"):
        done = stack.call(
            "POST", f"/stepup/{older}/complete", natsupply.admin_token, {"decision": "approve"}
        )
        assert done.status == 200 and done.body["status"] == "ACTIVE", done.body
        shown = stack.call("GET", f"/stepup/{older}/status", agent.token)
        assert shown.status == 200 and shown.body["status"] == "APPROVED", shown.body
        token = shown.body["access_token"]
        assert is_active(stack, token, natsupply)
        status, body = poll()
        assert (status, body["error"]) == (400, "invalid_grant"), body


def _rename_auth_req(delegation_id: str, current: str, older: str, requesting: str, receiving: str) -> None:
    """Give a pending delegation an auth_req_id of the older, purely random form."""
    client, table = boto3.client("dynamodb"), get_settings().table_name
    for tenant_id in (requesting, receiving):
        key = {"pk": {"S": f"T#{tenant_id}"}, "sk": {"S": f"AUTHREQ#{current}"}}
        item = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
        client.put_item(TableName=table, Item={**item, "sk": {"S": f"AUTHREQ#{older}"}})
        client.delete_item(TableName=table, Key=key)
    for key in (
        {"pk": {"S": f"T#{receiving}"}, "sk": {"S": f"DLG#{delegation_id}"}},
        {"pk": {"S": f"T#{requesting}"}, "sk": {"S": f"DLGREF#{delegation_id}"}},
    ):
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET auth_req_id = :id",
            ExpressionAttributeValues={":id": {"S": older}},
        )
