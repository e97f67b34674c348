"""The three decisions of POST /delegations/request as the requesting agent sees them.

BLOCK must reveal nothing: an explicit BLOCK, no matching policy, an unknown tenant, a
malformed id and a disabled tenant all look byte-for-byte the same (apart from the request
id). ALLOW and STEP_UP answers and the token itself follow docs/architecture.md exactly, and the
receiving tenant's most specific policy decides.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import jwt
import pytest

from tests.functional.conftest import ISSUER, Stack
from tests.functional.helpers import (
    all_audit,
    assert_error,
    b64url_decode,
    delegation_ids,
    header,
    jwk_public_key,
    jwks,
    observable,
    random_tenant_id,
    shared_botocore_data,
    thumbprint,
)

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

ALLOW_FIELDS = {
    "delegation_id",
    "decision",
    "status",
    "access_token",
    "token_type",
    "expires_in",
    "expires_at",
    "scope",
}
STEP_UP_FIELDS = {"delegation_id", "decision", "status", "auth_req_id", "expires_in", "interval"}
TOKEN_CLAIMS = {
    "iss",
    "sub",
    "aud",
    "client_id",
    "iat",
    "nbf",
    "exp",
    "jti",
    "scope",
    "tenant_id",
    "receiving_tenant_id",
    "act",
    "status",
}


def test_every_refusal_reason_gives_the_same_block_answer(stack: Stack, subtests: pytest.Subtests) -> None:
    medicore = stack.tenant("MediCore")
    blocking, silent, disabled = stack.tenant("Blocking"), stack.tenant("Silent"), stack.tenant("Disabled")
    agent = stack.agent(medicore)
    stack.policy(blocking, "stock.write", "BLOCK", medicore)
    stack.policy(silent, "stock.read", "ALLOW", medicore)  # a policy, but not for this action
    stack.policy(disabled, "stock.write", "ALLOW", medicore)
    assert stack.request(agent, disabled, "stock.write").status == 201  # allowed while ACTIVE
    switched = stack.call(
        "PATCH", f"/tenants/{disabled.tenant_id}", stack.platform_token, {"status": "DISABLED"}
    )
    assert switched.status == 200 and switched.body["status"] == "DISABLED", switched.body
    outbound_before = delegation_ids(stack, agent.token)

    targets = {
        "explicit BLOCK policy": blocking.tenant_id,
        "no matching policy": silent.tenant_id,
        "unknown tenant": random_tenant_id(),
        "disabled tenant": disabled.tenant_id,
        "malformed id: short": "tnt_12345",
        "malformed id: upper case": "TNT_" + random_tenant_id()[4:].upper(),
        "malformed id: a name": "natsupply",
        "malformed id: path and key syntax": "../tnt_0000#POLICY#*",
    }
    replies = {name: stack.request(agent, target, "stock.write") for name, target in targets.items()}
    reference = replies["explicit BLOCK policy"]
    with subtests.test("explicit BLOCK is a 403 access_denied with decision BLOCK and no token"):
        assert_error(reference, 403, "access_denied")
        assert reference.body["decision"] == "BLOCK"
        assert "access_token" not in reference.body and "delegation_id" not in reference.body
    for name, reply in replies.items():
        with subtests.test(f"{name} looks exactly like an explicit BLOCK"):
            assert observable(reply) == observable(reference)

    with subtests.test("no delegation was created"):
        assert delegation_ids(stack, agent.token) == outbound_before

    with subtests.test("the requester's own audit trail is the same for every reason"):
        blocked = [e for e in all_audit(stack, medicore) if e["type"] == "delegation.blocked"]
        by_target = {e["counterpart_tenant_id"]: e for e in blocked}
        assert set(by_target) == set(targets.values())
        shapes = {
            (tuple(sorted(e)), e["action"], e["decision"], e["actor"]["type"]) for e in by_target.values()
        }
        assert len(shapes) == 1, shapes


def test_allow_and_step_up_answers_and_the_token_follow_the_design(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore, ttl_seconds=120)
    stack.policy(natsupply, "stock.approve", "STEP_UP", medicore, stepup_expiry_seconds=90)

    allowed = stack.request(agent, natsupply, "stock.write", purpose="restock ward 4")
    now = int(time.time())
    with subtests.test("ALLOW: 201 with exactly the designed fields"):
        assert allowed.status == 201, allowed.body
        assert set(allowed.body) == ALLOW_FIELDS
        b = allowed.body
        assert (b["decision"], b["status"], b["token_type"], b["scope"]) == (
            "ALLOW",
            "ACTIVE",
            "Bearer",
            "stock.write",
        )
        assert re.fullmatch(r"dlg_[0-9a-f]{44}", b["delegation_id"]), b["delegation_id"]
        assert 118 <= b["expires_in"] <= 120
        assert "no-store" in (header(allowed, "cache-control") or "")

    token = allowed.body["access_token"]
    keys = jwks(stack)
    unverified = jwt.get_unverified_header(token)
    with subtests.test("token header: RS256, typ at+jwt, kid = RFC 7638 thumbprint of a published key"):
        assert set(unverified) == {"alg", "typ", "kid"}
        assert (unverified["alg"], unverified["typ"]) == ("RS256", "at+jwt")
        published = {k["kid"]: k for k in keys}
        assert unverified["kid"] in published
        assert unverified["kid"] == thumbprint(published[unverified["kid"]])

    with subtests.test("token claims are exactly those of docs/architecture.md, verified against the JWKS"):
        key = jwk_public_key(next(k for k in keys if k["kid"] == unverified["kid"]))
        claims = jwt.decode(token, key, algorithms=["RS256"], audience=natsupply.audience, issuer=ISSUER)
        assert set(claims) == TOKEN_CLAIMS
        assert claims["sub"] == agent.agent_id and claims["act"] == {"sub": agent.agent_id}
        assert claims["client_id"] == agent.client_id
        assert claims["aud"] == natsupply.audience
        assert claims["jti"] == allowed.body["delegation_id"]
        assert claims["scope"] == "stock.write"
        assert claims["tenant_id"] == medicore.tenant_id
        assert claims["receiving_tenant_id"] == natsupply.tenant_id
        entry = claims["status"]["status_list"]
        assert set(entry) == {"idx", "uri"} and isinstance(entry["idx"], int)
        assert entry["uri"].startswith(f"{ISSUER}/statuslists/") and natsupply.tenant_id not in entry["uri"]
        assert claims["nbf"] == claims["iat"] and abs(claims["iat"] - now) <= 5
        assert claims["exp"] - claims["iat"] == 120
        expires_at = datetime.fromisoformat(allowed.body["expires_at"].replace("Z", "+00:00"))
        assert int(expires_at.astimezone(UTC).timestamp()) == claims["exp"]

    for asked, granted in ((600, 120), (60, 60), (None, 120)):
        with subtests.test(f"ttl_seconds {asked} under a 120 s policy gives {granted} s"):
            extra = {} if asked is None else {"ttl_seconds": asked}
            reply = stack.request(agent, natsupply, "stock.write", **extra)
            assert reply.status == 201, reply.body
            claims = jwt.decode(reply.body["access_token"], options={"verify_signature": False})
            assert claims["exp"] - claims["iat"] == granted
            assert granted - 2 <= reply.body["expires_in"] <= granted

    first = stack.request(agent, natsupply, "stock.approve", binding_message="Order 4711")
    second = stack.request(agent, natsupply, "stock.approve", binding_message="Order 4712")
    with subtests.test("STEP_UP: 202 pending with auth_req_id, interval 5 and expires_in"):
        assert first.status == 202, first.body
        assert set(first.body) == STEP_UP_FIELDS
        assert (first.body["decision"], first.body["status"], first.body["interval"]) == (
            "STEP_UP",
            "PENDING",
            5,
        )
        assert 88 <= first.body["expires_in"] <= 90
        assert "access_token" not in first.body
    with subtests.test("auth_req_id carries at least 128 bits and is never reused"):
        for reply in (first, second):
            auth_req_id = reply.body["auth_req_id"]
            assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", auth_req_id), auth_req_id
            assert len(b64url_decode(auth_req_id)) >= 16
        assert first.body["auth_req_id"] != second.body["auth_req_id"]
        assert first.body["delegation_id"] != second.body["delegation_id"]
    with subtests.test("the pending delegation is listed as PENDING on both sides"):
        for token_ in (agent.token, natsupply.admin_token):
            shown = stack.call("GET", f"/delegations/{first.body['delegation_id']}", token_)
            assert shown.status == 200 and shown.body["status"] == "PENDING", shown.body


def test_the_most_specific_policy_decides(stack: Stack, subtests: pytest.Subtests) -> None:
    natsupply = stack.tenant("NatSupply")
    medicore, carelogix = stack.tenant("MediCore"), stack.tenant("CareLogix")
    from_medicore, from_carelogix = stack.agent(medicore), stack.agent(carelogix)
    for action, effect, requester in (
        ("stock.write", "BLOCK", None),
        ("stock.write", "ALLOW", medicore),
        ("stock.*", "ALLOW", None),
        ("stock.delete", "BLOCK", None),
        ("stock.item.*", "STEP_UP", None),
        ("ledger.read", "ALLOW", None),
        ("ledger.*", "STEP_UP", medicore),
    ):
        stack.policy(natsupply, action, effect, requester)

    expectations = [
        ("a rule for this requester beats a rule for any requester", from_medicore, "stock.write", 201),
        ("other requesters get the any-requester rule", from_carelogix, "stock.write", 403),
        ("an exact action beats a wildcard", from_carelogix, "stock.delete", 403),
        ("an exact action beats a wildcard for the named requester too", from_medicore, "stock.delete", 403),
        ("a wildcard covers the actions under it", from_carelogix, "stock.read", 201),
        ("a longer prefix beats a shorter one", from_carelogix, "stock.item.move", 202),
        ("a requester-specific wildcard beats an exact rule for anyone", from_medicore, "ledger.read", 202),
        ("without the requester-specific rule the exact rule applies", from_carelogix, "ledger.read", 201),
        ("a wildcard does not match a sibling namespace", from_carelogix, "stockpile.read", 403),
        ("no matching rule is a BLOCK", from_carelogix, "orders.read", 403),
    ]
    for name, agent, action, status in expectations:
        with subtests.test(name):
            reply = stack.request(agent, natsupply, action)
            assert reply.status == status, (action, reply.body)
