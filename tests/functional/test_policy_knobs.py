"""Policy knobs per action (issue 15 item 5): `require_private_key_jwt` refuses delegations to
agents that authenticated with a client secret, answered exactly as a BLOCK; `ttl_seconds` is
the maximum token TTL (a request asking more is capped). And the migration of item 6: moving a
secret-based agent to keys (`PUT /agents/{id}/keys`) disables its secret at once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.conftest import Agent, Reply, Stack
from tests.functional.helpers import (
    all_audit,
    assert_error,
    basic,
    jwt_parts,
    observable,
    random_tenant_id,
    shared_botocore_data,
    token_request,
)
from tests.functional.test_private_key_jwt import KeyAgent, public_jwk, register, rsa_key, token_with
from tests.functional.test_round_trips import dynamodb_calls

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)


def _key_token(stack: Stack, keyed: KeyAgent) -> Agent:
    reply = token_with(stack, keyed.assertion())
    assert reply.status == 200, reply.body
    return Agent(keyed.agent_id, keyed.tenant, keyed.client_id, "", reply.body["access_token"])


def _secret_token(stack: Stack, agent: Agent) -> Reply:
    return token_request(stack, {"grant_type": "client_credentials"}, basic(agent.client_id, agent.secret))


def test_api_tokens_say_how_the_agent_authenticated(stack: Stack) -> None:
    med = stack.tenant("MediCore")
    secret_agent = stack.agent(med)
    keyed = register(stack, med, rsa_key(), "RS256")
    assert jwt_parts(secret_agent.token)[1]["amr"] == ["client_secret"]
    assert jwt_parts(_key_token(stack, keyed).token)[1]["amr"] == ["private_key_jwt"]


def test_a_secret_agent_under_a_key_only_policy_gets_exactly_a_block(stack: Stack) -> None:
    med, nat, blocking = stack.tenant("MediCore"), stack.tenant("NatSupply"), stack.tenant("Blocking")
    stack.policy(nat, "stock.write", "ALLOW", med, require_private_key_jwt=True)
    stack.policy(nat, "stock.approve", "STEP_UP", None, require_private_key_jwt=True)
    stack.policy(blocking, "stock.write", "BLOCK", med)
    secret_agent = stack.agent(med)
    keyed = _key_token(stack, register(stack, med, rsa_key(), "RS256"))

    reference = stack.request(secret_agent, blocking, "stock.write")
    assert_error(reference, 403, "access_denied")
    for target, action in ((nat, "stock.write"), (nat, "stock.approve"), (random_tenant_id(), "stock.write")):
        assert observable(stack.request(secret_agent, target, action)) == observable(reference)
    # The same agent once it holds a key-based token: the policy's own decision.
    assert stack.request(keyed, nat, "stock.write").status == 201
    assert stack.request(keyed, nat, "stock.approve").status == 202

    # Why, only in the receiving tenant's log; the requester's entries look like any BLOCK.
    received = [e for e in all_audit(stack, nat) if e["type"] == "delegation.blocked"]
    assert [e["detail"] for e in received] == [{"reason": "private_key_jwt_required"}] * 2
    sent = [e for e in all_audit(stack, med) if e["type"] == "delegation.blocked"]
    assert len(sent) == 4 and all("detail" not in e for e in sent)


def test_the_key_check_costs_no_round_trip(stack: Stack) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med, require_private_key_jwt=True)
    secret_agent = stack.agent(med)
    with dynamodb_calls() as calls:
        assert stack.request(secret_agent, nat, "stock.write").status == 403
    assert sum(calls.values()) <= 2, calls


def test_the_policy_ttl_is_the_maximum_a_request_gets(stack: Stack) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med, ttl_seconds=600)
    agent = stack.agent(med)
    asked_more = stack.request(agent, nat, "stock.write", ttl_seconds=7200)
    asked_less = stack.request(agent, nat, "stock.write", ttl_seconds=120)
    asked_none = stack.request(agent, nat, "stock.write")
    assert 590 <= asked_more.body["expires_in"] <= 600, asked_more.body  # capped, not refused
    assert 110 <= asked_less.body["expires_in"] <= 120
    assert 590 <= asked_none.body["expires_in"] <= 600


def test_knobs_round_trip_and_are_audited(stack: Stack) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    reply = stack.policy(nat, "stock.write", "ALLOW", med, require_private_key_jwt=True, ttl_seconds=900)
    assert reply.status == 201, reply.body
    assert (reply.body["require_private_key_jwt"], reply.body["ttl_seconds"]) == (True, 900)
    listed = stack.call("GET", "/policies", nat.admin_token).body["policies"]
    assert [(p["require_private_key_jwt"], p["ttl_seconds"]) for p in listed] == [(True, 900)]
    event = next(e for e in all_audit(stack, nat) if e["type"] == "policy.upserted")
    assert event["detail"]["require_private_key_jwt"] is True and event["detail"]["ttl_seconds"] == 900
    stack.policy(nat, "stock.write", "ALLOW", med)  # replaced without it: off again
    listed = stack.call("GET", "/policies", nat.admin_token).body["policies"]
    assert listed[0]["require_private_key_jwt"] is False


@pytest.mark.parametrize(
    "extra",
    [
        {"require_private_key_jwt": "yes"},
        {"require_private_key_jwt": 1},
        {"require_private_key_jwt": [True]},
        {"ttl_seconds": 86401},
        {"ttl_seconds": 59},
        {"ttl_seconds": 600.5},
        {"ttl_seconds": True},
    ],
)
def test_bad_knobs_are_a_clear_400(stack: Stack, extra: dict[str, Any]) -> None:
    nat = stack.tenant("NatSupply")
    body = {"action": "stock.write", "effect": "ALLOW", **extra}
    reply = stack.call("PUT", "/policies", nat.admin_token, body)
    assert_error(reply, 400, "invalid_request")
    assert next(iter(extra)) in reply.body["error_description"]
    assert stack.call("GET", "/policies", nat.admin_token).body["policies"] == []


def test_evaluate_reflects_the_knobs(stack: Stack) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med, require_private_key_jwt=True, ttl_seconds=600)

    def evaluate(**extra: Any) -> dict[str, Any]:
        body = {"requesting_tenant_id": med.tenant_id, "action": "stock.write", **extra}
        reply = stack.call("POST", "/policies/evaluate", nat.admin_token, body)
        assert reply.status == 200, reply.body
        return dict(reply.body)

    plain = evaluate()
    assert (plain["decision"], plain["granted_ttl_seconds"]) == ("ALLOW", 600)
    assert plain["policy"]["require_private_key_jwt"] is True and "client secret" in plain["explanation"]
    assert evaluate(ttl_seconds=7200)["granted_ttl_seconds"] == 600
    assert evaluate(ttl_seconds=300, auth_method="private_key_jwt")["granted_ttl_seconds"] == 300
    assert evaluate(auth_method="federated")["decision"] == "ALLOW"
    secret = evaluate(auth_method="client_secret")
    assert (secret["decision"], secret["granted_ttl_seconds"]) == ("BLOCK", None)
    bad = stack.call(
        "POST",
        "/policies/evaluate",
        nat.admin_token,
        {"requesting_tenant_id": med.tenant_id, "action": "stock.write", "auth_method": "password"},
    )
    assert_error(bad, 400, "invalid_request")


def test_moving_a_secret_agent_to_keys_disables_its_secret(stack: Stack) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med, require_private_key_jwt=True)
    agent = stack.agent(med)
    assert _secret_token(stack, agent).status == 200  # works until moved
    key = rsa_key()
    keys = {"jwks": {"keys": [public_jwk(key, "k1")]}}
    reply = stack.call("PUT", f"/agents/{agent.agent_id}/keys", med.admin_token, keys)
    assert reply.status == 200, reply.body
    assert reply.body["token_endpoint_auth_method"] == "private_key_jwt" and "client_secret" not in reply.body
    listed = stack.call("GET", f"/agents/{agent.agent_id}", med.admin_token).body
    assert listed["token_endpoint_auth_method"] == "private_key_jwt"

    assert_error(_secret_token(stack, agent), 401, "invalid_client")  # the secret stopped
    assert stack.call("GET", "/delegations", agent.token).status == 401  # and its tokens
    assert_error(stack.call("POST", f"/agents/{agent.agent_id}/rotate-secret", med.admin_token, {}), 409)
    keyed = _key_token(stack, KeyAgent(agent.agent_id, agent.client_id, med, key, "RS256", "k1"))
    assert stack.request(keyed, nat, "stock.write").status == 201  # now passes the key-only policy

    moved = [e for e in all_audit(stack, med) if e["type"] == "agent.keys_rotated"]
    assert len(moved) == 1 and moved[0]["detail"]["secret_disabled"] is True


def test_moving_to_keys_is_for_admins_of_the_agents_tenant(stack: Stack) -> None:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(med)
    keys = {"jwks": {"keys": [public_jwk(rsa_key())]}}
    assert_error(stack.call("PUT", f"/agents/{agent.agent_id}/keys", nat.admin_token, keys), 404)
    assert_error(stack.call("PUT", f"/agents/{agent.agent_id}/keys", agent.token, keys), 403)
    assert _secret_token(stack, agent).status == 200  # nothing changed
