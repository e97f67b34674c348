"""The OAuth 2.0 surface: client_credentials (RFC 6749 §4.4) with client_secret_basic and
client_secret_post, its error answers (§5.2), and the discovery documents (RFC 8414, RFC 7517)."""

from __future__ import annotations

import jwt
import pytest

from tests.functional.conftest import ISSUER, Reply, Stack
from tests.functional.helpers import (
    all_audit,
    assert_error,
    basic,
    form,
    header,
    jwk_public_key,
    shared_botocore_data,
    thumbprint,
    token_request,
)

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}
PUBLIC_RSA_MEMBERS = {"kty", "use", "alg", "kid", "n", "e"}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def test_client_credentials_by_basic_or_post_issue_working_uncacheable_tokens(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    medicore = stack.tenant("MediCore")
    agent = stack.agent(medicore)
    methods = {
        "admin, client_secret_basic": (basic(medicore.admin_client_id, medicore.admin_secret), {}),
        "admin, client_secret_post": (
            {},
            {"client_id": medicore.admin_client_id, "client_secret": medicore.admin_secret},
        ),
        "agent, client_secret_basic": (basic(agent.client_id, agent.secret), {}),
        "agent, client_secret_basic plus a matching client_id": (
            basic(agent.client_id, agent.secret),
            {"client_id": agent.client_id},
        ),
        "agent, client_secret_post": ({}, {"client_id": agent.client_id, "client_secret": agent.secret}),
    }
    for name, (auth, params) in methods.items():
        with subtests.test(name):
            reply = token_request(stack, {**CLIENT_CREDENTIALS, **params}, auth)
            assert reply.status == 200, reply.body
            assert reply.body["token_type"] == "Bearer"
            assert isinstance(reply.body["expires_in"], int) and reply.body["expires_in"] > 0
            assert "refresh_token" not in reply.body
            assert "no-store" in (header(reply, "cache-control") or "")
            probe = "/agents" if name.startswith("admin") else "/delegations"
            assert stack.call("GET", probe, reply.body["access_token"]).status == 200


def test_bad_client_credentials_get_401_invalid_client_with_www_authenticate(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    medicore = stack.tenant("MediCore")
    agent = stack.agent(medicore)
    unknown = "vgc_" + "0" * 24
    attempts = {
        "wrong secret, basic": (basic(agent.client_id, agent.secret + "x"), {}),
        "wrong secret, post": ({}, {"client_id": agent.client_id, "client_secret": "vgs_wrong"}),
        "another client's secret, basic": (basic(agent.client_id, medicore.admin_secret), {}),
        "unknown client, basic": (basic(unknown, agent.secret), {}),
        "unknown client, post": ({}, {"client_id": unknown, "client_secret": agent.secret}),
        "empty secret, post": ({}, {"client_id": agent.client_id, "client_secret": ""}),
        "no client authentication at all": ({}, {}),
        "Basic credentials that are not base64": ({"authorization": "Basic %%%not-base64%%%"}, {}),
    }
    for name, (auth, params) in attempts.items():
        with subtests.test(name):
            reply = token_request(stack, {**CLIENT_CREDENTIALS, **params}, auth)
            assert_error(reply, 401, "invalid_client")
            assert header(reply, "www-authenticate"), reply.headers
            assert "access_token" not in reply.body
            assert "no-store" in (header(reply, "cache-control") or "")
    with subtests.test("the right secret still works afterwards"):
        stack.token(agent.client_id, agent.secret)


def test_malformed_token_requests_are_refused_with_oauth_errors(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    medicore = stack.tenant("MediCore")
    cid, secret = medicore.admin_client_id, medicore.admin_secret
    post = {"client_id": cid, "client_secret": secret}
    audit_before = all_audit(stack, medicore)

    def raw(data: str, headers: dict[str, str] | None = None) -> Reply:
        return stack.form("/oauth/token", data, headers)

    cases = {
        "both client_secret_basic and client_secret_post": (
            400,
            "invalid_request",
            token_request(stack, {**CLIENT_CREDENTIALS, **post}, basic(cid, secret)),
        ),
        "basic with a client_id naming another client": (
            400,
            "invalid_request",
            token_request(stack, {**CLIENT_CREDENTIALS, "client_id": "vgc_" + "1" * 24}, basic(cid, secret)),
        ),
        "grant_type repeated": (
            400,
            "invalid_request",
            raw(
                form(
                    [
                        ("grant_type", "client_credentials"),
                        ("grant_type", "client_credentials"),
                        *post.items(),
                    ]
                )
            ),
        ),
        "client_secret repeated": (
            400,
            "invalid_request",
            raw(
                form(
                    [
                        ("grant_type", "client_credentials"),
                        ("client_id", cid),
                        ("client_secret", secret),
                        ("client_secret", "other"),
                    ]
                )
            ),
        ),
        "grant_type missing": (400, "invalid_request", raw(form(post))),
        "grant_type empty": (400, "invalid_request", raw(form({"grant_type": "", **post}))),
        "grant_type password": (
            400,
            "unsupported_grant_type",
            raw(form({"grant_type": "password", "username": "u", "password": "p", **post})),
        ),
        "grant_type authorization_code": (
            400,
            "unsupported_grant_type",
            raw(form({"grant_type": "authorization_code", "code": "x", **post})),
        ),
        "a JSON body": (
            415,
            None,
            stack.call("POST", "/oauth/token", body={**CLIENT_CREDENTIALS, **post}),
        ),
        "a form body without its content type": (
            415,
            None,
            stack.call(
                "POST",
                "/oauth/token",
                raw=form({**CLIENT_CREDENTIALS, **post}),
                headers={"content-type": "text/plain"},
            ),
        ),
        "a body over 64 KiB": (
            413,
            None,
            raw(form({**CLIENT_CREDENTIALS, **post, "padding": "x" * (65 * 1024)})),
        ),
        "a body that is not form encoding": (
            400,
            "invalid_request",
            raw("grant_type=client_credentials&&&=="),
        ),
    }
    for name, (status, error, reply) in cases.items():
        with subtests.test(name):
            assert_error(reply, status, error)
            assert "access_token" not in reply.body
            assert "no-store" in (header(reply, "cache-control") or "")
    with subtests.test("none of them issued a token"):
        issued = [e for e in all_audit(stack, medicore) if e not in audit_before]
        assert issued == []


def test_discovery_documents_name_the_configured_issuer(stack: Stack, subtests: pytest.Subtests) -> None:
    documents = {
        path: stack.call("GET", path)
        for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
    }
    for path, reply in documents.items():
        with subtests.test(path):
            assert reply.status == 200, reply.body
            meta = reply.body
            assert meta["issuer"] == ISSUER
            assert meta["token_endpoint"] == f"{ISSUER}/oauth/token"
            assert meta["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
            assert meta["introspection_endpoint"] == f"{ISSUER}/oauth/introspect"
            assert meta["revocation_endpoint"] == f"{ISSUER}/oauth/revoke"
            assert "client_credentials" in meta["grant_types_supported"]
            assert {"client_secret_basic", "client_secret_post"} <= set(
                meta["token_endpoint_auth_methods_supported"]
            )
            assert "none" not in {
                a.lower() for a in meta.get("token_endpoint_auth_signing_alg_values_supported", [])
            }

    jwks = stack.call("GET", "/.well-known/jwks.json")
    with subtests.test("the JWKS publishes public RSA members only"):
        assert jwks.status == 200 and set(jwks.body) == {"keys"}, jwks.body
        assert jwks.body["keys"], "no signing key published"
        for jwk in jwks.body["keys"]:
            assert set(jwk) <= PUBLIC_RSA_MEMBERS and not set(jwk) & PRIVATE_MEMBERS, jwk
            assert (jwk["kty"], jwk["alg"], jwk["use"]) == ("RSA", "RS256", "sig")
            assert jwk["kid"] == thumbprint(jwk)
            assert jwk_public_key(jwk).key_size >= 2048
    with subtests.test("the JWKS is the key that signs API tokens"):
        platform_kid = jwt.get_unverified_header(stack.platform_token)["kid"]
        assert platform_kid in {k["kid"] for k in jwks.body["keys"]}
