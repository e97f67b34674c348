"""Forged and misused JWTs (RFC 8725) are refused by the API's bearer authentication (401
invalid_token) and are reported inactive (200 {"active": false}, nothing more) by
POST /delegations/verify and POST /oauth/introspect.

Each forgery starts from a genuine token and changes one thing; a control re-signs the
genuine header and claims with the server's key (or uses the genuine token) to show that the
one change is what gets the token refused.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.functional.conftest import ISSUER, Stack
from tests.functional.helpers import (
    all_audit,
    allowed_pair,
    assert_error,
    basic,
    bearer,
    compact,
    foreign_key,
    header,
    hs256,
    introspect,
    jwk_public_key,
    jwks,
    jwt_parts,
    public_jwk,
    rs256,
    server_private_key,
    shared_botocore_data,
    thumbprint,
    with_payload,
)

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

DROP = object()


def forgeries(
    stack: Stack, genuine: str, tampered_claims: list[dict[str, Any]], other_audience: str
) -> dict[str, str]:
    """One forged variant of `genuine` per attack, by name."""
    head, claims, signature = jwt_parts(genuine)
    server = rs256(server_private_key(stack))
    public = jwk_public_key(next(k for k in jwks(stack) if k["kid"] == head["kid"]))
    attacker = foreign_key()
    attacker_jwk = public_jwk(attacker.public_key())
    attacker_kid = thumbprint(attacker_jwk)
    now = int(time.time())

    def h(**changes: Any) -> dict[str, Any]:
        return {k: v for k, v in {**head, **changes}.items() if v is not DROP}

    def c(**changes: Any) -> dict[str, Any]:
        return {k: v for k, v in {**claims, **changes}.items() if v is not DROP}

    spki = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1 = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    cases: dict[str, str] = {}
    for alg in ("none", "None", "NONE", "nOnE"):
        cases[f"alg {alg}, no signature"] = compact(h(alg=alg), claims)
    cases["alg none, genuine signature kept"] = compact(h(alg="none"), claims)[:-1] + "." + signature
    cases["HS256 keyed with the server's public key (SPKI PEM)"] = compact(
        h(alg="HS256"), claims, hs256(spki)
    )
    cases["HS256 keyed with the server's public key (PKCS#1 PEM)"] = compact(
        h(alg="HS256"), claims, hs256(pkcs1)
    )
    cases["HS256 keyed with the PEM minus its newline"] = compact(h(alg="HS256"), claims, hs256(spki.strip()))
    jwk_header = {**attacker_jwk, "kid": attacker_kid}
    jku = "https://attacker.example/.well-known/jwks.json"
    by_attacker = rs256(attacker)
    cases["attacker key, attacker kid, embedded jwk"] = compact(
        h(kid=attacker_kid, jwk=jwk_header), claims, by_attacker
    )
    cases["attacker key, server kid, embedded jwk"] = compact(h(jwk=jwk_header), claims, by_attacker)
    cases["attacker key, attacker kid, jku"] = compact(h(kid=attacker_kid, jku=jku), claims, by_attacker)
    cases["attacker key, server kid, jku"] = compact(h(jku=jku), claims, by_attacker)
    cases["attacker key, server kid, x5u"] = compact(
        h(x5u="https://attacker.example/cert.pem"), claims, by_attacker
    )
    cases["attacker key, server kid"] = compact(head, claims, by_attacker)
    cases["unknown kid, signed by the server key"] = compact(h(kid="not-one-of-ours"), claims, server)
    cases["no kid, signed by the server key"] = compact(h(kid=DROP), claims, server)
    for i, tampered in enumerate(tampered_claims, 1):
        cases[f"tampered payload #{i}, genuine signature"] = with_payload(genuine, tampered)
    cases["wrong aud"] = compact(head, c(aud=other_audience), server)
    cases["aud missing"] = compact(head, c(aud=DROP), server)
    cases["wrong iss"] = compact(head, c(iss="https://vaultguard.evil.example"), server)
    cases["iss with a trailing slash"] = compact(head, c(iss=ISSUER + "/"), server)
    cases["expired"] = compact(head, c(iat=now - 7200, nbf=now - 7200, exp=now - 3600), server)
    cases["exp missing"] = compact(head, c(exp=DROP), server)
    cases["jti missing"] = compact(head, c(jti=DROP), server)
    cases["sub missing"] = compact(head, c(sub=DROP), server)
    cases["unknown crit header"] = compact(
        h(crit=["urn:example:must-understand"], **{"urn:example:must-understand": True}), claims, server
    )
    cases["typ JWT instead of the expected type"] = compact(h(typ="JWT"), claims, server)
    return cases


def control(stack: Stack, genuine: str) -> str:
    """The genuine header and claims, re-signed by the server's key: must be accepted."""
    head, claims, _ = jwt_parts(genuine)
    return compact(head, claims, rs256(server_private_key(stack)))


