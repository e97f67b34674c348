"""Token status lists (draft-ietf-oauth-status-list): the claim in delegation tokens, the
signed list at GET /statuslists/{list_id}, the bit set by revocation and by the cleanup job,
and the SDK's offline verifier refusing a revoked token within 5 s without a call per token."""

from __future__ import annotations

import base64
import json
import threading
import time
import zlib
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from vaultguard import DelegationVerifier, InvalidDelegationToken, JWKSCache, StatusLists

from chalicelib.jobs import cleanup
from tests.functional.conftest import ISSUER, Agent, Stack, Tenant


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _entry(token: str) -> tuple[str, int]:
    ref = _claims(token)["status"]["status_list"]
    return str(ref["uri"]), int(ref["idx"])


def _bits(list_token: str) -> bytes:
    lst = _claims(list_token)["status_list"]["lst"]
    return zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))


def _bit(bits: bytes, idx: int) -> int:
    return bits[idx // 8] >> (idx % 8) & 1


def _header(headers: dict[str, str], name: str) -> str | None:
    return {k.lower(): v for k, v in headers.items()}.get(name)


def _fetch(stack: Stack, uri: str) -> str:
    reply = stack.call("GET", urlsplit(uri).path)
    assert reply.status == 200, reply.body
    assert _header(reply.headers, "content-type") == "application/statuslist+jwt"
    return reply.body.decode() if isinstance(reply.body, bytes) else str(reply.body)


@pytest.fixture
def parties(stack: Stack) -> tuple[Tenant, Tenant, Agent]:
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(med)
    stack.policy(nat, "stock.write", "ALLOW", med)
    return med, nat, agent


def _allow(stack: Stack, agent: Agent, nat: Tenant, **extra: Any) -> dict[str, Any]:
    reply = stack.request(agent, nat, "stock.write", **extra)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def test_the_list_token_is_signed_typed_and_names_only_its_uri(
    stack: Stack, parties: tuple[Tenant, Tenant, Agent]
) -> None:
    _, nat, agent = parties
    token = _allow(stack, agent, nat)["access_token"]
    uri, idx = _entry(token)
    assert uri.startswith(f"{ISSUER}/statuslists/sl_") and nat.tenant_id not in uri
    reply = stack.call("GET", urlsplit(uri).path)
    assert _header(reply.headers, "cache-control") == "public, max-age=2"
    list_token = reply.body.decode()
    header = jwt.get_unverified_header(list_token)
    assert header["typ"] == "statuslist+jwt" and header["alg"] == "RS256"
    jwks = stack.call("GET", "/.well-known/jwks.json").body
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"])).key
    claims = jwt.decode(list_token, key, algorithms=["RS256"], options={"verify_aud": False})
    assert claims["sub"] == uri and claims["iss"] == ISSUER and claims["ttl"] == 2
    assert 0 < claims["exp"] - claims["iat"] <= 60
    assert claims["status_list"]["bits"] == 1
    # nothing about the tenant, its audience or how many tokens it holds
    text = json.dumps(claims)
    assert nat.tenant_id not in text and nat.audience not in text
    assert len(_bits(list_token)) == 1 << 14  # 2^17 entries, the same size however many are used
    assert _bit(_bits(list_token), idx) == 0


def test_indices_are_random_and_unique(stack: Stack, parties: tuple[Tenant, Tenant, Agent]) -> None:
    _, nat, agent = parties
    entries = [_entry(_allow(stack, agent, nat)["access_token"]) for _ in range(6)]
    assert len({uri for uri, _ in entries}) == 1  # one list per receiving tenant
    indices = [idx for _, idx in entries]
    assert len(set(indices)) == 6
    assert indices != sorted(indices) or max(indices) > 1000  # not issuance order


def test_revocation_sets_the_bit_with_its_audit_event(
    stack: Stack, parties: tuple[Tenant, Tenant, Agent]
) -> None:
    med, nat, agent = parties
    issued = _allow(stack, agent, nat)
    other = _allow(stack, agent, nat)
    uri, idx = _entry(issued["access_token"])
    assert _bit(_bits(_fetch(stack, uri)), idx) == 0
    reply = stack.call("POST", f"/delegations/{issued['delegation_id']}/revoke", med.admin_token, {})
    assert reply.status == 200, reply.body
    bits = _bits(_fetch(stack, uri))
    assert _bit(bits, idx) == 1
    assert _bit(bits, _entry(other["access_token"])[1]) == 0
    assert any(e["type"] == "delegation.revoked" for e in stack.audit(nat))


def test_expiry_by_the_cleanup_job_sets_the_bit(stack: Stack, parties: tuple[Tenant, Tenant, Agent]) -> None:
    _, nat, agent = parties
    issued = _allow(stack, agent, nat, ttl_seconds=60)
    uri, idx = _entry(issued["access_token"])
    summary = cleanup.build_job().run(now=time.time() + 120)
    assert summary.expired >= 1
    assert _bit(_bits(_fetch(stack, uri)), idx) == 1


def test_an_approved_step_up_token_carries_an_entry(
    stack: Stack, parties: tuple[Tenant, Tenant, Agent]
) -> None:
    med, nat, agent = parties
    stack.policy(nat, "requisition.submit", "STEP_UP", med)
    pending = stack.request(agent, nat, "requisition.submit").body
    approved = stack.call("POST", f"/delegations/{pending['delegation_id']}/approve", nat.admin_token, {})
    assert approved.status == 200, approved.body
    form = f"grant_type=urn:openid:params:grant-type:ciba&auth_req_id={pending['auth_req_id']}"
    reply = stack.form("/oauth/token", form, {"authorization": _basic(agent)})
    assert reply.status == 200, reply.body
    uri, idx = _entry(reply.body["access_token"])
    assert _bit(_bits(_fetch(stack, uri)), idx) == 0


def _basic(agent: Agent) -> str:
    return "Basic " + base64.b64encode(f"{agent.client_id}:{agent.secret}".encode()).decode()


def test_unknown_malformed_and_other_ids_get_the_same_404(
    stack: Stack, parties: tuple[Tenant, Tenant, Agent]
) -> None:
    _, nat, agent = parties
    real = urlsplit(_entry(_allow(stack, agent, nat)["access_token"])[0]).path
    answers = [
        stack.call("GET", path)
        for path in ("/statuslists/sl_" + "A" * 22, "/statuslists/nope", f"/statuslists/{nat.tenant_id}")
    ]
    assert {a.status for a in answers} == {404}
    assert len({(a.body["error"], a.body["error_description"]) for a in answers}) == 1
    assert stack.call("GET", real).status == 200


def test_another_tenants_list_gives_nothing_away(stack: Stack, parties: tuple[Tenant, Tenant, Agent]) -> None:
    """Each receiving tenant has its own list; revoking in one never shows in the other, and
    a list names neither tenant."""
    med, nat, agent = parties
    stack.policy(med, "stock.write", "ALLOW", nat)
    nat_agent = stack.agent(nat, "nat-agent")
    to_med = stack.request(nat_agent, med, "stock.write").body
    to_nat = _allow(stack, agent, nat)
    med_uri, med_idx = _entry(to_med["access_token"])
    nat_uri, nat_idx = _entry(to_nat["access_token"])
    assert med_uri != nat_uri
    stack.call("POST", f"/delegations/{to_nat['delegation_id']}/revoke", nat.admin_token, {})
    med_list = _fetch(stack, med_uri)
    assert not any(_bits(med_list))  # NatSupply's revocation is not in MediCore's list
    text = json.dumps(_claims(med_list))
    for secret in (nat.tenant_id, med.tenant_id, to_nat["delegation_id"], to_med["delegation_id"]):
        assert secret not in text


def test_sdk_refuses_a_revoked_token_within_5_s_offline(
    stack: Stack, parties: tuple[Tenant, Tenant, Agent]
) -> None:
    med, nat, agent = parties
    lock = threading.Lock()  # the test client is not shared across threads
    fetches: list[str] = []

    def fetch_list(uri: str) -> str:
        with lock:
            fetches.append(uri)
            return _fetch(stack, uri)

    def fetch_jwks(url: str) -> dict[str, Any]:
        with lock:
            return dict(stack.call("GET", "/.well-known/jwks.json").body)

    jwks = JWKSCache(f"{ISSUER}/.well-known/jwks.json", fetch=fetch_jwks)
    lists = StatusLists(ISSUER, jwks, fetch=fetch_list, max_interval=0.5)
    verifier = DelegationVerifier(ISSUER, nat.audience, jwks=jwks, status_list=lists)
    try:
        with lock:
            issued = _allow(stack, agent, nat)
        token = issued["access_token"]
        assert verifier.verify(token, action="stock.write").delegation_id == issued["delegation_id"]
        before = len(fetches)
        for _ in range(200):
            verifier.verify(token)
        assert len(fetches) - before <= 2  # verifications read memory; only the refresher fetches
        with lock:
            revoked_at = time.monotonic()
            assert (
                stack.call(
                    "POST", f"/delegations/{issued['delegation_id']}/revoke", med.admin_token, {}
                ).status
                == 200
            )
        refused = None
        while time.monotonic() - revoked_at < 5:
            try:
                verifier.verify(token)
            except InvalidDelegationToken as exc:
                refused = exc
                break
            time.sleep(0.05)
        assert refused is not None and refused.reason == "revoked"
    finally:
        lists.close()
