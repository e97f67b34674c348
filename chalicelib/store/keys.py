"""Item keys of the main table, for requests that name what they need before one batched
read (`chalicelib.store.reads`). Partitions follow `chalicelib.store.models`."""

from __future__ import annotations

import hashlib

from chalicelib.store.models import PLATFORM_PK, tenant_pk
from chalicelib.store.reads import Key

TENANT_SK = "TENANT"


def tenant_key(tenant_id: str) -> Key:
    return Key(tenant_pk(tenant_id), TENANT_SK)


def credential_key(tenant_id: str | None, client_id: str) -> Key:
    """A client's credential: in its tenant's partition (the platform's for operators)."""
    return Key(tenant_pk(tenant_id) if tenant_id else PLATFORM_PK, f"CRED#{client_id}")


def agent_key(tenant_id: str, agent_id: str) -> Key:
    return Key(tenant_pk(tenant_id), f"AGENT#{agent_id}")


def delegation_key(receiving_tenant_id: str, delegation_id: str) -> Key:
    return Key(tenant_pk(receiving_tenant_id), f"DLG#{delegation_id}")


def delegation_ref_key(requesting_tenant_id: str, delegation_id: str) -> Key:
    return Key(tenant_pk(requesting_tenant_id), f"DLGREF#{delegation_id}")


def auth_req_key(tenant_id: str, auth_req_id: str) -> Key:
    return Key(tenant_pk(tenant_id), f"AUTHREQ#{auth_req_id}")


def idempotency_item_key(tenant_id: str, agent_id: str, key: str) -> Key:
    return Key(tenant_pk(tenant_id), f"IDEM#{agent_id}#{key}")


def user_key(tenant_id: str, user_id: str) -> Key:
    """People live in their tenant's partition; the platform's operators in `T#platform`."""
    return Key(tenant_pk(tenant_id), f"USER#{user_id}")


def session_key(tenant_id: str, fingerprint: str) -> Key:
    return Key(tenant_pk(tenant_id), f"SESSION#{fingerprint}")


def invitation_key(tenant_id: str, fingerprint: str) -> Key:
    return Key(tenant_pk(tenant_id), f"INVITE#{fingerprint}")


def identity_key(issuer: str, subject: str) -> Key:
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()
    return Key(f"IDP#{digest}", "IDENTITY")


def login_key(fingerprint: str) -> Key:
    return Key(f"LOGIN#{fingerprint}", "LOGIN")


def registration_key(fingerprint: str) -> Key:
    return Key(f"REGISTER#{fingerprint}", "REGISTER")

