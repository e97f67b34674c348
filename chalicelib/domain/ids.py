"""Identifier and secret generation (CSPRNG only)."""

from __future__ import annotations

import re
import secrets

TENANT_ID = re.compile(r"^tnt_[0-9a-f]{20}$")
AGENT_ID = re.compile(r"^agt_[0-9a-f]{20}$")
DELEGATION_ID = re.compile(r"^dlg_[0-9a-f]{44}$")


def new_tenant_id() -> str:
    return "tnt_" + secrets.token_hex(10)


def new_agent_id() -> str:
    return "agt_" + secrets.token_hex(10)


def new_admin_id() -> str:
    return "adm_" + secrets.token_hex(10)


def new_delegation_id(now_ms: int) -> str:
    """A millisecond timestamp (so listings sort by creation) and 128 random bits.

    Also the `jti` of the delegation token.
    """
    return f"dlg_{now_ms:012x}{secrets.token_hex(16)}"


def new_client_id() -> str:
    return "vgc_" + secrets.token_hex(12)


def new_client_secret() -> str:
    return "vgs_" + secrets.token_urlsafe(32)


def new_auth_req_id() -> str:
    """CIBA auth_req_id: 256 random bits, URL-safe; the prefix keeps it from starting with
    "-", which command lines would take for an option."""
    return "ar_" + secrets.token_urlsafe(32)
