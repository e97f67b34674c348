"""private_key_jwt with keys published at a jwks_uri (issue 15, item 1): registration checks
the URL and fetches it; assertions are checked against the cached set, which is fetched again
once for an unknown kid (at most once a minute) and after its TTL; PUT /agents/{id}/keys
switches between registered and published keys."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.conftest import Stack, Tenant
from tests.functional.fake_issuer import Publisher, public_jwk, rsa_key
from tests.functional.helpers import assert_error
from tests.functional.test_private_key_jwt import KeyAgent, token_with
from tests.functional.test_round_trips import dynamodb_calls

JWKS_URI = "https://agents.medicore.fake/.well-known/jwks.json"


def registered_jwk(key: Any, kid: str) -> dict[str, Any]:
    """As registered in the body (no x5t: published sets may carry it, registered ones not)."""
    return {k: v for k, v in public_jwk(key, kid).items() if k != "x5t"}


@pytest.fixture
def publisher(stack: Stack) -> Publisher:
    pub = Publisher()
    stack.container.remote_keys = pub.remote_keys()
    return pub


@pytest.fixture
def med(stack: Stack) -> Tenant:
    return stack.tenant("MediCore")


@pytest.fixture
def agent(stack: Stack, med: Tenant, publisher: Publisher) -> KeyAgent:
    key = rsa_key()
    publisher.documents[JWKS_URI] = {"keys": [public_jwk(key, "k1")]}
    reply = stack.call("POST", "/agents", med.admin_token, {"name": "published", "jwks_uri": JWKS_URI})
    assert reply.status == 201, reply.body
    assert reply.body["token_endpoint_auth_method"] == "private_key_jwt"
    assert reply.body["jwks_uri"] == JWKS_URI and "client_secret" not in reply.body
    return KeyAgent(reply.body["agent_id"], reply.body["client_id"], med, key, "RS256", "k1")


def test_an_agent_with_published_keys_gets_a_token_in_two_round_trips(stack: Stack, agent: KeyAgent) -> None:
    assert token_with(stack, agent.assertion()).status == 200
    with dynamodb_calls() as calls:
        reply = token_with(stack, agent.assertion())
    assert reply.status == 200, reply.body
    assert sum(calls.values()) <= 2, dict(calls)


def test_a_rotated_key_is_found_by_one_early_refetch_at_most_once_a_minute(
    stack: Stack, agent: KeyAgent, publisher: Publisher
) -> None:
    new = rsa_key()
    publisher.documents[JWKS_URI] = {"keys": [public_jwk(agent.key, "k1"), public_jwk(new, "k2")]}
    rotated = KeyAgent(agent.agent_id, agent.client_id, agent.tenant, new, "RS256", "k2")
    fetches = len(publisher.fetched)
    assert_error(token_with(stack, rotated.assertion()), 401, "invalid_client")  # fetched seconds ago
    assert len(publisher.fetched) == fetches  # no refetch within the minute
    publisher.now += 61
    assert token_with(stack, rotated.assertion()).status == 200
    assert len(publisher.fetched) == fetches + 1
    publisher.now += 1
    forged = KeyAgent(agent.agent_id, agent.client_id, agent.tenant, rsa_key(), "RS256", "k9")
    for _ in range(3):
        assert_error(token_with(stack, forged.assertion()), 401, "invalid_client")
    assert len(publisher.fetched) == fetches + 1  # made-up kids cannot make us hammer the publisher


def test_published_keys_are_fetched_again_after_their_ttl(
    stack: Stack, agent: KeyAgent, publisher: Publisher
) -> None:
    publisher.documents[JWKS_URI] = {"keys": [public_jwk(rsa_key(), "k1")]}  # k1 replaced
    assert token_with(stack, agent.assertion()).status == 200  # still the cached set
    publisher.now += 3600
    assert_error(token_with(stack, agent.assertion()), 401, "invalid_client")


def test_an_unreachable_publisher_is_a_503(stack: Stack, agent: KeyAgent, publisher: Publisher) -> None:
    publisher.down.add(JWKS_URI)
    publisher.now += 1000  # past the TTL, within the grace: the keys we had still serve
    assert token_with(stack, agent.assertion()).status == 200
    publisher.now += 5000
    assert_error(token_with(stack, agent.assertion()), 503)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"jwks_uri": "http://agents.medicore.fake/jwks.json"}, "https"),
        ({"jwks_uri": "https://user:pw@agents.medicore.fake/jwks.json"}, "user"),
        ({"jwks_uri": "https://agents.medicore.fake/missing.json"}, "could not be fetched"),
        ({"jwks_uri": "https://agents.medicore.fake/empty.json"}, "no usable"),
        ({"jwks_uri": JWKS_URI, "jwks": {"keys": [registered_jwk(rsa_key(), "k1")]}}, "at most one"),
    ],
    ids=["plain http", "user info", "not found", "no usable key", "both"],
)
def test_registration_refuses_a_jwks_uri_it_cannot_use(
    stack: Stack, med: Tenant, publisher: Publisher, body: dict[str, Any], needle: str
) -> None:
    publisher.documents["https://agents.medicore.fake/empty.json"] = {"keys": [{"kty": "oct", "k": "AAAA"}]}
    reply = stack.call("POST", "/agents", med.admin_token, {"name": "x", **body})
    assert_error(reply, 400, "invalid_request")
    assert needle in reply.body["error_description"]


def test_keys_can_move_between_registered_and_published(
    stack: Stack, med: Tenant, agent: KeyAgent, publisher: Publisher
) -> None:
    path = f"/agents/{agent.agent_id}/keys"
    registered = rsa_key()
    reply = stack.call("PUT", path, med.admin_token, {"jwks": {"keys": [registered_jwk(registered, "r1")]}})
    assert reply.status == 200, reply.body
    assert reply.body["jwks_uri"] is None
    assert_error(token_with(stack, agent.assertion()), 401, "invalid_client")  # the published key is gone
    as_registered = KeyAgent(agent.agent_id, agent.client_id, med, registered, "RS256", "r1")
    assert token_with(stack, as_registered.assertion()).status == 200
    back = stack.call("PUT", path, med.admin_token, {"jwks_uri": JWKS_URI})
    assert back.status == 200 and back.body["jwks_uri"] == JWKS_URI
    assert token_with(stack, agent.assertion()).status == 200
    assert_error(token_with(stack, as_registered.assertion()), 401, "invalid_client")
    assert_error(stack.call("PUT", path, med.admin_token, {}), 400, "invalid_request")
    rotations = [e for e in stack.audit(med) if e["type"] == "agent.keys_rotated"]
    assert rotations[0]["detail"]["jwks_uri"] == JWKS_URI


def test_another_tenants_admin_cannot_replace_the_keys(stack: Stack, agent: KeyAgent) -> None:
    nat = stack.tenant("NatSupply")
    reply = stack.call("PUT", f"/agents/{agent.agent_id}/keys", nat.admin_token, {"jwks_uri": JWKS_URI})
    assert_error(reply, 404)
