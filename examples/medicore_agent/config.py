"""The agent's configuration: from the environment, else `make run`'s local.json.

No token or secret lives in this package. The agent holds no shared secret either: it signs
in with private_key_jwt, its private key in a file (`VAULTGUARD_CLIENT_KEY_FILE`, else the
key-only agent `make run` seeded: local.json's tenants.medicore.key_agent, its key file in the
state directory), and its tokens are DPoP-bound to a key it makes at start. A secret agent
still works from `VAULTGUARD_CLIENT_ID`/`VAULTGUARD_CLIENT_SECRET`. The calendar
is a vault connection id (`MEDICORE_CALENDAR_CONNECTION_ID`, not a secret: a MediCore admin
makes the connection, the demo looks its id up) and the calendar API's URL
(`MEDICORE_CALENDAR_URL`, else local-google's from local.json); the provider token itself
comes from VaultGuard at the moment of the call."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaultguard import ClientKey

from examples import local_state

CLIENT_ID_ENV = "VAULTGUARD_CLIENT_ID"
CLIENT_SECRET_ENV = "VAULTGUARD_CLIENT_SECRET"
CLIENT_KEY_FILE_ENV = "VAULTGUARD_CLIENT_KEY_FILE"
NATSUPPLY_TENANT_ENV = "NATSUPPLY_TENANT_ID"
NATSUPPLY_API_ENV = "NATSUPPLY_API_URL"
CALENDAR_CONNECTION_ENV = "MEDICORE_CALENDAR_CONNECTION_ID"
CALENDAR_URL_ENV = "MEDICORE_CALENDAR_URL"
DEFAULT_NATSUPPLY_API = "http://127.0.0.1:8100"
EVENTS_PATH = "/calendar/v3/calendars/primary/events"


@dataclass(frozen=True)
class AgentConfig:
    api_url: str
    client_id: str
    natsupply_tenant_id: str
    natsupply_api_url: str
    agent_id: str | None = None
    key_file: Path | None = None  # private_key_jwt: the agent's private key (PEM)
    client_secret: str | None = field(default=None, repr=False)  # only for a secret agent
    calendar_connection_id: str | None = None
    calendar_events_url: str | None = None

    def sign_in(self) -> dict[str, Any]:
        """The VaultGuardClient arguments that sign the agent in: its key, else its secret."""
        if self.key_file is not None:
            try:
                return {"private_key": ClientKey.load(self.key_file)}
            except (OSError, ValueError) as exc:
                raise local_state.ConfigurationError(
                    f"cannot read the agent's key {self.key_file}: {type(exc).__name__}"
                ) from None
        if self.client_secret is None:
            raise local_state.ConfigurationError(f"no key file or secret for agent {self.client_id}")
        return {"client_secret": self.client_secret}


def calendar_events_url(state: Mapping[str, Any] | None) -> str | None:
    """local-google's calendar API (`<issuer>/calendar/v3/...`), as `make run` wrote it."""
    google = ((state or {}).get("vault_providers") or {}).get("local-google") or {}
    issuer = google.get("issuer") if isinstance(google, Mapping) else None
    return f"{str(issuer).rstrip('/')}{EVENTS_PATH}" if issuer else None


def load_config(
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
    natsupply_api_url: str | None = None,
) -> AgentConfig:
    env = os.environ if environ is None else environ
    state: dict[str, Any] | None = None
    credential = env.get(CLIENT_KEY_FILE_ENV) or env.get(CLIENT_SECRET_ENV)
    if not (credential and env.get(CLIENT_ID_ENV) and env.get(NATSUPPLY_TENANT_ENV)):
        state = local_state.load_state(state_dir, env)
    natsupply = local_state.tenant(state, "natsupply") if state else {}
    natsupply_api = natsupply_api_url or env.get(NATSUPPLY_API_ENV) or DEFAULT_NATSUPPLY_API
    if env.get(CLIENT_ID_ENV):
        key_file = env.get(CLIENT_KEY_FILE_ENV)
        signs_in: dict[str, Any] = {
            "client_id": env[CLIENT_ID_ENV],
            "key_file": Path(key_file) if key_file else None,
            "client_secret": None if key_file else env.get(CLIENT_SECRET_ENV),
        }
    else:
        agent = key_agent(state)
        directory = state_dir or local_state.state_dir(env)
        signs_in = {
            "client_id": str(agent["client_id"]),
            "agent_id": str(agent["agent_id"]),
            "key_file": directory / str(agent["key_file"]),
        }
    return AgentConfig(
        api_url=local_state.api_url(state, env),
        **signs_in,
        natsupply_tenant_id=env.get(NATSUPPLY_TENANT_ENV) or str(natsupply["tenant_id"]),
        natsupply_api_url=natsupply_api.rstrip("/"),
        calendar_connection_id=env.get(CALENDAR_CONNECTION_ENV) or None,
        calendar_events_url=env.get(CALENDAR_URL_ENV) or calendar_events_url(state),
    )


def key_agent(state: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """MediCore's key-only agent in local.json (what `make demo` runs)."""
    agent = local_state.tenant(state or {"tenants": {}}, "medicore").get("key_agent")
    if not isinstance(agent, Mapping):
        raise local_state.ConfigurationError(
            "local.json has no key-only MediCore agent (tenants.medicore.key_agent): restart `make run`, "
            "which adds it"
        )
    return agent
