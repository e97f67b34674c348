"""Helpers shared by the functional suite: well-formed ids that do not exist, reply comparison,
hand-made JWTs (forged on purpose), OAuth form helpers, API snapshots and small worlds.

Everything goes through the public API, except `server_private_key`, which reads the test
stack's own signing key file so that a test can mint a *correctly signed* token with a wrong
claim (expired, wrong audience...) and show that the claim itself is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

import botocore.loaders
import botocore.session
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.functional.conftest import Agent, Reply, Stack, Tenant

REQUEST_ID = "x-request-id"


# -- speed -------------------------------------------------------------------------------------

_shared_loader = lru_cache(maxsize=None)(botocore.loaders.create_loader)


@pytest.fixture
def shared_botocore_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Share botocore's data loader between the sessions a test stack creates.

    Each pynamodb model of a fresh stack opens its own botocore session, and each session
    re-reads and re-parses botocore's JSON data files (endpoints, service models): about
    0.1 s a time, 5-7 times per test, most of a stack's cost. The files are static and read
    only, so one loader can serve every session; moto, the tables and the product code are
    untouched. Undone after each test.
    """
    monkeypatch.setattr(botocore.session, "create_loader", _shared_loader)


JWT_LIKE = r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"

# -- ids that are well formed but name nothing ------------------------------------------------


def random_tenant_id() -> str:
    return "tnt_" + secrets.token_hex(10)


def random_agent_id() -> str:
    return "agt_" + secrets.token_hex(10)


def random_delegation_id() -> str:
    """Same shape as a real one: a millisecond timestamp and 128 random bits."""
    return f"dlg_{int(time.time() * 1000):012x}{secrets.token_hex(16)}"


def policy_id(action: str, requesting_tenant_id: str | None = None) -> str:
    """The id VaultGuard gives the policy for (action, requester): `pol_` + base64url."""
    raw = f"{action}|{requesting_tenant_id or '*'}".encode()
    return "pol_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def random_policy_id() -> str:
    return policy_id(f"nothing{secrets.token_hex(4)}.write")


# -- comparing replies --------------------------------------------------------------------------


def header(reply: Reply, name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in reply.headers.items() if k.lower() == wanted), None)


def headers_without_request_id(reply: Reply) -> dict[str, str]:
    return {k.lower(): v for k, v in reply.headers.items() if k.lower() != REQUEST_ID}


def body_without_request_id(reply: Reply) -> Any:
    if isinstance(reply.body, dict):
        return {k: v for k, v in reply.body.items() if k != "request_id"}
    return reply.body


def observable(reply: Reply) -> tuple[int, Any, dict[str, str]]:
    """Everything a caller can see, except the per-request id."""
    return reply.status, body_without_request_id(reply), headers_without_request_id(reply)


def assert_error(reply: Reply, status: int, error: str | None = None) -> None:
    """The single error shape: {error, error_description, request_id} (+ optional extras)."""
    assert reply.status == status, (reply.status, reply.body)
    assert isinstance(reply.body, dict), reply.body
    assert isinstance(reply.body.get("error"), str) and reply.body["error"], reply.body
    assert isinstance(reply.body.get("error_description"), str) and reply.body["error_description"]
    assert reply.body.get("request_id") == header(reply, REQUEST_ID), (reply.body, reply.headers)
    if error is not None:
        assert reply.body["error"] == error, reply.body


def ids_in(value: Any) -> str:
    """A reply body flattened to text, to look for identifiers that must not be there."""
    return json.dumps(value, sort_keys=True)


# -- JWTs made by hand --------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(header, claims, signature) of a compact JWS, without verifying anything."""
    head, payload, signature = token.split(".")
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(payload)), signature


Sign = Callable[[bytes], bytes]


def rs256(key: rsa.RSAPrivateKey) -> Sign:
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def hs256(secret: bytes) -> Sign:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def compact(header: dict[str, Any], claims: dict[str, Any], sign: Sign | None = None) -> str:
    """A compact JWS of exactly this header and these claims; no signature when sign is None."""
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = b64url(sign(signing_input.encode("ascii"))) if sign else ""
    return f"{signing_input}.{signature}"


def with_payload(token: str, claims: dict[str, Any]) -> str:
    """The token's own header and signature around a different payload."""
    head, _, signature = token.split(".")
    return f"{head}.{b64url_json(claims)}.{signature}"


@lru_cache(maxsize=1)
def foreign_key() -> rsa.RSAPrivateKey:
    """An attacker's RSA key, generated once per test session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPublicKey, kid: str | None = None) -> dict[str, Any]:
    numbers = key.public_numbers()

    def uint(value: int) -> str:
        return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    jwk = {"kty": "RSA", "n": uint(numbers.n), "e": uint(numbers.e)}
    if kid is not None:
        jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return jwk


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3.2 for an RSA key, computed independently of the product."""
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