def test_forged_and_misused_tokens_get_401_from_bearer_authentication(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    g = allowed_pair(stack)
    medicore, natsupply = g.requester, g.receiver
    genuine = medicore.admin_token
    _, own, _ = jwt_parts(genuine)
    _, natsupply_admin, _ = jwt_parts(natsupply.admin_token)
    as_platform = {**own, "role": "platform", "sub": "operator", "client_id": stack.platform_client_id}
    del as_platform["tenant_id"]
    tampered = [
        natsupply_admin | {"exp": own["exp"]},  # another tenant's admin
        as_platform,  # privilege escalation to the platform operator
        own | {"exp": own["exp"] + 86400},  # a longer life
    ]

    with subtests.test("control: the genuine claims re-signed by the server are accepted"):
        assert stack.call("GET", "/agents", control(stack, genuine)).status == 200

    cases = forgeries(stack, genuine, tampered, other_audience=natsupply.audience)
    cases["a delegation token used as an API token"] = g.token
    for name, token in cases.items():
        with subtests.test(name):
            reply = stack.call("GET", "/agents", token)
            assert_error(reply, 401, "invalid_token")
            assert (header(reply, "www-authenticate") or "").lower().startswith("bearer")
            assert "agents" not in reply.body


def test_forged_and_misused_tokens_are_inactive_at_verify_and_introspect(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    g = allowed_pair(stack)
    medicore, natsupply = g.requester, g.receiver
    _, claims, _ = jwt_parts(g.token)
    tampered = [
        claims | {"scope": "stock.delete"},
        claims | {"exp": claims["exp"] + 86400},
        claims | {"receiving_tenant_id": medicore.tenant_id, "aud": medicore.audience},
    ]
    endpoints = {
        "/delegations/verify": lambda token: stack.verify(token, natsupply.admin_token),
        "/oauth/introspect": lambda token: introspect(stack, token, bearer(natsupply.admin_token)),
    }
    accepted = 0
    for path, check in endpoints.items():
        with subtests.test(f"control: the genuine delegation token is active at {path}"):
            reply = check(g.token)
            assert reply.status == 200 and reply.body["active"] is True, reply.body
            accepted += 1

    cases = forgeries(stack, g.token, tampered, other_audience=medicore.audience)
    cases["an agent's API access token used as a delegation token"] = g.agent.token
    cases["the receiving admin's own API access token"] = natsupply.admin_token
    for path, check in endpoints.items():
        for name, token in cases.items():
            with subtests.test(name, endpoint=path):
                reply = check(token)
                assert reply.status == 200, reply.body
                assert reply.body == {"active": False}

    with subtests.test("introspection with client_secret_basic answers the same"):
        auth = basic(natsupply.admin_client_id, natsupply.admin_secret)
        assert introspect(stack, cases["attacker key, server kid, jku"], auth).body == {"active": False}
        assert introspect(stack, g.token, auth).body["active"] is True
        accepted += 1

    with subtests.test("only the genuine token left a delegation.verified event"):
        verified = [e for e in all_audit(stack, natsupply) if e["type"] == "delegation.verified"]
        assert len(verified) == accepted
        assert {e["delegation_id"] for e in verified} == {g.delegation_id}
