"""DPoP (RFC 9449) at VaultGuard's own endpoints: DPoP-bound API tokens from
client_credentials, the refusal matrix (no proof, another method or URL, stale iat, replayed
jti, wrong ath, another key, a bound token sent as Bearer), delegations bound to the agent's
key (at once and through CIBA polling), the require_dpop policy, and the round trips."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from vaultguard import DPoPKey

from tests.functional.conftest import ISSUER, Reply, Stack
from tests.functional.helpers import assert_error, basic, form, token_request
from tests.functional.test_round_trips import dynamodb_calls

CIBA = "urn:openid:params:grant-type:ciba"
TOKEN_URL = f"{ISSUER}/oauth/token"


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def bound_api_token(stack: Stack, client_id: str, secret: str, key: DPoPKey) -> Reply:
    return token_request(
        stack,
        {"grant_type": "client_credentials"},
        {**basic(client_id, secret), "DPoP": key.proof("POST", TOKEN_URL)},
    )


def dpop_call(stack: Stack, method: str, path: str, token: str, key: DPoPKey, **kwargs: Any) -> Reply:
    proof = kwargs.pop("proof", None) or key.proof(method, ISSUER + path, access_token=token)
    return stack.call(method, path, headers={"authorization": f"DPoP {token}", "DPoP": proof}, **kwargs)


@pytest.fixture
def world(stack: Stack) -> dict[str, Any]:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(med)
    stack.policy(nat, "stock.write", "ALLOW", med)
    stack.policy(nat, "stock.approve", "STEP_UP", med)
    stack.policy(nat, "stock.bound", "ALLOW", med, require_dpop=True)
    return {"med": med, "nat": nat, "agent": agent}


def test_client_credentials_with_a_proof_gives_a_bound_token(stack: Stack, world: dict[str, Any]) -> None:
    agent, key = world["agent"], DPoPKey()
    reply = bound_api_token(stack, agent.client_id, agent.secret, key)
    assert reply.status == 200, reply.body
    assert reply.body["token_type"] == "DPoP"
    assert claims_of(reply.body["access_token"])["cnf"] == {"jkt": key.thumbprint}
    token = reply.body["access_token"]
    assert dpop_call(stack, "GET", "/delegations", token, key).status == 200


def test_a_bad_proof_at_the_token_endpoint_is_invalid_dpop_proof(stack: Stack, world: dict[str, Any]) -> None:
    agent, key = world["agent"], DPoPKey()
    reply = token_request(
        stack,
        {"grant_type": "client_credentials"},
        {**basic(agent.client_id, agent.secret), "DPoP": key.proof("POST", f"{ISSUER}/other")},
    )
    assert_error(reply, 400, "invalid_dpop_proof")


@pytest.mark.parametrize(
    "case", ["bearer", "no proof", "other method", "other url", "stale", "wrong ath", "other key"]
)
def test_the_refusal_matrix_of_a_bound_api_token(stack: Stack, world: dict[str, Any], case: str) -> None:
    agent, key = world["agent"], DPoPKey()
    token = bound_api_token(stack, agent.client_id, agent.secret, key).body["access_token"]
    url = f"{ISSUER}/delegations"
    if case == "bearer":
        reply = stack.call("GET", "/delegations", token)
    elif case == "no proof":
        reply = stack.call("GET", "/delegations", headers={"authorization": f"DPoP {token}"})
    else:
        proof = {
            "other method": lambda: key.proof("POST", url, access_token=token),
            "other url": lambda: key.proof("GET", f"{ISSUER}/agents", access_token=token),
            "stale": lambda: key.proof("GET", url, access_token=token, now=time.time() - 300),
            "wrong ath": lambda: key.proof("GET", url, access_token=token + "x"),
            "other key": lambda: DPoPKey().proof("GET", url, access_token=token),
        }[case]()
        reply = dpop_call(stack, "GET", "/delegations", token, key, proof=proof)
    assert reply.status == 401, reply.body
    assert reply.headers["WWW-Authenticate"].startswith('DPoP algs="')
    assert reply.body["error"] == ("invalid_token" if case == "bearer" else "invalid_dpop_proof")


def test_a_replayed_proof_is_refused(stack: Stack, world: dict[str, Any]) -> None:
    agent, key = world["agent"], DPoPKey()
    token = bound_api_token(stack, agent.client_id, agent.secret, key).body["access_token"]
    proof = key.proof("GET", f"{ISSUER}/delegations", access_token=token)
    assert dpop_call(stack, "GET", "/delegations", token, key, proof=proof).status == 200
    assert_error(dpop_call(stack, "GET", "/delegations", token, key, proof=proof), 400, "invalid_dpop_proof")


def test_an_unbound_token_sent_as_dpop_is_refused(stack: Stack, world: dict[str, Any]) -> None:
    agent, key = world["agent"], DPoPKey()
    reply = dpop_call(stack, "GET", "/delegations", agent.token, key)
    assert reply.status == 401 and reply.body["error"] == "invalid_token"


def test_a_delegation_requested_with_a_proof_is_bound(stack: Stack, world: dict[str, Any]) -> None:
    agent, nat, key = world["agent"], world["nat"], DPoPKey()
    proof = key.proof("POST", f"{ISSUER}/delegations/request")
    reply = stack.call(
        "POST",
        "/delegations/request",
        agent.token,
        {"receiving_tenant_id": nat.tenant_id, "action": "stock.write"},
        headers={"DPoP": proof},
    )
    assert reply.status == 201, reply.body
    assert reply.body["token_type"] == "DPoP"
    assert claims_of(reply.body["access_token"])["cnf"] == {"jkt": key.thumbprint}
    events = [e for e in stack.audit(nat) if e.get("delegation_id") == reply.body["delegation_id"]]
    assert any((e.get("detail") or {}).get("dpop_jkt") == key.thumbprint for e in events)
    assert all(proof not in str(e) for e in events)  # never the proof


def test_require_dpop_refuses_a_request_without_a_proof(stack: Stack, world: dict[str, Any]) -> None:
    agent, nat = world["agent"], world["nat"]
    assert_error(stack.request(agent, nat, "stock.bound"), 400, "invalid_dpop_proof")
    key = DPoPKey()
    token = bound_api_token(stack, agent.client_id, agent.secret, key).body["access_token"]
    reply = dpop_call(
        stack, "POST", "/delegations/request", token, key,
        body={"receiving_tenant_id": nat.tenant_id, "action": "stock.bound"},
    )  # fmt: skip
    assert reply.status == 201, reply.body
    assert claims_of(reply.body["access_token"])["cnf"] == {"jkt": key.thumbprint}
    # a BLOCK stays a BLOCK, proof or not
    assert stack.request(agent, nat, "stock.unknown").status == 403


def _approve_and_poll(
    stack: Stack, world: dict[str, Any], proof_key: DPoPKey | None, request_key: DPoPKey | None
) -> Reply:
    agent, nat = world["agent"], world["nat"]
    headers = {"DPoP": request_key.proof("POST", f"{ISSUER}/delegations/request")} if request_key else {}
    pending = stack.call(
        "POST", "/delegations/request", agent.token,
        {"receiving_tenant_id": nat.tenant_id, "action": "stock.approve"}, headers=headers,
    )  # fmt: skip
    assert pending.status == 202, pending.body
    approved = stack.call(
        "POST", f"/delegations/{pending.body['delegation_id']}/approve", nat.admin_token, {}
    )
    assert approved.status == 200, approved.body
    poll_headers = {**basic(agent.client_id, agent.secret)}
    if proof_key is not None:
        poll_headers["DPoP"] = proof_key.proof("POST", TOKEN_URL)
    return stack.form(
        "/oauth/token", form({"grant_type": CIBA, "auth_req_id": pending.body["auth_req_id"]}), poll_headers
    )


def test_ciba_poll_must_prove_the_key_of_a_bound_request(stack: Stack, world: dict[str, Any]) -> None:
    key = DPoPKey()
    assert_error(_approve_and_poll(stack, world, DPoPKey(), key), 400, "invalid_dpop_proof")
    reply = _approve_and_poll(stack, world, key, key)
    assert reply.status == 200, reply.body
    assert reply.body["token_type"] == "DPoP"
    assert claims_of(reply.body["access_token"])["cnf"] == {"jkt": key.thumbprint}


def test_ciba_poll_binds_an_unbound_request_to_the_poll_key(stack: Stack, world: dict[str, Any]) -> None:
    key = DPoPKey()
    reply = _approve_and_poll(stack, world, key, None)
    assert reply.status == 200, reply.body
    token = reply.body["access_token"]
    assert claims_of(token)["cnf"] == {"jkt": key.thumbprint}
    nat = world["nat"]
    verified = stack.verify(token, nat.admin_token)  # the registry knows the bound token
    assert verified.status == 200 and verified.body["active"] is True, verified.body


def test_dpop_adds_no_round_trip(stack: Stack, world: dict[str, Any]) -> None:
    agent, nat, key = world["agent"], world["nat"], DPoPKey()
    with dynamodb_calls() as calls:
        token = bound_api_token(stack, agent.client_id, agent.secret, key).body["access_token"]
    assert sum(calls.values()) <= 2, calls
    with dynamodb_calls() as calls:
        reply = dpop_call(
            stack, "POST", "/delegations/request", token, key,
            body={"receiving_tenant_id": nat.tenant_id, "action": "stock.write"},
        )  # fmt: skip
    assert reply.status == 201 and sum(calls.values()) <= 2, calls
    with dynamodb_calls() as calls:
        assert dpop_call(stack, "GET", "/delegations", token, key).status == 200
    assert sum(calls.values()) <= 3, calls
