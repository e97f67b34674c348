"""The agent's configuration: from the environment, else `make run`'s local.json.

No token or secret lives in this package: the client id and secret are MediCore's agent
credentials from `VAULTGUARD_CLIENT_ID`/`VAULTGUARD_CLIENT_SECRET` or local.json. The calendar
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

from examples import local_state

CLIENT_ID_ENV = "VAULTGUARD_CLIENT_ID"
CLIENT_SECRET_ENV = "VAULTGUARD_CLIENT_SECRET"
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
    client_secret: str = field(repr=False)
    natsupply_tenant_id: str
    natsupply_api_url: str
    calendar_connection_id: str | None = None
    calendar_events_url: str | None = None


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
    if not all(env.get(name) for name in (CLIENT_ID_ENV, CLIENT_SECRET_ENV, NATSUPPLY_TENANT_ENV)):
        state = local_state.load_state(state_dir, env)
    agent = local_state.tenant(state, "medicore")["agent"] if state else {}
    natsupply = local_state.tenant(state, "natsupply") if state else {}
    natsupply_api = natsupply_api_url or env.get(NATSUPPLY_API_ENV) or DEFAULT_NATSUPPLY_API
    return AgentConfig(
        api_url=local_state.api_url(state, env),
        client_id=env.get(CLIENT_ID_ENV) or str(agent["client_id"]),
        client_secret=env.get(CLIENT_SECRET_ENV) or str(agent["client_secret"]),
        natsupply_tenant_id=env.get(NATSUPPLY_TENANT_ENV) or str(natsupply["tenant_id"]),
        natsupply_api_url=natsupply_api.rstrip("/"),
        calendar_connection_id=env.get(CALENDAR_CONNECTION_ENV) or None,
        calendar_events_url=env.get(CALENDAR_URL_ENV) or calendar_events_url(state),
    )
