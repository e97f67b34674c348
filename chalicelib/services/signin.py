"""People sign in through the OIDC identity provider (backend-for-frontend).

`begin` records a sign-in under way (single use, 10 minutes) and sends the browser to the
IdP with PKCE S256, `state` and `nonce`, all three derived from a random pre-login secret that
only the browser's HttpOnly pre-login cookie holds: the callback proves it is the same browser
by deriving them again, and nothing secret is stored. `finish` checks the callback, exchanges
the code, validates the ID token and maps (issuer, sub) to a person, or binds an invited
person at their first sign-in, then starts a session. Round trips after the IdP answers: the
sign-in record with the identity binding (and the invitation), the person with their tenant,
one transaction (sign-in consumed, session, audit event).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from chalicelib.auth.scope import PLATFORM_PEOPLE_TENANT, people_partition, person_scope
from chalicelib.auth.secrets import SecretHasher
from chalicelib.auth.session import (
    LOGIN_COOKIE,
    SESSION_CLIENT_ID,
    SESSION_COOKIE,
    SessionClaim,
    clear_cookie,
    set_cookie,
)
from chalicelib.config import Settings
from chalicelib.crypto.base import b64encode
from chalicelib.domain import audit, ids
from chalicelib.domain.people import normalise_email, safe_return_to
from chalicelib.domain.principal import PERSON_ROLE_VALUES, Principal, Role, TenantScope
from chalicelib.errors import InvalidRequest, SignInUnavailable, VaultGuardError
from chalicelib.observability import logger
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit
from chalicelib.services.ratelimit import take_deferred_writes
from chalicelib.store.db import Database, WriteTransaction
from chalicelib.store.keys import (
    identity_key,
    invitation_key,
    login_key,
    registration_key,
    tenant_key,
    user_key,
)
from chalicelib.store.models import (
    IdentityModel,
    InvitationModel,
    LoginModel,
    RegistrationModel,
    TenantModel,
    UserModel,
)
from chalicelib.store.people import PeopleRepository
from chalicelib.store.reads import BatchReader, Key

if TYPE_CHECKING:
    from chalicelib.auth.oidc import IdentityClaims, OidcClient
    from chalicelib.services.tenants import TenantService

LOGIN_TTL = 600
REGISTER_PATH = "/auth/register"
REGISTER_COOKIE = "__Host-vg_register"
REAUTH_WINDOW = 600  # a sign-in asked to re-authenticate must carry an auth_time this recent
CALLBACK_PATH = "/auth/callback"


class SignInFailed(VaultGuardError):
    """A sign-in that cannot complete: shown to the person as a page, never as a session."""

    error = "sign_in_failed"
    status_code = 400
    description = "The sign-in could not be completed."


class ProviderDown(SignInFailed):
    status_code = 503
    error = "temporarily_unavailable"
    description = "The identity provider could not be reached. Try again in a minute."


class NotInvited(SignInFailed):
    status_code = 403
    error = "not_invited"
    description = (
        "You signed in, but no VaultGuard account belongs to this identity. Ask an administrator "
        "of your organisation for an invitation, then open the link it contains."
    )


@dataclass(frozen=True)
class Redirect:
    location: str
    cookies: tuple[str, ...]


def _derive(secret: str, purpose: str) -> str:
    return b64encode(hashlib.sha256(f"vaultguard-login|{purpose}|{secret}".encode()).digest())


def _split_login_cookie(value: str | None) -> tuple[str, str | None] | None:
    """`<login secret>` or `<login secret>.<invitation code>`."""
    if not value:
        return None
    secret, _, invitation = value.partition(".")
    if not ids.LOGIN_SECRET.fullmatch(secret) or (invitation and ids.invitation_tenant(invitation) is None):
        return None
    return secret, invitation or None


class SignInService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        people: PeopleRepository,
        reader: BatchReader,
        auditor: AuditService,
        hasher: SecretHasher,
        oidc: Callable[[], OidcClient],
    ) -> None:
        self._settings = settings
        self._db = db
        self._people = people
        self._reader = reader
        self._auditor = auditor
        self._hasher = hasher
        self._oidc = oidc

    @property
    def redirect_uri(self) -> str:
        return self._settings.public_url + CALLBACK_PATH

    def _client(self) -> OidcClient:
        if not self._settings.sign_in_enabled:
            raise SignInUnavailable()
        return self._oidc()

    # -- the way out -----------------------------------------------------------------------------
    def begin(self, *, return_to: str | None, invitation: str | None, reauth: bool, now: int) -> Redirect:
        from chalicelib.auth.oidc import pkce_challenge

        client = self._client()
        target = safe_return_to(return_to)
        if invitation is not None and ids.invitation_tenant(invitation) is None:
            raise InvalidRequest("The invitation link is malformed; ask for a new one.")
        secret = ids.new_login_secret()
        self._people.add_login(
            self._hasher.fingerprint(secret), return_to=target, reauth=reauth, expires_at=now + LOGIN_TTL
        )
        url = client.authorization_url(
            redirect_uri=self.redirect_uri,
            state=_derive(secret, "state"),
            nonce=_derive(secret, "nonce"),
            code_challenge=pkce_challenge(_derive(secret, "pkce")),
            prompt="login" if reauth else None,
            max_age=0 if reauth else None,
        )
        cookie = secret if invitation is None else f"{secret}.{invitation}"
        return Redirect(url, (set_cookie(LOGIN_COOKIE, cookie, LOGIN_TTL),))

    def login_url(self, return_to: str, *, reauth: bool = False) -> str:
        query = {"return_to": safe_return_to(return_to), **({"reauth": "1"} if reauth else {})}
        return f"{self._settings.public_url}/auth/login?{urlencode(query)}"

    def sign_out(self, call: Call, claim: SessionClaim) -> str | None:
        """End the session server-side (with its audit event); the IdP's end-session URL
        when it has one, so the person can end the IdP's session too."""
        assert call.principal is not None and claim.session is not None
        take_deferred_writes()  # the session's activity bookkeeping: it is being deleted
        scope = person_scope(call.principal)
        tx = self._db.transaction()
        self._people.end_session(tx, claim.session)
        self._auditor.record(
            tx, call, audit.SESSION_ENDED, (scope,), detail={"user_id": call.principal.subject}
        )
        commit(tx)
        if not self._settings.sign_in_enabled:
            return None
        try:
            return self._oidc().end_session_url(
                id_token_hint=None, post_logout_redirect_uri=self._settings.public_url + "/"
            )
        except Exception as exc:  # noqa: BLE001 - the session is over either way
            logger.warning("no end-session URL", extra={"detail": str(exc)})
            return None

    # -- the way back ----------------------------------------------------------------------------
    def finish(
        self,
        *,
        login_cookie: str | None,
        state: str | None,
        code: str | None,
        iss: str | None,
        error: str | None,
        request_id: str,
        now: float,
    ) -> Redirect:
        parsed = _split_login_cookie(login_cookie)
        if parsed is None or not state:
            raise SignInFailed("This sign-in expired or was started in another browser. Start again.")
        secret, invitation = parsed
        if not hmac.compare_digest(state.encode(), _derive(secret, "state").encode()):
            raise SignInFailed("This sign-in was started in another browser. Start again.")
        if error or not code:
            raise SignInFailed("The identity provider did not sign you in.")
        client = self._client()
        claims = self._verified_identity(client, secret, code, iss)
        login_k = login_key(self._hasher.fingerprint(secret))
        identity_k = identity_key(claims.issuer, claims.subject)
        keys: list[Key] = [login_k, identity_k]
        invite_k: Key | None = None
        invite_tenant: str | None = None
        if invitation is not None:
            (invite_tenant,) = ids.invitation_tenant(invitation) or (None,)
            invite_k = invitation_key(people_partition(invite_tenant), self._hasher.fingerprint(invitation))
            keys += [invite_k] + ([tenant_key(invite_tenant)] if invite_tenant else [])
        first = self._reader.read(keys)
        login = first.get(LoginModel, login_k)
        if login is None or now >= int(login.expires_at):
            raise SignInFailed("This sign-in expired or was already used. Start again.")
        if login.reauth and now - int(claims.auth_time or 0) > REAUTH_WINDOW:
            raise SignInFailed("The identity provider did not ask you to sign in again. Start again.")
        identity = first.get(IdentityModel, identity_k)
        if identity is not None:
            principal, user, tenant = self._bound_person(identity)
            if user.idp_organization is not None and claims.tenant_hint != user.idp_organization:
                raise SignInFailed(
                    "Your organisation at the identity provider is not the one you joined with; "
                    "ask an administrator."
                )
            return self._start_session(login, principal, user, claims, request_id, now, joined=None)
        invited = first.get(InvitationModel, invite_k)
        if invite_k is None and self._settings.self_signup:
            return self._start_registration(login, claims, now)
        if invite_k is None or invited is None:
            raise NotInvited()
        tenant = first.get(TenantModel, tenant_key(invite_tenant)) if invite_tenant else None
        self._check_invitation(invited, claims, invite_tenant, tenant, now)
        principal = Principal(
            role=Role(invited.role),
            subject=ids.new_user_id(),
            client_id=SESSION_CLIENT_ID,
            tenant_id=invite_tenant,
        )
        return self._start_session(login, principal, None, claims, request_id, now, joined=invited)

    # -- self-registration (VAULTGUARD_SELF_SIGNUP) ------------------------------------------------
    def _start_registration(self, login: LoginModel, claims: IdentityClaims, now: float) -> Redirect:
        """A verified person with no account may create an organisation: remember who they are
        (single use, 10 minutes, bound to an HttpOnly cookie) and ask for its name."""
        if not claims.email_verified or claims.email is None:
            raise SignInFailed("Your identity provider has not verified your email address.")
        secret = ids.new_login_secret()
        tx = self._db.transaction()
        self._people.consume_login(tx, login)
        self._people.add_registration(
            tx,
            self._hasher.fingerprint(secret),
            issuer=claims.issuer,
            subject=claims.subject,
            email=normalise_email(claims.email),
            name=claims.name,
            idp_organization=claims.tenant_hint,
            auth_time=int(claims.auth_time or now),
            expires_at=int(now) + LOGIN_TTL,
        )
        commit(tx, SignInFailed("This sign-in was already used. Start again."))
        cookies = (set_cookie(REGISTER_COOKIE, secret, LOGIN_TTL), clear_cookie(LOGIN_COOKIE))
        return Redirect(self._settings.public_url + REGISTER_PATH, cookies)

    def pending_registration(self, cookie: str | None, now: float) -> RegistrationModel | None:
        if not self._settings.self_signup or not cookie or not ids.LOGIN_SECRET.fullmatch(cookie):
            return None
        key = registration_key(self._hasher.fingerprint(cookie))
        registration = self._reader.read([key]).get(RegistrationModel, key)
        if registration is None or now >= int(registration.expires_at):
            return None
        return registration

    def register(
        self, *, cookie: str | None, organisation: str, request_id: str, now: float, tenants: TenantService
    ) -> Redirect:
        """Create the organisation with the person as its first admin, bound and signed in,
        in the tenant's own transaction: all of it exists, or none."""
        registration = self.pending_registration(cookie, now)
        if registration is None:
            raise SignInFailed("This registration expired or was already used. Sign in again.")
        user_id = ids.new_user_id()
        session_secret: list[str] = []

        def people_of_the_new_tenant(tx: WriteTransaction, scope: TenantScope) -> None:
            principal = Principal(Role.ADMIN, user_id, SESSION_CLIENT_ID, scope.tenant_id)
            call = Call(principal, request_id, now)
            own = person_scope(principal)
            self._people.consume_registration(tx, registration)
            self._people.add_bound_user(
                tx,
                own,
                user_id=user_id,
                email=registration.email,
                name=registration.name,
                role=Role.ADMIN.value,
                issuer=registration.issuer,
                subject=registration.subject,
                invited_by=None,
                now=call.timestamp,
                idp_organization=registration.idp_organization,
            )
            secret = ids.new_session_secret(scope.tenant_id, user_id)
            session_secret.append(secret)
            self._people.add_session(
                tx,
                own,
                fingerprint=self._hasher.fingerprint(secret),
                user_id=user_id,
                now=int(now),
                expires_at=int(now) + self._settings.session_max_seconds,
                auth_time=int(registration.auth_time),
            )
            detail = {"user_id": user_id, "role": Role.ADMIN.value, "self_registered": True}
            self._auditor.record(tx, call, audit.USER_JOINED, (own,), detail=detail)
            self._auditor.record(tx, call, audit.SESSION_STARTED, (own,), detail={"user_id": user_id})

        registrar = Call(Principal(Role.ADMIN, user_id, SESSION_CLIENT_ID, None), request_id, now)
        tenants.create(
            registrar,
            organisation,
            also=people_of_the_new_tenant,
            conflict=SignInFailed(
                "This registration was already used, or you have an account. Sign in again."
            ),
        )
        cookies = (
            set_cookie(SESSION_COOKIE, session_secret[0], self._settings.session_max_seconds),
            clear_cookie(REGISTER_COOKIE),
        )
        return Redirect(self._settings.public_url + "/dashboard/", cookies)

    def _verified_identity(
        self, client: OidcClient, secret: str, code: str, iss: str | None
    ) -> IdentityClaims:
        from chalicelib.auth.oidc import ProviderUnavailable, SignInRejected

        try:
            client.check_response_issuer(iss)
            return client.sign_in(
                code=code,
                redirect_uri=self.redirect_uri,
                code_verifier=_derive(secret, "pkce"),
                nonce=_derive(secret, "nonce"),
            )
        except ProviderUnavailable as exc:
            logger.warning("identity provider unavailable", extra={"reason": exc.reason})
            raise ProviderDown() from None
        except SignInRejected as exc:
            logger.warning("sign-in rejected", extra={"reason": exc.reason})
            raise SignInFailed("The identity provider's answer could not be verified. Start again.") from None

    def _bound_person(self, identity: IdentityModel) -> tuple[Principal, UserModel, TenantModel | None]:
        # An operator's binding names the operators' partition, which is no tenant.
        tenant_id = None if identity.tenant_id == PLATFORM_PEOPLE_TENANT else identity.tenant_id
        partition = people_partition(tenant_id)
        user_k = user_key(partition, identity.user_id)
        tenant_k = tenant_key(tenant_id) if tenant_id else None
        snapshot = self._reader.read([user_k] + ([tenant_k] if tenant_k else []))
        user = snapshot.get(UserModel, user_k)
        tenant = snapshot.get(TenantModel, tenant_k)
        if user is None or user.role not in PERSON_ROLE_VALUES:
            raise NotInvited()
        if tenant_k is not None and (tenant is None or tenant.status != "ACTIVE"):
            raise SignInFailed("Your organisation's access to VaultGuard is disabled.")
        principal = Principal(
            role=Role(user.role),
            subject=user.user_id,
            client_id=SESSION_CLIENT_ID,
            tenant_id=tenant_id,
        )
        return principal, user, tenant

    def _check_invitation(
        self,
        invited: InvitationModel,
        claims: IdentityClaims,
        tenant_id: str | None,
        tenant: TenantModel | None,
        now: float,
    ) -> None:
        if invited.used_at is not None or now >= int(invited.expires_at):
            raise SignInFailed("This invitation has expired or was already used. Ask for a new one.")
        if not claims.email_verified or claims.email is None:
            raise SignInFailed("Your identity provider has not verified your email address.")
        if normalise_email(claims.email) != invited.email:
            raise SignInFailed("This invitation was sent to another email address.")
        if tenant_id is not None and (tenant is None or tenant.status != "ACTIVE"):
            raise SignInFailed("This organisation's access to VaultGuard is disabled.")

    def _start_session(
        self,
        login: LoginModel,
        principal: Principal,
        user: UserModel | None,
        claims: IdentityClaims,
        request_id: str,
        now: float,
        *,
        joined: InvitationModel | None,
    ) -> Redirect:
        call = Call(principal, request_id, now)
        scope = person_scope(principal)
        secret = ids.new_session_secret(principal.tenant_id, principal.subject)
        epoch = int(now)
        tx = self._db.transaction()
        self._people.consume_login(tx, login)
        if joined is not None:
            email = normalise_email(claims.email or "")
            self._people.add_bound_user(
                tx,
                scope,
                user_id=principal.subject,
                email=email,
                name=claims.name,
                role=principal.role.value,
                issuer=claims.issuer,
                subject=claims.subject,
                invited_by=joined.invited_by,
                now=call.timestamp,
                idp_organization=claims.tenant_hint,
            )
            self._people.use_invitation(tx, joined, principal.subject, call.timestamp)
            self._auditor.record(
                tx,
                call,
                audit.USER_JOINED,
                (scope,),
                detail={
                    "user_id": principal.subject,
                    "role": principal.role.value,
                    "invitation_id": joined.invitation_id,
                },
            )
        elif user is not None:
            self._people.signed_in(tx, user, call.timestamp)
        self._people.add_session(
            tx,
            scope,
            fingerprint=self._hasher.fingerprint(secret),
            user_id=principal.subject,
            now=epoch,
            expires_at=epoch + self._settings.session_max_seconds,
            auth_time=int(claims.auth_time or epoch),
        )
        self._auditor.record(tx, call, audit.SESSION_STARTED, (scope,), detail={"user_id": principal.subject})
        commit(tx, SignInFailed("This sign-in was already used, or the invitation meanwhile. Start again."))
        cookies = (
            set_cookie(SESSION_COOKIE, secret, self._settings.session_max_seconds),
            clear_cookie(LOGIN_COOKIE),
        )
        return Redirect(self._settings.public_url + login.return_to, cookies)
