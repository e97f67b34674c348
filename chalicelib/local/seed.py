"""First-run demo data: MediCore (requesting) and NatSupply (receiving), written to
`<state>/local.json` so that curl walkthroughs, the SDK and the tests can use them.

Each tenant gets an admin client and an agent with a client secret (the curl walkthrough's);
MediCore also gets `key_agent`, the agent `make demo` runs: key-only (private_key_jwt), its
ES256 private key in `<state>/medicore-key-agent.pem` (owner-only, never printed), only its
public JWK registered, no client secret anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.domain.policy import Effect, Policy
from chalicelib.domain.principal import Principal, Role
from chalicelib.private_files import write_private, write_private_bytes
from chalicelib.services.bootstrap import create_platform_client
from chalicelib.services.call import Call
from chalicelib.services.container import Container
from chalicelib.tokens.dpop import jwk_thumbprint

STATE_FILE = "local.json"
DEMO_POLICIES = (
    ("stock.write", Effect.ALLOW),
    ("requisition.submit", Effect.STEP_UP),
    ("admin.access", Effect.BLOCK),
)
KEY_AGENT_NAME = "MediCore demo agent (keys)"
KEY_AGENT_FILE = "medicore-key-agent.pem"


def state_path(container: Container) -> Path:
    return container.settings.state_dir / STATE_FILE


def load_state(container: Container) -> dict[str, Any] | None:
    path = state_path(container)
    return json.loads(path.read_text()) if path.exists() else None


def seed(container: Container, api_url: str) -> dict[str, Any]:
    """Create the platform client, both demo tenants, their admins, agents and policies."""
    platform_id, platform_secret = create_platform_client(container)
    platform = Principal(Role.PLATFORM, "operator", platform_id, None)
    call = Call(platform, "seed")
    tenants: dict[str, Any] = {}
    for key, name in (("medicore", "MediCore"), ("natsupply", "NatSupply")):
        created = container.tenants.create(call, name)
        admin = created["admin"]
        admin_principal = Principal(Role.ADMIN, admin["subject"], admin["client_id"], created["tenant_id"])
        agent = container.agents.create(Call(admin_principal, "seed"), f"{name} agent", "demo agent")
        tenants[key] = {
            "tenant_id": created["tenant_id"],
            "name": name,
            "audience": created["audience"],
            "admin": {"client_id": admin["client_id"], "client_secret": admin["client_secret"]},
            "agent": {
                "agent_id": agent["agent_id"],
                "client_id": agent["client_id"],
                "client_secret": agent["client_secret"],
            },
            "_admin_principal": admin_principal,
        }
    natsupply_admin = tenants["natsupply"].pop("_admin_principal")
    medicore_admin = tenants["medicore"].pop("_admin_principal")
    for action, effect in DEMO_POLICIES:
        container.policies.upsert(
            Call(natsupply_admin, "seed"),
            Policy(action, effect, tenants["medicore"]["tenant_id"], 3600, 300),
        )
    state = {
        "api_url": api_url,
        "issuer": container.settings.issuer,
        "platform": {"client_id": platform_id, "client_secret": platform_secret},
        "tenants": tenants,
    }
    ensure_key_agent(container, state, medicore_admin)
    write_state(container, state)
    return state


def ensure_key_agent(container: Container, state: dict[str, Any], admin: Principal | None = None) -> bool:
    """Register MediCore's key-only demo agent (`tenants.medicore.key_agent`) unless the
    state has one whose key file exists; True when it did (the caller writes the state). Also
    brings a state seeded before key-only agents existed up to date."""
    medicore = state["tenants"]["medicore"]
    known = medicore.get("key_agent")
    key_path = container.settings.state_dir / KEY_AGENT_FILE
    if isinstance(known, dict) and key_path.exists():
        return False
    private_key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key()))
    jwk = {m: public[m] for m in ("kty", "crv", "x", "y")}
    kid = jwk_thumbprint(jwk)
    # The private key first: an agent registered with a key nobody holds would be useless.
    write_private_bytes(
        key_path,
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    admin = admin or Principal(Role.ADMIN, "seed", medicore["admin"]["client_id"], medicore["tenant_id"])
    agent = container.agents.create(
        Call(admin, "seed"),
        KEY_AGENT_NAME,
        "demo agent without a secret: private_key_jwt and DPoP",
        [{**jwk, "alg": "ES256", "kid": kid}],
    )
    assert agent.get("client_secret") is None
    medicore["key_agent"] = {
        "agent_id": agent["agent_id"],
        "client_id": agent["client_id"],
        "name": KEY_AGENT_NAME,
        "auth": "private_key_jwt",
        "key_file": KEY_AGENT_FILE,  # in the state directory
        "kid": kid,
    }
    return True


def write_state(container: Container, state: dict[str, Any]) -> None:
    write_private(state_path(container), json.dumps(state, indent=2))
