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


PLATFORM_CLIENT_PREFIX = "vgc_platform_"
CLIENT_ID = re.compile(r"^vgc_(?:(?P<tenant>[0-9a-f]{20})|platform)_[0-9a-f]{24}$")


def new_client_id(tenant_id: str | None, agent_id: str | None = None) -> str:
    """A client id that names its tenant (and, for an agent, its agent), so authentication
    reads the credential directly and a decision can name the agent's items in the same
    read (no index, no second round trip). Client ids are not secrets: they are in tokens."""
    if tenant_id is None:
        return PLATFORM_CLIENT_PREFIX + secrets.token_hex(12)
    assert TENANT_ID.fullmatch(tenant_id)
    if agent_id is not None:
        assert AGENT_ID.fullmatch(agent_id)
        return f"vgc_{tenant_id[4:]}_{agent_id[4:]}{secrets.token_hex(2)}"
    return f"vgc_{tenant_id[4:]}_{secrets.token_hex(12)}"


def agent_of_client_id(client_id: str) -> str | None:
    """The agent a current-form client id would name if it is an agent's (only a hint: the
    credential read with it says whose it is)."""
    match = CLIENT_ID.fullmatch(client_id)
    if match is None or match.group("tenant") is None:
        return None
    return "agt_" + client_id.rsplit("_", 1)[1][:20]


def tenant_of_client_id(client_id: str) -> tuple[str | None] | None:
    """`(tenant_id,)` named by a client id in the current form (`(None,)`: the platform's);
    None for an id in the older form, which only the client-id index resolves."""
    match = CLIENT_ID.fullmatch(client_id)
    if match is None:
        return None
    tenant = match.group("tenant")
    return (f"tnt_{tenant}" if tenant else None,)


def new_client_secret() -> str:
    return "vgs_" + secrets.token_urlsafe(32)


AUTH_REQ_ID = re.compile(
    r"^ar_(?P<tenant>[0-9a-f]{20})_(?P<delegation>[0-9a-f]{44})_[A-Za-z0-9_-]{43}$"
)


def new_auth_req_id(receiving_tenant_id: str, delegation_id: str) -> str:
    """CIBA auth_req_id: names the receiving tenant and the delegation, so that a poll reads
    the record together with its caller's credential (one round trip), and carries 256
    random bits. URL-safe; the prefix keeps it from starting with "-", which command lines
    would take for an option. Neither name is news to the agent that gets it."""
    assert TENANT_ID.fullmatch(receiving_tenant_id) and DELEGATION_ID.fullmatch(delegation_id)
    return f"ar_{receiving_tenant_id[4:]}_{delegation_id[4:]}_{secrets.token_urlsafe(32)}"


def auth_req_target(auth_req_id: str) -> tuple[str, str] | None:
    """(receiving tenant id, delegation id) named by an auth_req_id of the current form; None
    for one of the older, purely random form (only its AUTHREQ pointer resolves it). Used
    only to name the items to read: every decision is taken on the items read."""
    match = AUTH_REQ_ID.fullmatch(auth_req_id)
    if match is None:
        return None
    return f"tnt_{match.group('tenant')}", f"dlg_{match.group('delegation')}"


# -- people ----------------------------------------------------------------------------------------

USER_ID = re.compile(r"^usr_[0-9a-f]{20}$")
_TENANT_PART = r"(?:(?P<tenant>[0-9a-f]{20})|platform)"
SESSION_SECRET = re.compile(rf"^vgsn_{_TENANT_PART}_(?P<user>[0-9a-f]{{20}})_[A-Za-z0-9_-]{{43}}$")
INVITATION_CODE = re.compile(rf"^vginv_{_TENANT_PART}_[A-Za-z0-9_-]{{43}}$")
LOGIN_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_user_id() -> str:
    return "usr_" + secrets.token_hex(10)


def _tenant_part(tenant_id: str | None) -> str:
    if tenant_id is None:
        return "platform"
    assert TENANT_ID.fullmatch(tenant_id)
    return tenant_id[4:]


def _tenant_of(match: re.Match[str]) -> str | None:
    tenant = match.group("tenant")
    return f"tnt_{tenant}" if tenant else None


def new_session_secret(tenant_id: str | None, user_id: str) -> str:
    """The session cookie's value: names the tenant and the person (so one batched read
    fetches the session with the user and tenant records) and carries 256 random bits.
    Stored only as a keyed hash."""
    assert USER_ID.fullmatch(user_id)
    return f"vgsn_{_tenant_part(tenant_id)}_{user_id[4:]}_{secrets.token_urlsafe(32)}"


def session_owner(secret: str) -> tuple[str | None, str] | None:
    """(tenant id or None for the platform, user id) named by a session secret; None if it
    is not one. Only names what to read: the session item read decides."""
    match = SESSION_SECRET.fullmatch(secret)
    if match is None:
        return None
    return _tenant_of(match), "usr_" + match.group("user")


def new_invitation_code(tenant_id: str | None) -> str:
    return f"vginv_{_tenant_part(tenant_id)}_{secrets.token_urlsafe(32)}"


def invitation_tenant(code: str) -> tuple[str | None] | None:
    """`(tenant_id,)` an invitation code names (`(None,)`: the platform's); None if malformed."""
    match = INVITATION_CODE.fullmatch(code)
    if match is None:
        return None
    return (_tenant_of(match),)


def new_login_secret() -> str:
    return secrets.token_urlsafe(32)
