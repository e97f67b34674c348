"""First-run demo data: MediCore (requesting) and NatSupply (receiving), written to
`<state>/local.json` so that curl walkthroughs, the SDK and the tests can use them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.domain.policy import Effect, Policy
from chalicelib.domain.principal import Principal, Role
from chalicelib.private_files import write_private
from chalicelib.services.bootstrap import create_platform_client
from chalicelib.services.call import Call
from chalicelib.services.container import Container

STATE_FILE = "local.json"
DEMO_POLICIES = (
    ("stock.write", Effect.ALLOW),
    ("requisition.submit", Effect.STEP_UP),
    ("admin.access", Effect.BLOCK),
)


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
    tenants["medicore"].pop("_admin_principal")
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
    write_state(container, state)
    return state


def write_state(container: Container, state: dict[str, Any]) -> None:
    write_private(state_path(container), json.dumps(state, indent=2))
