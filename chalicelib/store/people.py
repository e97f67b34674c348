"""People: users, their identity bindings, invitations, sessions and sign-ins under way.

Users, invitations and sessions live in their tenant's partition (`T#platform` for the
platform's operators). Two lookups happen before a tenant is known, both in partitions of
their own keyed by a hash: the identity binding (issuer, sub) -> person, and the pre-login
record of a sign-in under way. Items are read through the request's batched read
(`chalicelib.store.keys`); this module writes them.
"""

from __future__ import annotations

from chalicelib.domain.principal import TenantScope
from chalicelib.store.db import WriteTransaction, store_errors
from chalicelib.store.keys import (
    identity_key,
    invitation_key,
    login_key,
    registration_key,
    session_key,
    user_key,
)
from chalicelib.store.models import (
    IdentityModel,
    InvitationModel,
    LoginModel,
    RegistrationModel,
    SessionModel,
    UserModel,
    tenant_pk,
)

SESSION_LABEL = "session"  # names a session's bookkeeping in a failed transaction
TTL_GRACE = 86400  # DynamoDB TTL only tidies up: every read checks expiry itself


class PeopleRepository:
    # -- users ---------------------------------------------------------------------------------
    def add_user(
        self,
        tx: WriteTransaction,
        scope: TenantScope,
        *,
        user_id: str,
        email: str,
        name: str | None,
        role: str,
        issuer: str,
        subject: str,
        invited_by: str | None,
        now: str,
        idp_organization: str | None = None,
        signing_in: bool = True,
    ) -> UserModel:
        key = user_key(scope.tenant_id, user_id)
        user = UserModel(
            pk=key.pk,
            sk=key.sk,
            user_id=user_id,
            email=email,
            name=name,
            role=role,
            issuer=issuer,
            subject=subject,
            created_at=now,
            invited_by=invited_by,
            last_sign_in_at=now if signing_in else None,
            idp_organization=idp_organization,
        )
        tx.create(user)
        return user

    def add_bound_user(
        self,
        tx: WriteTransaction,
        scope: TenantScope,
        *,
        user_id: str,
        email: str,
        name: str | None,
        role: str,
        issuer: str,
        subject: str,
        invited_by: str | None,
        now: str,
        idp_organization: str | None,
    ) -> UserModel:
        """A person joining (by invitation or by registering): their user and the binding of
        their identity to it, which fails the transaction if the identity is bound already."""
        user = self.add_user(
            tx,
            scope,
            user_id=user_id,
            email=email,
            name=name,
            role=role,
            issuer=issuer,
            subject=subject,
            invited_by=invited_by,
            now=now,
            idp_organization=idp_organization,
        )
        self.bind_identity(tx, scope, issuer=issuer, subject=subject, user_id=user_id, now=now)
        return user

    @store_errors
    def list_users(self, scope: TenantScope, limit: int = 1000) -> list[UserModel]:
        return list(
            UserModel.query(tenant_pk(scope.tenant_id), UserModel.sk.startswith("USER#"), limit=limit)
        )

    def set_role(self, tx: WriteTransaction, user: UserModel, role: str) -> None:
        tx.update(user, [UserModel.role.set(role)])

    def signed_in(self, tx: WriteTransaction, user: UserModel, now: str) -> None:
        tx.update(user, [UserModel.last_sign_in_at.set(now)], versioned=False)

    def remove_user(self, tx: WriteTransaction, user: UserModel) -> None:
        """The person and their identity binding; their sessions stop counting at once."""
        tx.delete(user, UserModel.version == user.version)
        if user.issuer and user.subject:
            key = identity_key(user.issuer, user.subject)
            tx.delete(IdentityModel(pk=key.pk, sk=key.sk), IdentityModel.user_id == user.user_id)

    # -- identity bindings -----------------------------------------------------------------------
    def bind_identity(
        self, tx: WriteTransaction, scope: TenantScope, *, issuer: str, subject: str, user_id: str, now: str
    ) -> None:
        key = identity_key(issuer, subject)
        tx.create(
            IdentityModel(
                pk=key.pk,
                sk=key.sk,
                issuer=issuer,
                subject=subject,
                tenant_id=scope.tenant_id,
                user_id=user_id,
                bound_at=now,
            )
        )

    # -- invitations -----------------------------------------------------------------------------
    def add_invitation(
        self,
        tx: WriteTransaction,
        scope: TenantScope,
        *,
        fingerprint: str,
        invitation_id: str,
        email: str,
        role: str,
        invited_by: str,
        now: str,
        expires_at: int,
    ) -> InvitationModel:
        key = invitation_key(scope.tenant_id, fingerprint)
        invitation = InvitationModel(
            pk=key.pk,
            sk=key.sk,
            invitation_id=invitation_id,
            email=email,
            role=role,
            invited_by=invited_by,
            created_at=now,
            expires_at=expires_at,
            ttl=expires_at + TTL_GRACE,
        )
        tx.create(invitation)
        return invitation

    def use_invitation(
        self, tx: WriteTransaction, invitation: InvitationModel, user_id: str, now: str
    ) -> None:
        """Mark it used; fails the transaction if someone used it meanwhile."""
        tx.update(
            invitation,
            [InvitationModel.used_at.set(now), InvitationModel.used_by.set(user_id)],
            InvitationModel.used_at.does_not_exist(),
            versioned=False,
        )

    # -- sessions --------------------------------------------------------------------------------
    def add_session(
        self,
        tx: WriteTransaction,
        scope: TenantScope,
        *,
        fingerprint: str,
        user_id: str,
        now: int,
        expires_at: int,
        auth_time: int,
    ) -> SessionModel:
        key = session_key(scope.tenant_id, fingerprint)
        session = SessionModel(
            pk=key.pk,
            sk=key.sk,
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            auth_time=auth_time,
            ttl=expires_at + TTL_GRACE,
        )
        tx.create(session)
        return session

    def touch_session(self, tx: WriteTransaction, session: SessionModel, now: int) -> None:
        tx.update(
            session,
            [SessionModel.last_seen_at.set(now)],
            SessionModel.pk.exists(),
            versioned=False,
            label=SESSION_LABEL,
        )

    def end_session(self, tx: WriteTransaction, session: SessionModel) -> None:
        tx.delete(session)

    # -- sign-ins under way ----------------------------------------------------------------------
    @store_errors
    def add_login(self, fingerprint: str, *, return_to: str, reauth: bool, expires_at: int) -> None:
        """A sign-in under way, written on its own (no tenant is known yet, and nothing
        changes hands until the callback consumes it)."""
        key = login_key(fingerprint)
        LoginModel(
            pk=key.pk,
            sk=key.sk,
            return_to=return_to,
            reauth=1 if reauth else 0,
            expires_at=expires_at,
            ttl=expires_at + TTL_GRACE,
        ).save(LoginModel.pk.does_not_exist())

    def add_registration(
        self,
        tx: WriteTransaction,
        fingerprint: str,
        *,
        issuer: str,
        subject: str,
        email: str,
        name: str | None,
        idp_organization: str | None,
        auth_time: int,
        expires_at: int,
    ) -> None:
        key = registration_key(fingerprint)
        tx.create(
            RegistrationModel(
                pk=key.pk,
                sk=key.sk,
                issuer=issuer,
                subject=subject,
                email=email,
                name=name,
                idp_organization=idp_organization,
                auth_time=auth_time,
                expires_at=expires_at,
                ttl=expires_at + TTL_GRACE,
            )
        )

    def consume_registration(self, tx: WriteTransaction, registration: RegistrationModel) -> None:
        tx.delete(registration, RegistrationModel.pk.exists())

    def consume_login(self, tx: WriteTransaction, login: LoginModel) -> None:
        """Single use: fails the transaction if another callback consumed it meanwhile."""
        tx.delete(login, LoginModel.pk.exists())
