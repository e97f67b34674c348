"""Federated agents (issue 15, item 2): an agent federated with one subject of a trusted external
issuer gets VaultGuard API tokens with that issuer's JWT and its own client id (RFC 7523
jwt-bearer grant, RFC 8693 token exchange); the refusal matrix; tenants never reach, see or
block each other's agents, even when they federate the same (issuer, subject)."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.aws_calls import record
from tests.functional.conftest import ISSUER, Reply, Stack, Tenant
from tests.functional.fake_issuer import Issuer, Publisher, rsa_key
from tests.functional.helpers import assert_error, b64url, b64url_json, form
from tests.functional.test_round_trips import dynamodb_calls
from tests.functional.test_scoped_partitions import FakeSts, _signed_with, scoped, violations

__all__ = ["scoped"]  # the fixture, shared with test_scoped_partitions.py

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


def bearer_grant(stack: Stack, assertion: str, client_id: str | None, **extra: str) -> Reply:
    params = {"grant_type": JWT_BEARER, "assertion": assertion}
    return stack.form(
        "/oauth/token", form({**params, **({"client_id": client_id} if client_id else {}), **extra})
    )


def exchange(stack: Stack, subject_token: str, client_id: str, **extra: str) -> Reply:
    params = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject_token, "subject_token_type": JWT_TYPE}
    return stack.form("/oauth/token", form({**params, "client_id": client_id, **extra}))


def grant(stack: Stack, agent: FederatedAgent, **claims: Any) -> Reply:
    """The agent's own request: a fresh JWT of its issuer about its subject, its client id."""
    return bearer_grant(stack, agent.issuer.token(agent.subject, **claims), agent.client_id)


def claims_of(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, reply.body
    return dict(jwt.decode(reply.body["access_token"], options={"verify_signature": False}))


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


def test_two_tenants_federate_the_same_subject_and_each_gets_only_its_own_agent(
    stack: Stack, med: Tenant, auth0: Issuer, agent: FederatedAgent
) -> None:
    nat = stack.tenant("NatSupply")
    mine = claims_of(grant(stack, agent))
    assert (mine["tenant_id"], mine["sub"]) == (med.tenant_id, agent.agent_id)
    before, audit_before = stack.call("GET", "/agents", med.admin_token).body, stack.audit(med)
    # NatSupply federates MediCore's (issuer, subject): accepted, and told nothing of MediCore's
    body = {"name": "same-subject", "federated": {"issuer": AUTH0, "subject": agent.subject}}
    reply = stack.call("POST", "/agents", nat.admin_token, body)
    assert reply.status == 201, reply.body
    assert med.tenant_id not in str(reply.body) and agent.agent_id not in str(reply.body)
    theirs = FederatedAgent(reply.body["agent_id"], reply.body["client_id"], nat, auth0, agent.subject)
    # each client id leads to its own tenant's agent, with the same issuer's tokens
    other = claims_of(grant(stack, theirs))
    assert (other["tenant_id"], other["sub"]) == (nat.tenant_id, theirs.agent_id)
    # MediCore sees no trace of NatSupply's registration or token
    assert stack.call("GET", "/agents", med.admin_token).body == before
    assert stack.audit(med) == audit_before
    # and neither agent's disabling touches the other
    assert stack.call("DELETE", f"/agents/{theirs.agent_id}", nat.admin_token).status == 200
    assert claims_of(grant(stack, agent))["sub"] == agent.agent_id


def test_a_tenant_registering_anothers_subject_gets_nothing_of_the_other_tenant(
    stack: Stack, med: Tenant, auth0: Issuer, agent: FederatedAgent
) -> None:
    nat = stack.tenant("NatSupply")
    body = {"name": "squat", "federated": {"issuer": AUTH0, "subject": agent.subject}}
    squat = stack.call("POST", "/agents", nat.admin_token, body).body
    # the squatter's client id with MediCore's token is the squatter's own agent, no more
    token = agent.issuer.token(agent.subject)
    assert claims_of(bearer_grant(stack, token, squat["client_id"]))["tenant_id"] == nat.tenant_id
    # the squatter with its own client id never gets MediCore's agent: it would need the
    # other client id, and that one names MediCore's tenant, whose agent is not its own
    assert_error(
        bearer_grant(stack, agent.issuer.token(agent.subject), agent.client_id + "0"), 400, "invalid_grant"
    )
    assert stack.call("GET", f"/agents/{agent.agent_id}", nat.admin_token).status == 404
    # and MediCore's agent keeps working, registered first or not
    assert claims_of(grant(stack, agent))["sub"] == agent.agent_id
    later = register(stack, med, auth0, "registered-after-the-squat@clients")
    stack.call(
        "POST",
        "/agents",
        nat.admin_token,
        {"name": "s2", "federated": {"issuer": AUTH0, "subject": later.subject}},
    )
    assert claims_of(grant(stack, later))["sub"] == later.agent_id


# -- tokens -------------------------------------------------------------------------------------


def test_the_jwt_bearer_grant_gives_a_working_api_token(
    stack: Stack, med: Tenant, agent: FederatedAgent
) -> None:
    nat = stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med)
    reply = grant(stack, agent)
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
    reply = exchange(
        stack, agent.issuer.token(agent.subject), agent.client_id, requested_token_type=ACCESS_TOKEN_TYPE
    )
    assert reply.status == 200, reply.body
    assert reply.body["issued_token_type"] == ACCESS_TOKEN_TYPE
    me = stack.call("GET", "/delegations", reply.body["access_token"])
    assert me.status == 200, me.body


