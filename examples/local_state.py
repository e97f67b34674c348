"""Where the examples find VaultGuard and the demo credentials: the environment first, then
`local.json` in `make run`'s state directory (`VAULTGUARD_STATE_DIR`, default `.vaultguard/`).

Secrets are only ever read from there; no example carries one in its code or config."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

API_URL_ENV = "VAULTGUARD_API_URL"
STATE_DIR_ENV = "VAULTGUARD_STATE_DIR"
STATE_FILE = "local.json"
DEFAULT_API_URL = "http://127.0.0.1:8000"


class ConfigurationError(RuntimeError):
    """The examples cannot find what they need (a variable, local.json, an entry in it)."""


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(STATE_DIR_ENV) or ".vaultguard")


def load_state(directory: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The parsed `local.json` that `make run` (`python -m chalicelib.local`) writes."""
    path = (directory or state_dir(environ)) / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"{path} does not exist: start VaultGuard with `make run` first") from None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None
    if not isinstance(state, dict) or not isinstance(state.get("tenants"), dict):
        raise ConfigurationError(f"{path} is not a VaultGuard local.json (no tenants)")
    return state


def tenant(state: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """One demo tenant's entry ("medicore" or "natsupply")."""
    entry = state["tenants"].get(key)
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"local.json has no tenant {key!r}")
    return entry


def api_url(state: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> str:
    """VaultGuard's base URL (also the token issuer): `VAULTGUARD_API_URL`, else local.json."""
    env = os.environ if environ is None else environ
    url = env.get(API_URL_ENV) or (state or {}).get("api_url") or DEFAULT_API_URL
    return str(url).rstrip("/")
