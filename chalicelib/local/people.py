"""The demo people of `make run`: accounts at the local identity provider, and the VaultGuard
users bound to them (as if each had accepted an invitation).

`<state>/people.json` (owner-only) keeps VaultGuard's client at the provider and each person's
email, password, subject and user id, so restarts (and another port) find the same people.
The people are also listed in `local.json` under "users" for scripts and tests.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from chalicelib.auth.scope import person_scope
from chalicelib.domain import audit, ids
from chalicelib.domain.principal import Principal, Role
from chalicelib.private_files import write_private
from chalicelib.services.call import Call, commit
from chalicelib.services.container import Container
from chalicelib.store.keys import identity_key, user_key
from chalicelib.store.models import IdentityModel, UserModel

PEOPLE_FILE = "people.json"
CLIENT_ID = "vaultguard-local"
# key, tenant key in local.json (None: the platform), role, name, email
DEMO_PEOPLE = (
    ("natsupply_admin", "natsupply", Role.ADMIN, "Nadia Admin", "admin@natsupply.example"),
    ("natsupply_approver", "natsupply", Role.APPROVER, "Ana Approver", "approver@natsupply.example"),
    ("natsupply_auditor", "natsupply", Role.AUDITOR, "Aude Auditor", "auditor@natsupply.example"),
    ("medicore_admin", "medicore", Role.ADMIN, "Marc Admin", "admin@medicore.example"),
    ("platform", None, Role.PLATFORM, "Paula Operator", "operator@vaultguard.example"),
)


def load_or_create(state_dir: Path) -> dict[str, Any]:
    """The people file, created with fresh passwords and a fresh client secret on first use."""
    path = state_dir / PEOPLE_FILE
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    data = {
        "client": {"client_id": CLIENT_ID, "client_secret": secrets.token_urlsafe(32)},
        "people": {
            key: {
                "email": email,
                "password": secrets.token_urlsafe(12),
                "name": name,
                "sub": f"local|{key}",
                "user_id": ids.new_user_id(),
                "tenant": tenant,
                "role": role.value,
            }
            for key, tenant, role, name, email in DEMO_PEOPLE
        },
    }
    write_private(path, json.dumps(data, indent=2))
    return data


def provider_clients(data: dict[str, Any], api_url: str) -> list[dict[str, Any]]:
    client = data["client"]
    return [
        {
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "client_name": "VaultGuard (make run)",
            "redirect_uris": [f"{api_url}/auth/callback"],
            "post_logout_redirect_uris": [f"{api_url}/"],
        }
    ]


def provider_users(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"email": p["email"], "password": p["password"], "name": p["name"], "sub": p["sub"]}
        for p in data["people"].values()
    ]


def ensure_bound(container: Container, state: dict[str, Any], data: dict[str, Any], issuer: str) -> int:
    """Create each demo person's user and identity binding that does not exist yet (first run,
    or an identity provider at another address); the number created."""
    created = 0
    for person in data["people"].values():
        tenant_key_name = person["tenant"]
        tenant_id = state["tenants"][tenant_key_name]["tenant_id"] if tenant_key_name else None
        principal = Principal(Role(person["role"]), person["user_id"], "session", tenant_id)
        scope = person_scope(principal)
        user_k, identity_k = user_key(scope.tenant_id, person["user_id"]), identity_key(issuer, person["sub"])
        found = container.batch_reader.read([user_k, identity_k])
        if found.get(UserModel, user_k) is not None and found.get(IdentityModel, identity_k) is not None:
            continue
        call = Call(principal, "seed")
        tx = container.db.transaction()
        people = container.people_repo
        if found.get(UserModel, user_k) is None:
            people.add_user(
                tx,
                scope,
                user_id=person["user_id"],
                email=person["email"],
                name=person["name"],
                role=person["role"],
                issuer=issuer,
                subject=person["sub"],
                invited_by=None,
                now=call.timestamp,
                signing_in=False,  # seeded: nobody has signed in yet
            )
            container.auditor.record(
                tx,
                call,
                audit.USER_JOINED,
                (scope,),
                detail={"user_id": person["user_id"], "role": person["role"]},
            )
        if found.get(IdentityModel, identity_k) is None:
            people.bind_identity(
                tx, scope, issuer=issuer, subject=person["sub"], user_id=person["user_id"], now=call.timestamp
            )
        commit(tx)
        created += 1
    return created


def state_users(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What local.json lists under "users"."""
    return {
        key: {"email": p["email"], "password": p["password"], "tenant": p["tenant"], "role": p["role"]}
        for key, p in data["people"].items()
    }