def jwks(stack: Stack) -> list[dict[str, Any]]:
    reply = stack.call("GET", "/.well-known/jwks.json")
    assert reply.status == 200, reply.body
    return list(reply.body["keys"])


def jwk_public_key(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    n = int.from_bytes(b64url_decode(jwk["n"]), "big")
    e = int.from_bytes(b64url_decode(jwk["e"]), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def server_private_key(stack: Stack) -> rsa.RSAPrivateKey:
    """The test stack's own signing key (a PEM file under the test's tmp_path)."""
    pem = stack.container.settings.signing_key_path.read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- OAuth form helpers ------------------------------------------------------------------------


def basic(client_id: str, secret: str) -> dict[str, str]:
    """client_secret_basic (RFC 6749 §2.3.1: each part form-urlencoded, then base64)."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def form(pairs: dict[str, str] | Iterable[tuple[str, str]]) -> str:
    return urlencode(list(pairs.items()) if isinstance(pairs, dict) else list(pairs))


def token_request(stack: Stack, params: dict[str, str], headers: dict[str, str] | None = None) -> Reply:
    return stack.form("/oauth/token", form(params), headers)


def introspect(stack: Stack, token: str, auth_headers: dict[str, str]) -> Reply:
    return stack.form("/oauth/introspect", form({"token": token}), auth_headers)


def oauth_revoke(stack: Stack, token: str, auth_headers: dict[str, str], **extra: str) -> Reply:
    return stack.form("/oauth/revoke", form({"token": token, **extra}), auth_headers)


def is_active(stack: Stack, token: str, receiver: Tenant) -> bool:
    """What the receiving tenant's admin learns from /delegations/verify."""
    reply = stack.verify(token, receiver.admin_token)
    assert reply.status == 200, reply.body
    return reply.body.get("active") is True


# -- reading lists through the API -------------------------------------------------------------


def all_audit(stack: Stack, tenant: Tenant, query: str = "") -> list[dict[str, Any]]:
    """A tenant's whole audit log, newest first, following cursors."""
    events: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(50):
        reply = stack.call("GET", f"/audit?limit=200{query}{cursor}", tenant.admin_token)
        assert reply.status == 200, reply.body
        events.extend(reply.body["events"])
        if not reply.body.get("next_cursor"):
            return events
        cursor = f"&cursor={reply.body['next_cursor']}"
    raise AssertionError("audit pagination did not end")


def delegation_ids(stack: Stack, token: str, direction: str | None = None) -> set[str]:
    query = f"?direction={direction}" if direction else ""
    reply = stack.call("GET", f"/delegations{query}", token)
    assert reply.status == 200, reply.body
    return {d["delegation_id"] for d in reply.body["delegations"]}


def _listed_delegations(stack: Stack, token: str, direction: str) -> list[dict[str, Any]]:
    reply = stack.call("GET", f"/delegations?direction={direction}&limit=200", token)
    assert reply.status == 200, reply.body
    # expires_in counts down between two snapshots; everything else must stay put
    return [{k: v for k, v in d.items() if k != "expires_in"} for d in reply.body["delegations"]]


def state_of(stack: Stack, *tenants: Tenant) -> dict[str, Any]:
    """What an admin can list about each tenant, plus the platform's tenant list: a test
    compares this before and after a refused request to show that nothing changed."""
    snapshot: dict[str, Any] = {
        "tenants": stack.call("GET", "/tenants", stack.platform_token).body,
    }
    for tenant in tenants:
        token = tenant.admin_token
        snapshot[tenant.tenant_id] = {
            "agents": stack.call("GET", "/agents", token).body,
            "policies": stack.call("GET", "/policies", token).body,
            "inbound": _listed_delegations(stack, token, "inbound"),
            "outbound": _listed_delegations(stack, token, "outbound"),
            "audit": [e["event_id"] for e in all_audit(stack, tenant)],
        }
    return snapshot


# -- small worlds ------------------------------------------------------------------------------


@dataclass
class Grant:
    """An ALLOWed delegation: `agent` (of `requester`) may do `action` at `receiver`."""

    requester: Tenant
    receiver: Tenant
    agent: Agent
    reply: Reply

    @property
    def token(self) -> str:
        return str(self.reply.body["access_token"])

    @property
    def delegation_id(self) -> str:
        return str(self.reply.body["delegation_id"])


def grant(stack: Stack, agent: Agent, receiver: Tenant, action: str = "stock.write", **extra: Any) -> Grant:
    reply = stack.request(agent, receiver, action, **extra)
    assert reply.status == 201, reply.body
    return Grant(agent.tenant, receiver, agent, reply)


def allowed_pair(stack: Stack, action: str = "stock.write") -> Grant:
    """MediCore's agent holding an ALLOW delegation for `action` at NatSupply."""
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, action, "ALLOW", medicore)
    return grant(stack, agent, natsupply, action)
