"""`make run`'s sign-in end to end: the real local server, the real local identity provider
(node-oidc-provider) and a browser-like client that follows redirects and fills the provider's
sign-in form, as a person would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from tests.e2e.conftest import LocalServer, free_port

SESSION = "__Host-vg_session"


class Browser:
    """Keeps cookies by name (as a browser does for 127.0.0.1, a secure context where Secure
    and __Host- cookies work over http; `requests` would drop them) and follows redirects."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self.http = requests.Session()
        self.http.trust_env = False

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        reply = self.http.request(method, url, headers=headers, allow_redirects=False, timeout=30, **kwargs)
        for raw in reply.raw.headers.getlist("Set-Cookie"):
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in raw or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return reply

    def follow(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        reply = self.request(method, url, **kwargs)
        for _ in range(10):
            if reply.status_code not in (302, 303):
                return reply
            url = urljoin(url, reply.headers["Location"])
            reply = self.request("GET", url)
        raise AssertionError("too many redirects")

    def sign_in(
        self, api: str, email: str, password: str, return_to: str = "/auth/session"
    ) -> requests.Response:
        page = self.follow("GET", f"{api}/auth/login?return_to={return_to}")
        assert re.search(r"<label[^>]*>\s*Email\s*</label>", page.text), page.text[:500]
        assert re.search(r"<label[^>]*>\s*Password\s*</label>", page.text)
        assert re.search(r"<button[^>]*>\s*Sign in\s*</button>", page.text)
        action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
        assert action is not None
        hidden = dict(
            re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text)
        )
        return self.follow(
            "POST", urljoin(page.url, action.group(1)), data={**hidden, "email": email, "password": password}
        )


@pytest.fixture(scope="module")
def signed_in_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = LocalServer(free_port(), tmp_path_factory.mktemp("people") / "state")
    srv.extra_env = {"VAULTGUARD_IDP_PORT": str(free_port())}
    srv.start()
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.stop()


def test_the_natsupply_approver_signs_in_and_acts_through_the_session(signed_in_server: LocalServer) -> None:
    state = signed_in_server.state
    api, person = signed_in_server.url, state["users"]["natsupply_approver"]
    assert set(state["users"]) == {
        "natsupply_admin",
        "natsupply_approver",
        "natsupply_auditor",
        "medicore_admin",
        "platform",
    }
    browser = Browser()
    landed = browser.sign_in(api, person["email"], person["password"])
    assert landed.status_code == 200, landed.text[:500]
    assert urlsplit(landed.url).path == "/auth/session"
    me = landed.json()
    assert (me["email"], me["role"], me["tenant_id"]) == (
        "approver@natsupply.example",
        "approver",
        state["tenants"]["natsupply"]["tenant_id"],
    )
    assert SESSION in browser.cookies

    # The API with the session: reads as is, writes with the CSRF header and the origin.
    assert browser.request("GET", f"{api}/delegations").status_code == 200
    write = {"Origin": api, "X-CSRF-Token": me["csrf_token"], "Content-Type": "application/json"}
    unknown = "dlg_" + "0" * 44
    assert (
        browser.request("POST", f"{api}/delegations/{unknown}/approve", headers=write, data="{}").status_code
        == 404
    )
    no_csrf = {"Origin": api, "Content-Type": "application/json"}
    refused = browser.request("POST", f"{api}/delegations/{unknown}/approve", headers=no_csrf, data="{}")
    assert refused.status_code == 403 and refused.json()["error"] == "csrf_failed"

    out = browser.request("POST", f"{api}/auth/logout", headers=write)
    assert out.status_code == 200
    assert out.json()["end_session_url"].startswith(state["identity_provider"])
    assert browser.request("GET", f"{api}/auth/session").status_code == 401


def test_a_wrong_password_gets_no_session(signed_in_server: LocalServer) -> None:
    state = signed_in_server.state
    browser = Browser()
    page = browser.sign_in(
        signed_in_server.url, state["users"]["natsupply_admin"]["email"], "not-the-password"
    )
    assert page.status_code == 200
    assert "Wrong email or password" in page.text
    assert SESSION not in browser.cookies


def test_people_stay_bound_across_a_restart(signed_in_server: LocalServer) -> None:
    assert signed_in_server.stop() == 0
    signed_in_server.start()
    state = signed_in_server.state
    person = state["users"]["medicore_admin"]
    browser = Browser()
    landed = browser.sign_in(signed_in_server.url, person["email"], person["password"])
    assert landed.status_code == 200, landed.text[:500]
    assert landed.json()["tenant_id"] == state["tenants"]["medicore"]["tenant_id"]
