"""private_key_jwt client authentication (RFC 7523 §2.2/§3, OpenID Connect Core §9): key-only
agents registered with public JWKs, their assertions at /oauth/token (client_credentials and
CIBA), /bc-authorize, introspection and revocation; the refusal matrix; key rotation."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.functional.conftest import ISSUER, Reply, Stack, Tenant
from tests.functional.helpers import assert_error, b64url, b64url_json, basic, form
from tests.functional.test_round_trips import dynamodb_calls

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_ENDPOINT = f"{ISSUER}/oauth/token"
CIBA = "urn:openid:params:grant-type:ciba"


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_jwk(private: Any, kid: str | None = None) -> dict[str, Any]:
    public = private.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    jwk.pop("key_ops", None)
    if kid:
        jwk["kid"] = kid
    return dict(jwk)


@dataclass
class KeyAgent:
    agent_id: str
    client_id: str
    tenant: Tenant
    key: Any
    alg: str
    kid: str | None

    def assertion(self, *, headers: dict[str, Any] | None = None, key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": TOKEN_ENDPOINT,
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        head = {"kid": self.kid} if self.kid else {}
        head.update(headers or {})
        head = {k: v for k, v in head.items() if v is not None}
        alg = head.pop("alg", self.alg)
        return jwt.encode(body, key or self.key, algorithm=alg, headers=head)


def register(stack: Stack, tenant: Tenant, key: Any, alg: str, kid: str | None = "k1") -> KeyAgent:
    reply = stack.call(
        "POST",
        "/agents",
        tenant.admin_token,
        {"name": f"keyed-{alg}", "jwks": {"keys": [public_jwk(key, kid)]}},
    )
    assert reply.status == 201, reply.body
    assert reply.body["token_endpoint_auth_method"] == "private_key_jwt"
    assert "client_secret" not in reply.body
    return KeyAgent(reply.body["agent_id"], reply.body["client_id"], tenant, key, alg, kid)


def token_with(stack: Stack, assertion: str, **extra: str) -> Reply:
    params = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }
    return stack.form("/oauth/token", form(params))


def with_assertion(assertion: str, **params: str) -> str:
    return form({**params, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})


@pytest.fixture
def med(stack: Stack) -> Tenant:
    return stack.tenant("MediCore")


@pytest.fixture
def agent(stack: Stack, med: Tenant) -> KeyAgent:
    return register(stack, med, rsa_key(), "RS256")


# -- success ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_key", "alg"),
    [
        (rsa_key, "RS256"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
    ],
    ids=["RS256", "ES256", "EdDSA"],
)
def test_a_key_only_agent_gets_a_working_api_token(
    stack: Stack, med: Tenant, make_key: Any, alg: str
) -> None:
    nat = stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med)
    keyed = register(stack, med, make_key(), alg, kid=None)  # the only key: no kid needed
    reply = token_with(stack, keyed.assertion())
    assert reply.status == 200, reply.body
    assert reply.body["token_type"] == "Bearer"
    assert reply.headers.get("Cache-Control") == "no-store"
    token = reply.body["access_token"]
    decision = stack.call(
        "POST", "/delegations/request", token, {"receiving_tenant_id": nat.tenant_id, "action": "stock.write"}
    )
    assert decision.status == 201, decision.body
    issued = [e for e in stack.audit(med) if e["type"] == "token.issued"]
    assert issued and issued[0]["actor"] == {"type": "agent", "id": keyed.agent_id}


def test_the_issuer_is_an_accepted_audience_and_the_client_id_may_be_sent(
    stack: Stack, agent: KeyAgent
) -> None:
    assert token_with(stack, agent.assertion(aud=ISSUER), client_id=agent.client_id).status == 200
    assert token_with(stack, agent.assertion(aud=[ISSUER, TOKEN_ENDPOINT])).status == 200


def test_the_token_endpoint_takes_two_round_trips_with_an_assertion(stack: Stack, agent: KeyAgent) -> None:
    assertion = agent.assertion()
    with dynamodb_calls() as calls:
        reply = token_with(stack, assertion)
    assert reply.status == 200, reply.body
    assert sum(calls.values()) <= 2, dict(calls)


# -- the refusal matrix -------------------------------------------------------------------------


def _hs256_with_public_key(agent: KeyAgent) -> str:
    """The classic confusion: an HMAC over the assertion keyed with the registered public key."""
    pem = agent.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    claims = {
        "iss": agent.client_id,
        "sub": agent.client_id,
        "aud": TOKEN_ENDPOINT,
        "exp": now + 60,
        "jti": "x1",
    }
    signing_input = b64url_json({"alg": "HS256", "typ": "JWT", "kid": "k1"}) + "." + b64url_json(claims)
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def _alg_none(agent: KeyAgent) -> str:
    now = int(time.time())
    claims = {
        "iss": agent.client_id,
        "sub": agent.client_id,
        "aud": TOKEN_ENDPOINT,
        "exp": now + 60,
        "jti": "n1",
    }
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})


BAD_ASSERTIONS = {
    "wrong aud": lambda a, o: a.assertion(aud="https://elsewhere.example/token"),
    "aud list naming another server": lambda a, o: a.assertion(aud=[TOKEN_ENDPOINT, "https://other.example"]),
    "expired": lambda a, o: a.assertion(exp=int(time.time()) - 120, iat=int(time.time()) - 180),
    "exp too far ahead": lambda a, o: a.assertion(exp=int(time.time()) + 3600),
    "stale iat": lambda a, o: a.assertion(iat=int(time.time()) - 3600),
    "missing exp": lambda a, o: a.assertion(exp=None),
    "missing jti": lambda a, o: a.assertion(jti=None),
    "iss differs from sub": lambda a, o: a.assertion(iss=o.client_id),
    "alg none": lambda a, o: _alg_none(a),
    "HS256 with the public key": lambda a, o: _hs256_with_public_key(a),
    "key not registered": lambda a, o: a.assertion(key=rsa_key()),
    "unknown kid": lambda a, o: a.assertion(headers={"kid": "k9"}),
    "another agent's key": lambda a, o: a.assertion(key=o.key),
    "an access token's typ": lambda a, o: a.assertion(headers={"typ": "at+jwt"}),
    "alg other than the key's": lambda a, o: a.assertion(headers={"alg": "RS512"}),
}


@pytest.mark.parametrize("case", sorted(BAD_ASSERTIONS))
def test_bad_assertions_are_refused(stack: Stack, med: Tenant, agent: KeyAgent, case: str) -> None:
    other = register(stack, med, rsa_key(), "RS256")
    reply = token_with(stack, BAD_ASSERTIONS[case](agent, other))
    assert_error(reply, 401, "invalid_client")
    assert "access_token" not in reply.body


def test_a_replayed_assertion_is_refused_everywhere(stack: Stack, agent: KeyAgent) -> None:
    assertion = agent.assertion()
    assert token_with(stack, assertion).status == 200
    assert_error(token_with(stack, assertion), 401, "invalid_client")
    replay_at_introspection = stack.form("/oauth/introspect", with_assertion(assertion, token="x.y.z"))
    assert_error(replay_at_introspection, 401, "invalid_client")
    assert token_with(stack, agent.assertion()).status == 200  # a fresh jti still works


def test_no_downgrade_between_secrets_and_keys(stack: Stack, med: Tenant, agent: KeyAgent) -> None:
    secret_agent = stack.agent(med)
    # a key-only agent has no secret, whatever is sent as one
    for secret in ("none", "", "x"):
        reply = stack.form(
            "/oauth/token", "grant_type=client_credentials", basic(agent.client_id, secret or "-")
        )
        assert_error(reply, 401, "invalid_client")
    # a secret-based agent cannot authenticate with an assertion, even a well-formed one
    forged = KeyAgent(secret_agent.agent_id, secret_agent.client_id, med, agent.key, "RS256", "k1")
    assert_error(token_with(stack, forged.assertion()), 401, "invalid_client")
    # both methods at once: refused
    both = stack.form(
        "/oauth/token",
        with_assertion(agent.assertion(), grant_type="client_credentials"),
        basic(secret_agent.client_id, secret_agent.secret),
    )
    assert both.status == 400 and both.body["error"] == "invalid_request"


def test_a_wrong_assertion_type_is_refused(stack: Stack, agent: KeyAgent) -> None:
    params = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        "client_assertion": agent.assertion(),
    }
    assert_error(stack.form("/oauth/token", form(params)), 401, "invalid_client")


# -- the other endpoints ------------------------------------------------------------------------


def test_ciba_bc_authorize_introspect_and_revoke_accept_assertions(
    stack: Stack, med: Tenant, agent: KeyAgent
) -> None:
    nat = stack.tenant("NatSupply")
    stack.policy(nat, "requisition.submit", "STEP_UP", med)
    stack.policy(nat, "stock.write", "ALLOW", med)
    started = stack.form(
        "/bc-authorize",
        with_assertion(agent.assertion(), scope="requisition.submit", login_hint=nat.tenant_id),
    )
    assert started.status == 200, started.body
    auth_req_id = started.body["auth_req_id"]
    listed = stack.call("GET", "/delegations?direction=inbound&status=PENDING", nat.admin_token).body
    pending_id = next(d["delegation_id"] for d in listed["delegations"])
    assert stack.call("POST", f"/delegations/{pending_id}/approve", nat.admin_token, {}).status == 200
    done = stack.form(
        "/oauth/token", with_assertion(agent.assertion(), grant_type=CIBA, auth_req_id=auth_req_id)
    )
    assert done.status == 200, done.body
    assert done.body["token_type"] == "Bearer" and done.body["access_token"]

    api_token = token_with(stack, agent.assertion()).body["access_token"]
    allowed = stack.call(
        "POST",
        "/delegations/request",
        api_token,
        {"receiving_tenant_id": nat.tenant_id, "action": "stock.write"},
    ).body
    introspected = stack.form(
        "/oauth/introspect", with_assertion(agent.assertion(), token=allowed["access_token"])
    )
    assert introspected.status == 200, introspected.body
    revoked = stack.form("/oauth/revoke", with_assertion(agent.assertion(), token=allowed["access_token"]))
    assert revoked.status == 200, revoked.body
    assert stack.verify(allowed["access_token"], nat.admin_token).body["active"] is False


# -- registration and rotation ------------------------------------------------------------------


def _private_rsa_jwk() -> dict[str, Any]:
    return dict(RSAAlgorithm.to_jwk(rsa_key(), as_dict=True))


REFUSED_JWKS = {
    "private key members": {"keys": [_private_rsa_jwk()]},
    "symmetric key": {"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}]},
    "weak RSA": {"keys": [public_jwk(rsa_key(1024))]},
    "unknown alg": {"keys": [{**public_jwk(rsa_key()), "alg": "RS512"}]},
    "P-384 curve": {"keys": [public_jwk(ec.generate_private_key(ec.SECP384R1()))]},
    "too many keys": {"keys": [public_jwk(rsa_key(), kid=f"k{i}") for i in range(6)]},
    "duplicate kid": {"keys": [public_jwk(rsa_key(), kid="a"), public_jwk(rsa_key(), kid="a")]},
    "not a set": {"kty": "RSA"},
    "kty not a string": {"keys": [{"kty": {"RSA": 1}}]},  # found by the fuzzer: was a 500
    "key not an object": {"keys": ["RSA"]},
}


@pytest.mark.parametrize("case", sorted(REFUSED_JWKS))
def test_registration_refuses_unusable_keys(stack: Stack, med: Tenant, case: str) -> None:
    before = stack.call("GET", "/agents", med.admin_token).body["agents"]
    reply = stack.call("POST", "/agents", med.admin_token, {"name": "bad", "jwks": REFUSED_JWKS[case]})
    assert_error(reply, 400, "invalid_request")
    assert stack.call("GET", "/agents", med.admin_token).body["agents"] == before


def test_rotation_replaces_the_keys_at_once_and_is_audited(
    stack: Stack, med: Tenant, agent: KeyAgent
) -> None:
    old_token = token_with(stack, agent.assertion()).body["access_token"]
    new_key = ec.generate_private_key(ec.SECP256R1())
    reply = stack.call(
        "PUT",
        f"/agents/{agent.agent_id}/keys",
        med.admin_token,
        {"jwks": {"keys": [public_jwk(new_key, "k2")]}},
    )
    assert reply.status == 200, reply.body
    assert reply.body["keys_rotated_at"] and "client_secret" not in reply.body
    assert_error(token_with(stack, agent.assertion()), 401, "invalid_client")  # the old key
    assert stack.call("GET", "/agents", old_token).status == 401  # tokens minted before: dead
    rotated = KeyAgent(agent.agent_id, agent.client_id, med, new_key, "ES256", "k2")
    assert token_with(stack, rotated.assertion()).status == 200
    events = [e for e in stack.audit(med) if e["type"] == "agent.keys_rotated"]
    assert len(events) == 1 and events[0]["actor"]["type"] in ("admin", "person", "user")


def test_rotation_is_for_key_only_agents_and_admins_of_their_tenant(
    stack: Stack, med: Tenant, agent: KeyAgent
) -> None:
    secret_agent = stack.agent(med)
    keys = {"jwks": {"keys": [public_jwk(rsa_key())]}}
    # (a secret agent's PUT .../keys moves it to keys: tests/functional/test_policy_knobs.py)
    assert_error(stack.call("POST", f"/agents/{agent.agent_id}/rotate-secret", med.admin_token, {}), 409)
    nat = stack.tenant("NatSupply")
    assert_error(stack.call("PUT", f"/agents/{agent.agent_id}/keys", nat.admin_token, keys), 404)
    assert_error(stack.call("PUT", f"/agents/{agent.agent_id}/keys", secret_agent.token, keys), 403)


def test_metadata_advertises_private_key_jwt(stack: Stack) -> None:
    meta = stack.call("GET", "/.well-known/oauth-authorization-server").body
    for field in ("token", "introspection", "revocation"):
        assert "private_key_jwt" in meta[f"{field}_endpoint_auth_methods_supported"]
        assert meta[f"{field}_endpoint_auth_signing_alg_values_supported"] == ["RS256", "ES256", "EdDSA"]
