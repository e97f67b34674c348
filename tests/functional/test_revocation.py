"""Revocation is instant: the next verification after a revoke, an agent's disabling or a
secret rotation already refuses. Only the delegation's parties may revoke it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.functional.conftest import Reply, Stack
from tests.functional.helpers import (
    Grant,
    assert_error,
    b64url,
    b64url_json,
    basic,
    bearer,
    compact,
    grant,
    header,
    introspect,
    is_active,
    jwt_parts,
    oauth_revoke,
    random_delegation_id,
    shared_botocore_data,
    token_request,
)

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)


def test_revoking_makes_the_token_inactive_at_once(stack: Stack, subtests: pytest.Subtests) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)

    def by_path(token: str) -> Callable[[Grant], Reply]:
        return lambda g: stack.call("POST", f"/delegations/{g.delegation_id}/revoke", token)

    def by_rfc7009(auth: dict[str, str]) -> Callable[[Grant], Reply]:
        return lambda g: oauth_revoke(stack, g.token, auth, token_type_hint="access_token")

    revokers = {
        "the requesting agent, POST /delegations/{id}/revoke": by_path(agent.token),
        "the requesting tenant's admin, POST /delegations/{id}/revoke": by_path(medicore.admin_token),
        "the receiving tenant's admin, POST /delegations/{id}/revoke": by_path(natsupply.admin_token),
        "the requesting agent, /oauth/revoke with its bearer token": by_rfc7009(bearer(agent.token)),
        "the requesting agent, /oauth/revoke with client_secret_basic": by_rfc7009(
            basic(agent.client_id, agent.secret)
        ),
        "the receiving admin, /oauth/revoke with client_secret_basic": by_rfc7009(
            basic(natsupply.admin_client_id, natsupply.admin_secret)
        ),
    }
    with subtests.test("control: an unrevoked token is active at verify and introspect"):
        g = grant(stack, agent, natsupply)
        assert is_active(stack, g.token, natsupply)
        assert introspect(stack, g.token, bearer(natsupply.admin_token)).body["active"] is True
        stack.call("POST", f"/delegations/{g.delegation_id}/revoke", agent.token)
        assert introspect(stack, g.token, bearer(natsupply.admin_token)).body == {"active": False}
    for name, revoke in revokers.items():
        with subtests.test(name):
            g = grant(stack, agent, natsupply)
            reply = revoke(g)
            assert reply.status == 200, reply.body
            assert "no-store" in (header(reply, "cache-control") or "")
            assert stack.verify(g.token, natsupply.admin_token).body == {"active": False}
            shown = stack.call("GET", f"/delegations/{g.delegation_id}", natsupply.admin_token)
            assert shown.body["status"] == "REVOKED" and shown.body["revoked_at"], shown.body


def test_only_the_parties_of_a_delegation_can_revoke_it(stack: Stack, subtests: pytest.Subtests) -> None:
    medicore, natsupply, carelogix = (
        stack.tenant("MediCore"),
        stack.tenant("NatSupply"),
        stack.tenant("CareLogix"),
    )
    requester, sibling = stack.agent(medicore, "requester"), stack.agent(medicore, "sibling")
    receiving_agent, outsider = stack.agent(natsupply), stack.agent(carelogix)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    g = grant(stack, requester, natsupply)

    others = {
        "another agent of the requesting tenant": sibling,
        "an agent of the receiving tenant": receiving_agent,
        "an agent of a third tenant": outsider,
    }
    for name, who in others.items():
        with subtests.test(f"{name}: POST /delegations/{{id}}/revoke is 404"):
            assert_error(stack.call("POST", f"/delegations/{g.delegation_id}/revoke", who.token), 404)
        with subtests.test(f"{name}: /oauth/revoke answers 200"):
            assert oauth_revoke(stack, g.token, bearer(who.token)).status == 200
            assert oauth_revoke(stack, g.token, basic(who.client_id, who.secret)).status == 200
    with subtests.test("a third tenant's admin: 404, and 200 from /oauth/revoke"):
        assert_error(stack.call("POST", f"/delegations/{g.delegation_id}/revoke", carelogix.admin_token), 404)
        assert oauth_revoke(stack, g.token, bearer(carelogix.admin_token)).status == 200
    with subtests.test("after all that the delegation is still active"):
        assert is_active(stack, g.token, natsupply)
        shown = stack.call("GET", f"/delegations/{g.delegation_id}", natsupply.admin_token)
        assert shown.body["status"] == "ACTIVE", shown.body

    _, claims, _ = jwt_parts(g.token)
    garbage = {
        "not a token": "garbage",
        "three dots": "a.b.c",
        "a JWT naming a delegation that does not exist": compact(
            {"alg": "RS256", "typ": "at+jwt"}, {**claims, "jti": random_delegation_id()}
        ),
        "a JWT whose payload is not an object": "eyJhbGciOiJSUzI1NiJ9." + b64url_json(["x"]) + ".c2ln",
        "a JWT whose payload nests 3000 arrays deep": "eyJhbGciOiJSUzI1NiJ9."
        + b64url(b"[" * 3000 + b"]" * 3000)[:5000]
        + ".c2ln",
        "this delegation's id with a forged signature": compact(
            {"alg": "RS256", "typ": "at+jwt"}, claims, lambda data: b"\0" * 256
        ),
    }
    for name, value in garbage.items():
        with subtests.test(f"/oauth/revoke of {name} is 200 and revokes nothing"):
            reply = oauth_revoke(stack, value, bearer(requester.token))
            assert reply.status == 200, reply.body
    with subtests.test("/oauth/revoke without client authentication is 401"):
        assert_error(stack.form("/oauth/revoke", f"token={g.token}"), 401, "invalid_client")
    with subtests.test("none of that revoked the delegation"):
        assert is_active(stack, g.token, natsupply)


def test_disabling_an_agent_stops_its_api_token_and_its_delegations(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent, colleague = stack.agent(medicore, "doomed"), stack.agent(medicore, "colleague")
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    stack.policy(natsupply, "stock.approve", "STEP_UP", medicore)
    active = grant(stack, agent, natsupply)
    pending = stack.request(agent, natsupply, "stock.approve")
    assert pending.status == 202, pending.body
    unrelated = grant(stack, colleague, natsupply)

    disabled = stack.call("DELETE", f"/agents/{agent.agent_id}", medicore.admin_token)
    with subtests.test("DELETE /agents/{id} disables the agent and reports what it revoked"):
        assert disabled.status == 200, disabled.body
        assert disabled.body["status"] == "DISABLED" and disabled.body["revoked_delegations"] == 2
        shown = stack.call("GET", f"/agents/{agent.agent_id}", medicore.admin_token)
        assert shown.body["status"] == "DISABLED", shown.body
    with subtests.test("its API token is refused at once"):
        assert_error(stack.request(agent, natsupply, "stock.write"), 401, "invalid_token")
        assert_error(stack.call("GET", "/delegations", agent.token), 401, "invalid_token")
    with subtests.test("its secret no longer gets a token"):
        refused = token_request(
            stack, {"grant_type": "client_credentials"}, basic(agent.client_id, agent.secret)
        )
        assert_error(refused, 401, "invalid_client")
    with subtests.test("its delegations, active and pending, are revoked"):
        assert not is_active(stack, active.token, natsupply)
        for delegation_id in (active.delegation_id, pending.body["delegation_id"]):
            shown = stack.call("GET", f"/delegations/{delegation_id}", natsupply.admin_token)
            assert shown.body["status"] == "REVOKED", shown.body
    with subtests.test("another agent's delegation is untouched"):
        assert is_active(stack, unrelated.token, natsupply)
        assert stack.call("GET", "/delegations", colleague.token).status == 200


def test_rotating_a_secret_invalidates_the_old_secret_and_its_tokens_at_once(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    second_token = stack.token(agent.client_id, agent.secret)

    rotated = stack.call("POST", f"/agents/{agent.agent_id}/rotate-secret", medicore.admin_token)
    assert rotated.status == 200, rotated.body
    new_secret = rotated.body["client_secret"]
    with subtests.test("a new secret is shown once, different from the old one"):
        assert new_secret and new_secret != agent.secret
        assert rotated.body["secret_rotated_at"]
        shown = stack.call("GET", f"/agents/{agent.agent_id}", medicore.admin_token)
        assert "client_secret" not in shown.body
    with subtests.test("the old secret is invalid_client, by either method"):
        post = {
            "grant_type": "client_credentials",
            "client_id": agent.client_id,
            "client_secret": agent.secret,
        }
        assert_error(token_request(stack, post), 401, "invalid_client")
        basic_auth = basic(agent.client_id, agent.secret)
        assert_error(
            token_request(stack, {"grant_type": "client_credentials"}, basic_auth), 401, "invalid_client"
        )
    with subtests.test("every API token minted with the old secret is refused"):
        for token in (agent.token, second_token):
            assert_error(stack.call("GET", "/delegations", token), 401, "invalid_token")
    with subtests.test("the new secret works"):
        fresh = stack.token(agent.client_id, new_secret)
        assert (
            stack.call(
                "POST",
                "/delegations/request",
                fresh,
                {
                    "receiving_tenant_id": natsupply.tenant_id,
                    "action": "stock.write",
                },
            ).status
            == 201
        )
