"""A browser for the sign-in tests: it keeps cookies, follows VaultGuard's redirects to the
in-memory identity provider and back, and sends the CSRF header the dashboard would."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.functional import fake_idp
from tests.functional.conftest import Reply, Stack
from tests.functional.fake_idp import FakeIdp, Person

PUBLIC_URL = "http://vaultguard.test"
# Routes whose round trips test_sign_in.py counts (they need an identity provider), with their
# budgets: the callback reads the sign-in with the identity, then the person, then writes.
PEOPLE_ROUTES = {
    ("GET", "/auth/login"): 1,
    ("GET", "/auth/callback"): 3,
    ("GET", "/auth/session"): 3,
    ("POST", "/auth/logout"): 3,
    ("POST", "/users/invitations"): 3,
    ("GET", "/users"): 3,
    ("PATCH", "/users/{user_id}"): 3,
    ("DELETE", "/users/{user_id}"): 3,
    ("GET", "/auth/register"): 1,  # counted in test_self_registration.py
    ("POST", "/auth/register"): 2,
}
PEOPLE_ENV = {
    "VAULTGUARD_OIDC_ISSUER": fake_idp.ISSUER,
    "VAULTGUARD_OIDC_CLIENT_ID": fake_idp.CLIENT_ID,
    "VAULTGUARD_OIDC_CLIENT_SECRET": fake_idp.CLIENT_SECRET,
    "VAULTGUARD_PUBLIC_URL": PUBLIC_URL,
}


def header(reply: Reply, name: str) -> Any:
    return next((v for k, v in reply.headers.items() if k.lower() == name), None)


def set_cookies(reply: Reply) -> dict[str, str]:
    """name -> value of every Set-Cookie header (one header, or several joined by the client)."""
    raw = header(reply, "set-cookie") or ""
    values = raw if isinstance(raw, list) else [raw]
    out: dict[str, str] = {}
    for value in values:
        for part in value.split(", __Host-"):
            part = part if part.startswith("__Host-") else "__Host-" + part if part else part
            name, _, rest = part.partition("=")
            if name:
                out[name] = rest.split(";", 1)[0]
    return out


class Browser:
    def __init__(self, stack: Stack, idp: FakeIdp) -> None:
        self.stack = stack
        self.idp = idp
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        jar = "; ".join(f"{k}={v}" for k, v in self.cookies.items() if v)
        return {**({"cookie": jar} if jar else {}), **(extra or {})}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        csrf: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        extra = dict(headers or {})
        if method not in ("GET", "HEAD") and csrf:
            extra.setdefault("origin", PUBLIC_URL)
            if self.csrf:
                extra.setdefault("x-csrf-token", self.csrf)
        reply = self.stack.call(method, path, body=body, headers=self._headers(extra))
        self.cookies.update(set_cookies(reply))
        return reply

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def start(self, **query: str) -> tuple[Reply, str]:
        """GET /auth/login: the answer and the identity provider's URL it sends us to."""
        reply = self.get("/auth/login" + (f"?{urlencode(query)}" if query else ""))
        assert reply.status == 302, reply.body
        return reply, str(header(reply, "location"))

    def callback(self, authorize_url: str, code: str | None, **override: str) -> Reply:
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        params = {"state": query["state"], "iss": fake_idp.ISSUER, **override}
        if code:
            params.setdefault("code", code)
        params = {k: v for k, v in params.items() if v is not None}
        return self.get(f"/auth/callback?{urlencode(params)}")

    def sign_in(self, person: Person, **query: str) -> Reply:
        """The whole round trip; the callback's answer. On success the session is loaded."""
        _, authorize_url = self.start(**query)
        reply = self.callback(authorize_url, self.idp.authorize(authorize_url, person))
        if reply.status == 302:
            session = self.get("/auth/session")
            if session.status == 200:
                self.csrf = session.body["csrf_token"]
        return reply


def invite(stack: Stack, token: str, email: str, role: str) -> str:
    reply = stack.call("POST", "/users/invitations", token, {"email": email, "role": role})
    assert reply.status == 201, reply.body
    return str(parse_qs(urlsplit(reply.body["invitation_url"]).query)["invitation"][0])


def body_text(reply: Reply) -> str:
    if isinstance(reply.body, bytes):
        return reply.body.decode()
    return reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
