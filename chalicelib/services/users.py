"""The people of one tenant (or of the platform): invitations, roles, removal."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from chalicelib.auth.scope import person_scope
from chalicelib.auth.secrets import SecretHasher
from chalicelib.config import Settings
from chalicelib.domain import audit, ids
from chalicelib.domain.people import INVITATION_TTL, normalise_email
from chalicelib.domain.principal import TENANT_PERSON_ROLES, Role, TenantScope
from chalicelib.errors import Conflict, Forbidden, InvalidRequest, NotFound
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit, iso
from chalicelib.store.db import Database, WriteTransaction
from chalicelib.store.keys import user_key
from chalicelib.store.models import UserModel
from chalicelib.store.people import PeopleRepository
from chalicelib.store.reads import BatchReader


def user_view(user: UserModel) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "created_at": user.created_at,
        "last_sign_in_at": user.last_sign_in_at,
    }


def invitable_roles(inviter: Role) -> frozenset[Role]:
    """A tenant's admin invites the tenant's people; the platform invites operators (and a
    tenant's first admin, when it creates the tenant)."""
    return frozenset({Role.PLATFORM}) if inviter is Role.PLATFORM else TENANT_PERSON_ROLES


class UserService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        people: PeopleRepository,
        reader: BatchReader,
        auditor: AuditService,
        hasher: SecretHasher,
    ) -> None:
        self._settings = settings
        self._db = db
        self._people = people
        self._reader = reader
        self._auditor = auditor
        self._hasher = hasher

    def invite(self, call: Call, email: str, role: Role) -> dict[str, Any]:
        assert call.principal is not None
        if role not in invitable_roles(call.principal.role):
            raise InvalidRequest(
                f"role must be one of: {', '.join(sorted(invitable_roles(call.principal.role)))}."
            )
        scope = person_scope(call.principal)
        tx = self._db.transaction()
        invitation = self.add_invitation(tx, call, scope, email, role)
        commit(tx)
        return invitation

    def add_invitation(
        self, tx: WriteTransaction, call: Call, scope: TenantScope, email: str, role: Role
    ) -> dict[str, Any]:
        """An invitation in `scope` inside `tx` (with its audit event); the one-time link is
        in the answer only, its keyed hash at rest."""
        assert call.principal is not None
        tenant_id = None if role is Role.PLATFORM else scope.tenant_id
        code = ids.new_invitation_code(tenant_id)
        invitation_id = "inv_" + secrets.token_hex(10)
        expires_at = call.epoch + INVITATION_TTL
        normalised = normalise_email(email)
        self._people.add_invitation(
            tx,
            scope,
            fingerprint=self._hasher.fingerprint(code),
            invitation_id=invitation_id,
            email=normalised,
            role=role.value,
            invited_by=call.principal.subject,
            now=call.timestamp,
            expires_at=expires_at,
        )
        self._auditor.record(
            tx,
            call,
            audit.USER_INVITED,
            (scope,),
            detail={"invitation_id": invitation_id, "role": role.value, "email": normalised},
        )
        return {
            "invitation_id": invitation_id,
            "email": normalised,
            "role": role.value,
            "expires_at": iso(expires_at),
            "invitation_url": f"{self._settings.public_url}/auth/login?{urlencode({'invitation': code})}",
        }

    def list(self, call: Call) -> dict[str, Any]:
        assert call.principal is not None
        users = self._people.list_users(person_scope(call.principal))
        return {"users": [user_view(u) for u in sorted(users, key=lambda u: (u.email, u.user_id))]}

    def set_role(self, call: Call, user_id: str, role: Role) -> dict[str, Any]:
        assert call.principal is not None
        if role not in invitable_roles(call.principal.role):
            raise InvalidRequest(
                f"role must be one of: {', '.join(sorted(invitable_roles(call.principal.role)))}."
            )
        user = self._read_user(call, user_id)
        if user.user_id == call.principal.subject:
            raise Forbidden("You cannot change your own role; ask another admin.")
        if user.role != role.value:
            scope = person_scope(call.principal)
            tx = self._db.transaction()
            self._people.set_role(tx, user, role.value)
            self._auditor.record(
                tx,
                call,
                audit.USER_ROLE_CHANGED,
                (scope,),
                detail={"user_id": user.user_id, "from": user.role, "to": role.value},
            )
            commit(tx, Conflict("The person changed meanwhile; reload and try again."))
            user.role = role.value
        return user_view(user)

    def remove(self, call: Call, user_id: str) -> dict[str, Any]:
        """Remove the person: their identity binding goes too and every session of theirs
        stops at once (a session counts only while its user exists)."""
        assert call.principal is not None
        user = self._read_user(call, user_id)
        if user.user_id == call.principal.subject:
            raise Forbidden("You cannot remove yourself; ask another admin.")
        scope = person_scope(call.principal)
        tx = self._db.transaction()
        self._people.remove_user(tx, user)
        self._auditor.record(tx, call, audit.USER_REMOVED, (scope,), detail={"user_id": user.user_id})
        commit(tx, Conflict("The person changed meanwhile; reload and try again."))
        return {**user_view(user), "removed": True}

    def _read_user(self, call: Call, user_id: str) -> UserModel:
        assert call.principal is not None
        key = (
            user_key(person_scope(call.principal).tenant_id, user_id)
            if ids.USER_ID.fullmatch(user_id)
            else None
        )
        user = call.read(self._reader, [key] if key else []).get(UserModel, key)
        if user is None:
            raise NotFound()
        return user
