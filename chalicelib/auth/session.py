"""People's sessions: the `__Host-vg_session` cookie, its claim and the CSRF check.

The cookie's value names the tenant and the person (`chalicelib.domain.ids`), so the request's
one batched read fetches the session, the user and the tenant together, exactly like a bearer
token's credential. The session is stored only as a keyed hash of that value. The CSRF token
is derived from the session secret under the server's key: nothing to store, nothing a
script can compute without the HttpOnly cookie.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from chalicelib.auth.scope import people_partition
from chalicelib.auth.secrets import SecretHasher
from chalicelib.config import Settings
from chalicelib.domain import ids
from chalicelib.domain.principal import PERSON_ROLE_VALUES, Principal, Role
from chalicelib.errors import CsrfFailed, NotSignedIn
from chalicelib.store.keys import session_key, tenant_key, user_key
from chalicelib.store.models import SessionModel, TenantModel, UserModel
from chalicelib.store.reads import Key, Snapshot

SESSION_COOKIE = "__Host-vg_session"
LOGIN_COOKIE = "__Host-vg_login"
CSRF_HEADER = "x-csrf-token"
SESSION_CLIENT_ID = "session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOUCH_AFTER = 60  # seconds: how stale `last_seen_at` may get before a request refreshes it


def cookie_value(headers: Mapping[str, str], name: str) -> str | None:
    """The first cookie called `name` (tolerant of malformed neighbours, unlike SimpleCookie)."""
    for part in (headers.get("cookie") or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"') or None
    return None


def set_cookie(name: str, value: str, max_age: int) -> str:
    """`__Host-` cookies: Secure, Path=/, no Domain (browsers treat http://127.0.0.1 as a
    secure context, so this works under `make run` too)."""
    return f"{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}"


def clear_cookie(name: str) -> str:
    return set_cookie(name, "", 0)



@dataclass
class SessionClaim:
    """A session cookie; confirmed by the request's batched read."""

    secret: str
    tenant_id: str | None
    user_id: str
    session_key: Key
    user_key: Key
    tenant_key: Key | None
    now: int
    idle_seconds: int
    session: SessionModel | None = field(default=None, repr=False)
    user: UserModel | None = field(default=None, repr=False)
    tenant: TenantModel | None = field(default=None, repr=False)

    def keys(self) -> list[Key]:
        return [self.session_key, self.user_key] + ([self.tenant_key] if self.tenant_key else [])

    def confirm(self, snapshot: Snapshot) -> Principal:
        session = snapshot.get(SessionModel, self.session_key)
        user = snapshot.get(UserModel, self.user_key)
        tenant = snapshot.get(TenantModel, self.tenant_key)
        if (
            session is None
            or user is None
            or session.user_id != self.user_id
            or self.now >= int(session.expires_at)
            or self.now - int(session.last_seen_at) >= self.idle_seconds
            or user.role not in PERSON_ROLE_VALUES
            or (user.role == Role.PLATFORM.value) != (self.tenant_id is None)
            or (self.tenant_key is not None and (tenant is None or tenant.status != "ACTIVE"))
        ):
            raise NotSignedIn()
        self.session, self.user, self.tenant = session, user, tenant
        return Principal(
            role=Role(user.role), subject=user.user_id, client_id=SESSION_CLIENT_ID, tenant_id=self.tenant_id
        )

    @property
    def needs_touch(self) -> bool:
        return self.session is not None and self.now - int(self.session.last_seen_at) >= TOUCH_AFTER

    @property
    def expires_at(self) -> int:
        """When the session ends unless used again (idle), or at the latest (absolute)."""
        assert self.session is not None
        last_seen = self.now if self.needs_touch else int(self.session.last_seen_at)
        return min(int(self.session.expires_at), last_seen + self.idle_seconds)


class SessionAuthenticator:
    def __init__(self, settings: Settings, hasher: SecretHasher) -> None:
        self._settings = settings
        self._hasher = hasher

    def claim(self, secret: str | None, now: int) -> SessionClaim:
        owner = ids.session_owner(secret or "")
        if secret is None or owner is None:
            raise NotSignedIn()
        tenant_id, user_id = owner
        partition = people_partition(tenant_id)
        return SessionClaim(
            secret=secret,
            tenant_id=tenant_id,
            user_id=user_id,
            session_key=session_key(partition, self._hasher.fingerprint(secret)),
            user_key=user_key(partition, user_id),
            tenant_key=tenant_key(tenant_id) if tenant_id else None,
            now=now,
            idle_seconds=self._settings.session_idle_seconds,
        )

    def csrf_token(self, secret: str) -> str:
        return self._hasher.fingerprint(f"csrf|{secret}")

    def check_csrf(self, method: str, headers: Mapping[str, str], secret: str) -> None:
        """State-changing requests by cookie must carry the session's CSRF token and the
        deployment's own `Origin` or one of the CORS allowlist's (browsers send it with every
        non-GET fetch)."""
        if method.upper() in SAFE_METHODS:
            return
        presented = headers.get(CSRF_HEADER) or ""
        if not hmac.compare_digest(presented.encode(), self.csrf_token(secret).encode()):
            raise CsrfFailed()
        origin = headers.get("origin")
        if origin != origin_of(self._settings.public_url) and origin not in self._settings.cors_origins:
            raise CsrfFailed()


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
