"""The demo's operator step for the calendar task: MediCore's calendar connection in the vault.

The agent cannot list its tenant's connections, so the demo looks one up with MediCore's admin
client (from local.json) and hands the agent its id as configuration (a connection id is not
a secret). When there is none, the demo's scripted MediCore admin makes one through the real
flow, as the dashboard's Connect does: signed in to VaultGuard with a session, POST
/vault/connect, then the browser at local-google (its sign-in form, its consent page) and back
through /vault/callback. With `--interactive` it tells a human how and waits instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

PROVIDER = "local-google"
CALENDAR_SCOPE = "calendar.readonly"
USABLE = ("active", "refresh_failing")  # the vault still serves tokens for these
CONNECTIONS_PAGE = "/dashboard/connections"
HTTP_TIMEOUT = 30.0

Say = Callable[[str, str], None]


class ConnectError(RuntimeError):
    """The scripted admin could not finish connecting (a page it did not expect, an error)."""


def _allows(connection: Mapping[str, Any], agent_id: str) -> bool:
    scopes = connection.get("allowed_scopes") or connection.get("granted_scopes") or []
    return (
        connection.get("provider") == PROVIDER
        and agent_id in (connection.get("agent_ids") or [])
        and CALENDAR_SCOPE in scopes
    )


class MediCoreAdmin:
    """MediCore's admin client (client credentials from local.json): reads the connections."""

    def __init__(self, api_url: str, credentials: tuple[str, str]) -> None:
        self._http = httpx.Client(base_url=api_url, timeout=HTTP_TIMEOUT, trust_env=False)
        self._credentials = credentials
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def connections(self) -> list[dict[str, Any]]:
        if self._token is None:
            reply = self._http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=self._credentials
            )
            reply.raise_for_status()
            self._token = str(reply.json()["access_token"])
        reply = self._http.get("/vault/connections", headers={"Authorization": f"Bearer {self._token}"})
        reply.raise_for_status()
        return list(reply.json().get("connections") or [])

    def calendar_connections(self, agent_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """(the newest usable local-google connection allowing the agent calendar.readonly,
        those that would but need an admin to reconnect them)."""
        mine = sorted(
            (c for c in self.connections() if _allows(c, agent_id)),
            key=lambda c: str(c.get("created_at") or ""),
            reverse=True,
        )
        usable = next((c for c in mine if c.get("status") in USABLE), None)
        return usable, [c for c in mine if c.get("status") == "needs_reauth"]

    def wait_for_calendar(
        self, agent_id: str, timeout: float, interval: float = 2.0
    ) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            found, _ = self.calendar_connections(agent_id)
            if found is not None or time.monotonic() >= deadline:
                return found
            time.sleep(interval)


@dataclass
class _Form:
    action: str
    inputs: dict[str, str] = field(default_factory=dict)
    buttons: list[str] = field(default_factory=list)


class _Page(HTMLParser):
    """The forms of a page, their buttons, and the labels of its inputs (by `for`)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self.labels: dict[str, str] = {}  # input id -> label text
        self.names: dict[str, str] = {}  # input id -> input name
        self._form: _Form | None = None
        self._text: tuple[str, str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = _Form(a.get("action", ""))
            self.forms.append(self._form)
        elif tag == "input":
            if self._form is not None and "name" in a:
                self._form.inputs[a["name"]] = a.get("value", "")
            if "id" in a:
                self.names[a["id"]] = a.get("name", "")
        elif tag == "label":
            self._text = ("label", a.get("for", ""))
        elif tag == "button" and self._form is not None:
            self._text = ("button", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        if tag in ("label", "button"):
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is None or not data.strip():
            return
        kind, target = self._text
        if kind == "label":
            self.labels[target] = data.strip()
        elif self._form is not None:
            self._form.buttons.append(data.strip())

    def form_with_button(self, name: str) -> _Form | None:
        return next((f for f in self.forms if name in f.buttons), None)

    def field_labelled(self, label: str) -> str | None:
        input_id = next((i for i, text in self.labels.items() if text == label), None)
        return self.names.get(input_id or "")


class Browser:
    """Just enough of a browser for the sign-in and consent pages: cookies by name (as a browser
    keeps them for 127.0.0.1, where Secure and __Host- cookies work over http), redirects."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self._http = httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self._http.cookies.clear()  # this class keeps them, not httpx's jar
        reply = self._http.request(method, url, headers=headers, **kwargs)
        for raw in reply.headers.get_list("set-cookie"):
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in raw.lower() or not value:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value
        return reply

    def follow(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        reply = self.request(method, url, **kwargs)
        for _ in range(10):
            if reply.status_code not in (301, 302, 303, 307):
                return reply
            url = urljoin(str(reply.url), reply.headers["Location"])
            reply = self.request("GET", url)
        raise ConnectError(f"too many redirects (at {url})")

    def through_forms(
        self, url: str, email: str, password: str, done: Callable[[httpx.Response], bool]
    ) -> httpx.Response:
        """Follow `url`, filling in the identity provider's sign-in form as this person and
        pressing Continue on its consent page, until `done(page)`."""
        page = self.follow("GET", url)
        for _ in range(6):
            if done(page):
                return page
            parsed = _Page(page.text)
            sign_in, go_on = parsed.form_with_button("Sign in"), parsed.form_with_button("Continue")
            if sign_in is not None:
                email_field, password_field = (
                    parsed.field_labelled("Email"),
                    parsed.field_labelled("Password"),
                )
                if not (email_field and password_field):
                    raise ConnectError(f"a sign-in form without Email and Password at {page.url}")
                data = {**sign_in.inputs, email_field: email, password_field: password}
                page = self.follow("POST", urljoin(str(page.url), sign_in.action), data=data)
            elif go_on is not None:
                page = self.follow("POST", urljoin(str(page.url), go_on.action), data=go_on.inputs)
            else:
                raise ConnectError(
                    f"neither a sign-in form nor a consent page at {page.url} (HTTP {page.status_code})"
                )
        raise ConnectError(f"the sign-in and consent pages did not end (at {page.url})")


def connect_calendar(
    api_url: str, person: Mapping[str, Any], agent_id: str, say: Say, *, label: str = "MediCore calendar"
) -> str:
    """What a MediCore admin does in the dashboard (Connections -> Connect local-google,
    calendar.readonly, allow the agent), done by script; the new connection's id."""
    email, password = str(person["email"]), str(person["password"])
    browser = Browser()
    try:
        session = browser.through_forms(
            f"{api_url}/auth/login?return_to=/auth/session",
            email,
            password,
            lambda page: urlsplit(str(page.url)).path == "/auth/session" and page.status_code == 200,
        )
        csrf = str(session.json()["csrf_token"])
        say("medicore-admin", f"signed in to VaultGuard as {email} (through the local identity provider)")
        reply = browser.request(
            "POST",
            f"{api_url}/vault/connect",
            json={"provider": PROVIDER, "scopes": [CALENDAR_SCOPE], "label": label, "agent_ids": [agent_id]},
            headers={"X-CSRF-Token": csrf, "Origin": api_url},  # as the dashboard's fetch sends
        )
        if reply.status_code != 201:
            raise ConnectError(f"POST /vault/connect answered HTTP {reply.status_code}: {reply.text[:200]}")
        started = reply.json()
        say(
            "medicore-admin",
            f"Connect {PROVIDER} ({CALENDAR_SCOPE}, allowing agent {agent_id}) -> pending "
            f"{started['connection_id']}; consenting at {PROVIDER} as {email}",
        )
        back = browser.through_forms(
            str(started["authorize_url"]),
            email,
            password,
            lambda page: urlsplit(str(page.url)).path == CONNECTIONS_PAGE,
        )
        query = {k: v[0] for k, v in parse_qs(urlsplit(str(back.url)).query).items()}
        if query.get("connected") != started["connection_id"]:
            raise ConnectError(f"the callback did not connect it: {query}")
        say("medicore-admin", f"back on the Connections page: {started['connection_id']} connected")
        return str(started["connection_id"])
    finally:
        browser.close()