def test_the_subject_may_come_from_the_tokens_client_id(
    stack: Stack, med: Tenant, publisher: Publisher
) -> None:
    idp = publisher.issuer(K8S)
    mapped = register(stack, med, idp, "agent-client")
    token = idp.token(None, client_id="agent-client")  # no sub: client_id names the subject
    assert bearer_grant(stack, token, mapped.client_id).status == 200


def test_a_configured_audience_replaces_vaultguards(stack: Stack, med: Tenant, publisher: Publisher) -> None:
    idp = publisher.issuer(K8S)
    mapped = register(stack, med, idp, "system:serviceaccount:agents:ledger", audience="vaultguard-prod")
    assert grant(stack, mapped, aud="vaultguard-prod").status == 200
    assert_error(grant(stack, mapped), 400, "invalid_grant")


def test_two_round_trips(stack: Stack, agent: FederatedAgent) -> None:
    grant(stack, agent)  # keys cached, as in a warm container
    assertion = agent.issuer.token(agent.subject)
    with dynamodb_calls() as calls:
        reply = bearer_grant(stack, assertion, agent.client_id)
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
    reply = bearer_grant(stack, BAD[case](agent, publisher), agent.client_id)
    assert_error(reply, 400, "invalid_grant")


def test_a_jti_is_accepted_once(stack: Stack, agent: FederatedAgent) -> None:
    token = agent.issuer.token(agent.subject)
    assert bearer_grant(stack, token, agent.client_id).status == 200
    assert_error(bearer_grant(stack, token, agent.client_id), 400, "invalid_grant")
    assert_error(exchange(stack, token, agent.client_id), 400, "invalid_grant")


def test_a_tenants_issuer_reaches_only_that_tenants_agent(
    stack: Stack, med: Tenant, agent: FederatedAgent, publisher: Publisher
) -> None:
    nat = stack.tenant("NatSupply")
    nat_idp = publisher.issuer(K8S)
    theirs = register(stack, nat, nat_idp, "system:serviceaccount:nat:bot")
    # NatSupply's issuer speaking of MediCore's subject, with either client id: no token
    assert_error(bearer_grant(stack, nat_idp.token(agent.subject), agent.client_id), 400, "invalid_grant")
    assert_error(bearer_grant(stack, nat_idp.token(agent.subject), theirs.client_id), 400, "invalid_grant")
    # MediCore's issuer speaking of NatSupply's subject: likewise
    assert_error(
        bearer_grant(stack, agent.issuer.token(theirs.subject), theirs.client_id), 400, "invalid_grant"
    )
    # NatSupply's own token is NatSupply's agent, and only with NatSupply's client id
    claims = claims_of(grant(stack, theirs))
    assert claims["tenant_id"] == nat.tenant_id and claims["sub"] == theirs.agent_id
    assert_error(bearer_grant(stack, nat_idp.token(theirs.subject), agent.client_id), 400, "invalid_grant")


def _same(a: Reply, b: Reply) -> None:
    assert (a.status, a.body["error"], a.body["error_description"]) == (
        b.status,
        b.body["error"],
        b.body["error_description"],
    )


