"""Federated agents (issue 15, item 2): an agent mapped from one subject of a trusted external
issuer gets VaultGuard API tokens with that issuer's JWT (RFC 7523 jwt-bearer grant, RFC 8693
token exchange); the refusal matrix; tenants never reach each other's agents."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.functional.conftest import ISSUER, Reply, Stack, Tenant
from tests.functional.fake_issuer import Issuer, Publisher, rsa_key
from tests.functional.helpers import assert_error, b64url, b64url_json, form
from tests.functional.test_round_trips import dynamodb_calls

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
AUTH0 = "https://medicore.eu.auth0.fake/"
K8S = "https://oidc.cluster.fake"


@dataclass
class FederatedAgent:
    agent_id: str
    client_id: str
    tenant: Tenant
    issuer: Issuer
    subject: str


@pytest.fixture
def publisher(stack: Stack) -> Publisher:
    pub = Publisher()
    stack.container.remote_keys = pub.remote_keys()
    return pub


@pytest.fixture
def med(stack: Stack) -> Tenant:
    return stack.tenant("MediCore")


@pytest.fixture
def auth0(publisher: Publisher) -> Issuer:
    return publisher.issuer(AUTH0)


def register(
    stack: Stack, tenant: Tenant, issuer: Issuer, subject: str, audience: str | None = None
) -> FederatedAgent:
    federated = {"issuer": issuer.url, "subject": subject, **({"audience": audience} if audience else {})}
    reply = stack.call("POST", "/agents", tenant.admin_token, {"name": "federated", "federated": federated})
    assert reply.status == 201, reply.body
    return FederatedAgent(reply.body["agent_id"], reply.body["client_id"], tenant, issuer, subject)


def bearer_grant(stack: Stack, assertion: str, **extra: str) -> Reply:
    return stack.form("/oauth/token", form({"grant_type": JWT_BEARER, "assertion": assertion, **extra}))


def exchange(stack: Stack, subject_token: str, **extra: str) -> Reply:
    params = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject_token, "subject_token_type": JWT_TYPE}
    return stack.form("/oauth/token", form({**params, **extra}))


@pytest.fixture
def agent(stack: Stack, med: Tenant, auth0: Issuer) -> FederatedAgent:
    return register(stack, med, auth0, "m2m-app-1@clients")


# -- registration -------------------------------------------------------------------------------


def test_a_federated_agent_has_no_secret_and_shows_its_identity(
    stack: Stack, med: Tenant, auth0: Issuer
) -> None:
    body = {"name": "ledger", "federated": {"issuer": AUTH0, "subject": "abc@clients"}}
    reply = stack.call("POST", "/agents", med.admin_token, body)
    assert reply.status == 201, reply.body
    assert "client_secret" not in reply.body
    assert reply.body["token_endpoint_auth_method"] == "none"
    assert reply.body["federated"] == {"issuer": AUTH0, "subject": "abc@clients", "audience": None}
    listed = stack.call("GET", f"/agents/{reply.body['agent_id']}", med.admin_token)
    assert listed.body["federated"]["subject"] == "abc@clients"
    created = [e for e in stack.audit(med) if e["type"] == "agent.created"]
    assert created[0]["detail"]["federated"]["issuer"] == AUTH0
    rotate = stack.call("POST", f"/agents/{reply.body['agent_id']}/rotate-secret", med.admin_token)
    assert_error(rotate, 409)


@pytest.mark.parametrize(
    ("federated", "needle"),
    [
        ({"issuer": "http://issuer.example", "subject": "s"}, "https"),
        ({"issuer": "https://issuer.example/?q=1", "subject": "s"}, "query"),
        ({"issuer": AUTH0}, "federated"),
        ({"issuer": AUTH0, "subject": "s", "extra": 1}, "federated"),
        ({"issuer": "https://unknown.fake", "subject": "s"}, "discovery"),
    ],
    ids=["plain http", "query", "no subject", "unknown member", "no discovery"],
)
def test_registration_refuses_what_cannot_be_an_issuer(
    stack: Stack, med: Tenant, auth0: Issuer, federated: dict[str, Any], needle: str
) -> None:
    reply = stack.call("POST", "/agents", med.admin_token, {"name": "x", "federated": federated})
    assert_error(reply, 400, "invalid_request")
    assert needle in reply.body["error_description"]


def test_an_issuer_whose_discovery_names_another_issuer_is_refused(
    stack: Stack, med: Tenant, publisher: Publisher
) -> None:
    publisher.documents[K8S + "/.well-known/openid-configuration"] = {
        "issuer": "https://other",
        "jwks_uri": "x",
    }
    reply = stack.call(
        "POST", "/agents", med.admin_token, {"name": "x", "federated": {"issuer": K8S, "subject": "s"}}
    )
    assert_error(reply, 400, "invalid_request")


def test_one_issuer_and_subject_map_to_one_agent_across_tenants(
    stack: Stack, med: Tenant, auth0: Issuer, agent: FederatedAgent
) -> None:
    nat = stack.tenant("NatSupply")
    body = {"name": "squat", "federated": {"issuer": AUTH0, "subject": agent.subject}}
    assert_error(stack.call("POST", "/agents", nat.admin_token, body), 409)
    assert_error(stack.call("POST", "/agents", med.admin_token, body), 409)
    assert [a["agent_id"] for a in stack.call("GET", "/agents", nat.admin_token).body["agents"]] == []
    # the disabled agent's identity is free again, for its own tenant or another
    assert stack.call("DELETE", f"/agents/{agent.agent_id}", med.admin_token).status == 200
    assert stack.call("POST", "/agents", nat.admin_token, body).status == 201


# -- tokens -------------------------------------------------------------------------------------


def test_the_jwt_bearer_grant_gives_a_working_api_token(
    stack: Stack, med: Tenant, agent: FederatedAgent
) -> None:
    nat = stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med)
    reply = bearer_grant(stack, agent.issuer.token(agent.subject))
    assert reply.status == 200, reply.body
    assert reply.headers.get("Cache-Control") == "no-store"
    token = reply.body["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["tenant_id"], claims["client_id"]) == (
        agent.agent_id,
        med.tenant_id,
        agent.client_id,
    )
    decision = stack.call(
        "POST", "/delegations/request", token, {"receiving_tenant_id": nat.tenant_id, "action": "stock.write"}
    )
    assert decision.status == 201, decision.body
    issued = [e for e in stack.audit(med) if e["type"] == "token.issued" and "delegation_id" not in e]
    assert issued[0]["actor"] == {"type": "agent", "id": agent.agent_id}
    assert issued[0]["detail"]["grant_type"] == JWT_BEARER and issued[0]["detail"]["issuer"] == AUTH0
    shown = stack.call("GET", f"/agents/{agent.agent_id}", med.admin_token).body
    assert shown["last_used_at"] is not None


def test_token_exchange_gives_the_same_token(stack: Stack, agent: FederatedAgent) -> None:
    reply = exchange(stack, agent.issuer.token(agent.subject), requested_token_type=ACCESS_TOKEN_TYPE)
    assert reply.status == 200, reply.body
    assert reply.body["issued_token_type"] == ACCESS_TOKEN_TYPE
    me = stack.call("GET", "/delegations", reply.body["access_token"])
    assert me.status == 200, me.body


def test_the_subject_may_come_from_client_id_and_the_client_id_may_be_sent(
    stack: Stack, med: Tenant, publisher: Publisher
) -> None:
    idp = publisher.issuer(K8S)
    mapped = register(stack, med, idp, "agent-client")
    token = idp.token(None, client_id="agent-client")  # no sub: client_id names the subject
    assert bearer_grant(stack, token, client_id=mapped.client_id).status == 200
    assert_error(
        bearer_grant(stack, idp.token(None, client_id="agent-client"), client_id="other"),
        400,
        "invalid_grant",
    )


def test_a_configured_audience_replaces_vaultguards(stack: Stack, med: Tenant, publisher: Publisher) -> None:
    idp = publisher.issuer(K8S)
    mapped = register(stack, med, idp, "system:serviceaccount:agents:ledger", audience="vaultguard-prod")
    assert bearer_grant(stack, idp.token(mapped.subject, aud="vaultguard-prod")).status == 200
    assert_error(bearer_grant(stack, idp.token(mapped.subject)), 400, "invalid_grant")


def test_two_round_trips(stack: Stack, agent: FederatedAgent) -> None:
    bearer_grant(stack, agent.issuer.token(agent.subject))  # keys cached, as in a warm container
    assertion = agent.issuer.token(agent.subject)
    with dynamodb_calls() as calls:
        reply = bearer_grant(stack, assertion)
    assert reply.status == 200, reply.body
    assert sum(calls.values()) <= 2, dict(calls)


# -- refusals -----------------------------------------------------------------------------------


def _hs256(agent: FederatedAgent) -> str:
    pem = agent.issuer.keys["k1"].public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    claims = {"iss": agent.issuer.url, "sub": agent.subject, "aud": ISSUER, "exp": now + 60}
    signing_input = b64url_json({"alg": "HS256", "typ": "JWT", "kid": "k1"}) + "." + b64url_json(claims)
    return signing_input + "." + b64url(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())


def _none(agent: FederatedAgent) -> str:
    claims = {"iss": agent.issuer.url, "sub": agent.subject, "aud": ISSUER, "exp": int(time.time()) + 60}
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})


BAD = {
    "wrong audience": lambda a, p: a.issuer.token(a.subject, aud="https://elsewhere.example"),
    "expired": lambda a, p: a.issuer.token(a.subject, exp=int(time.time()) - 120, iat=int(time.time()) - 400),
    "not yet valid": lambda a, p: a.issuer.token(a.subject, nbf=int(time.time()) + 600),
    "no exp": lambda a, p: a.issuer.token(a.subject, exp=None),
    "alg none": lambda a, p: _none(a),
    "HS256 with the public key": lambda a, p: _hs256(a),
    "unknown kid": lambda a, p: a.issuer.token(a.subject, kid="k9", key=rsa_key()),
    "signed by another key": lambda a, p: a.issuer.token(a.subject, key=rsa_key()),
    "untrusted issuer, same subject": lambda a, p: p.issuer("https://evil.fake").token(a.subject),
    "unmapped subject": lambda a, p: a.issuer.token("someone-else@clients"),
    "jku pointing elsewhere": lambda a, p: a.issuer.token(
        a.subject, key=rsa_key(), headers={"jku": "https://evil.fake/jwks"}
    ),
    "not a JWT": lambda a, p: "not-a-jwt",
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_refused_tokens_get_invalid_grant(
    stack: Stack, agent: FederatedAgent, publisher: Publisher, case: str
) -> None:
    reply = bearer_grant(stack, BAD[case](agent, publisher))
    assert_error(reply, 400, "invalid_grant")


def test_a_jti_is_accepted_once(stack: Stack, agent: FederatedAgent) -> None:
    token = agent.issuer.token(agent.subject)
    assert bearer_grant(stack, token).status == 200
    assert_error(bearer_grant(stack, token), 400, "invalid_grant")
    assert_error(exchange(stack, token), 400, "invalid_grant")


def test_a_tenants_issuer_reaches_only_that_tenants_agent(
    stack: Stack, med: Tenant, agent: FederatedAgent, publisher: Publisher
) -> None:
    nat = stack.tenant("NatSupply")
    nat_idp = publisher.issuer(K8S)
    theirs = register(stack, nat, nat_idp, "system:serviceaccount:nat:bot")
    # NatSupply's issuer speaking of MediCore's subject: no mapping, no token
    assert_error(bearer_grant(stack, nat_idp.token(agent.subject)), 400, "invalid_grant")
    # MediCore's issuer speaking of NatSupply's subject: likewise
    assert_error(bearer_grant(stack, agent.issuer.token(theirs.subject)), 400, "invalid_grant")
    # NatSupply's own token is NatSupply's agent, whatever the request says
    reply = bearer_grant(stack, nat_idp.token(theirs.subject))
    claims = jwt.decode(reply.body["access_token"], options={"verify_signature": False})
    assert claims["tenant_id"] == nat.tenant_id and claims["sub"] == theirs.agent_id
    assert_error(
        bearer_grant(stack, nat_idp.token(theirs.subject), client_id=agent.client_id), 400, "invalid_grant"
    )


def _same(a: Reply, b: Reply) -> None:
    assert (a.status, a.body["error"], a.body["error_description"]) == (
        b.status,
        b.body["error"],
        b.body["error_description"],
    )


def test_a_disabled_agent_or_tenant_is_refused_as_an_unknown_one(
    stack: Stack, med: Tenant, agent: FederatedAgent
) -> None:
    unknown = bearer_grant(stack, agent.issuer.token("nobody@clients"))
    other = register(stack, med, agent.issuer, "second@clients")
    assert stack.call("DELETE", f"/agents/{agent.agent_id}", med.admin_token).status == 200
    _same(bearer_grant(stack, agent.issuer.token(agent.subject)), unknown)
    assert (
        stack.call("PATCH", f"/tenants/{med.tenant_id}", stack.platform_token, {"status": "DISABLED"}).status
        == 200
    )
    _same(bearer_grant(stack, agent.issuer.token(other.subject)), unknown)


def test_failures_are_audited_in_the_mapped_tenant(stack: Stack, med: Tenant, agent: FederatedAgent) -> None:
    bearer_grant(stack, agent.issuer.token(agent.subject, aud="https://elsewhere.example"))
    failed = [e for e in stack.audit(med) if e["type"] == "auth.failed"]
    assert failed and failed[0]["detail"]["agent_id"] == agent.agent_id
    assert failed[0]["detail"]["reason"] == "invalid_federated_token"


def test_unreachable_issuer_keys_are_a_503_not_a_refusal(
    stack: Stack, agent: FederatedAgent, publisher: Publisher
) -> None:
    publisher.down.add(AUTH0.rstrip("/") + "/jwks")
    publisher.now += 10_000  # the cached keys have expired
    reply = bearer_grant(stack, agent.issuer.token(agent.subject))
    assert_error(reply, 503)


def test_client_authentication_and_scope_are_refused_with_the_grant(
    stack: Stack, agent: FederatedAgent
) -> None:
    token = agent.issuer.token(agent.subject)
    assert_error(bearer_grant(stack, token, client_secret="x"), 400, "invalid_request")
    assert_error(bearer_grant(stack, token, scope="stock.write"), 400, "invalid_request")
    assert_error(exchange(stack, token, resource="urn:vaultguard:connection:abc"), 400, "invalid_request")
    assert bearer_grant(stack, token).status == 200  # none of those used it up


def test_metadata_advertises_the_grant(stack: Stack) -> None:
    meta = stack.call("GET", "/.well-known/oauth-authorization-server").body
    assert JWT_BEARER in meta["grant_types_supported"]
    assert TOKEN_EXCHANGE in meta["grant_types_supported"]