def test_every_wrong_client_id_and_a_disabled_agent_or_tenant_get_the_same_refusal(
    stack: Stack, med: Tenant, agent: FederatedAgent
) -> None:
    token = agent.issuer.token
    secret_agent = stack.call("POST", "/agents", med.admin_token, {"name": "with-a-secret"}).body
    other = register(stack, med, agent.issuer, "second@clients")
    nat = stack.tenant("NatSupply")
    elsewhere = register(stack, nat, agent.issuer, "third@clients")
    unknown = bearer_grant(stack, token(agent.subject), None)  # no client_id
    assert_error(unknown, 400, "invalid_grant")
    for client_id in (
        "vgc_unknown",  # not a client id
        agent.client_id[:-1] + ("0" if agent.client_id[-1] != "0" else "1"),  # nobody's
        secret_agent["client_id"],  # an agent with a secret
        other.client_id,  # federated, with another subject
        elsewhere.client_id,  # another tenant's
    ):
        _same(bearer_grant(stack, token(agent.subject), client_id), unknown)
    assert stack.call("DELETE", f"/agents/{agent.agent_id}", med.admin_token).status == 200
    _same(grant(stack, agent), unknown)
    assert (
        stack.call("PATCH", f"/tenants/{med.tenant_id}", stack.platform_token, {"status": "DISABLED"}).status
        == 200
    )
    _same(grant(stack, other), unknown)
    assert grant(stack, elsewhere).status == 200  # NatSupply's agent is not affected


def test_failures_are_audited_in_the_mapped_tenant(stack: Stack, med: Tenant, agent: FederatedAgent) -> None:
    grant(stack, agent, aud="https://elsewhere.example")
    failed = [e for e in stack.audit(med) if e["type"] == "auth.failed"]
    assert failed and failed[0]["detail"]["agent_id"] == agent.agent_id
    assert failed[0]["detail"]["reason"] == "invalid_federated_token"


def test_unreachable_issuer_keys_are_a_503_not_a_refusal(
    stack: Stack, agent: FederatedAgent, publisher: Publisher
) -> None:
    publisher.down.add(AUTH0.rstrip("/") + "/jwks")
    publisher.now += 10_000  # the cached keys have expired
    reply = grant(stack, agent)
    assert_error(reply, 503)


def test_client_authentication_and_scope_are_refused_with_the_grant(
    stack: Stack, agent: FederatedAgent
) -> None:
    token = agent.issuer.token(agent.subject)
    client_id = agent.client_id
    assert_error(bearer_grant(stack, token, client_id, client_secret="x"), 400, "invalid_request")
    assert_error(bearer_grant(stack, token, client_id, scope="stock.write"), 400, "invalid_request")
    assert_error(
        exchange(stack, token, client_id, resource="urn:vaultguard:connection:abc"), 400, "invalid_request"
    )
    assert bearer_grant(stack, token, client_id).status == 200  # none of those used it up


def test_metadata_advertises_the_grant(stack: Stack) -> None:
    meta = stack.call("GET", "/.well-known/oauth-authorization-server").body
    assert JWT_BEARER in meta["grant_types_supported"]
    assert TOKEN_EXCHANGE in meta["grant_types_supported"]
    # the federated grants name the agent by client_id without client authentication
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    assert "none" not in meta["introspection_endpoint_auth_methods_supported"]


def test_a_federated_token_request_touches_only_its_tenants_partitions_under_scoped_credentials(
    scoped: tuple[Stack, FakeSts],
) -> None:
    """With the data-plane role configured, the grant is bound to the tenant its client id
    names before the read: every DynamoDB call it makes stays in that tenant's partitions
    (and the source's failure counter), none in another tenant's or a global mapping."""
    stack, sts = scoped
    pub = Publisher()
    stack.container.remote_keys = pub.remote_keys()
    auth0 = pub.issuer(AUTH0)
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    mine, theirs = (
        register(stack, med, auth0, "shared@clients"),
        register(stack, nat, auth0, "shared@clients"),
    )
    with record(context=_signed_with) as calls:
        assert claims_of(grant(stack, mine))["tenant_id"] == med.tenant_id
        assert claims_of(grant(stack, theirs))["tenant_id"] == nat.tenant_id
        assert_error(grant(stack, mine, aud="https://elsewhere.example"), 400, "invalid_grant")
    found, checked = violations(list(calls), sts)
    assert not found, "\n".join(found)
    assert checked >= 6 and all(c.context["scope"] is not None for c in calls if c.service == "dynamodb")
