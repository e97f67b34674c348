"""The admin pages in a real browser: NatSupply's admin registers an agent (its secret shown
once, copied, then used for a token) and disables it, invites someone and changes a role, sets
a webhook to a local receiver and sends it a test delivery; the platform operator registers,
disables and enables an organisation and reads the platform's totals; an approver is offered
none of these pages.

Screenshots of each test land in the test's tmp dir (printed on failure)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.conftest import LocalServer
from tests.e2e.dashboard.support import axe_violations, no_storage_secrets, signed_in

TIMEOUT = 60
ADMIN_PAGES = ("Agents", "Webhooks", "Users")


@pytest.fixture(scope="module")
def admin(browser: Browser, server: LocalServer, csp_violations: list[str]) -> Iterator[Page]:
    """NatSupply's admin, signed in once for the module, with the clipboard allowed."""
    with signed_in(browser, server, "natsupply_admin", csp_violations) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        yield page


def open_page(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Pages").get_by_role("link", name=label).click()
    expect(page.get_by_role("heading", name=label, level=1)).to_be_visible()


def token_request(server: LocalServer, client_id: str, secret: str) -> requests.Response:
    """`curl -u id:secret -d grant_type=client_credentials $API/oauth/token`."""
    return requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=TIMEOUT,
    )


def row_of(page: Page, name: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name, exact=True))


# -- agents ----------------------------------------------------------------------------------


def test_an_agents_secret_is_shown_once_copied_and_works_until_the_agent_is_disabled(
    admin: Page, server: LocalServer, csp_violations: list[str]
) -> None:
    open_page(admin, "Agents")
    expect(admin.get_by_role("table", name=re.compile(r"^Registered agents"))).to_be_visible()
    assert axe_violations(admin) == []

    admin.get_by_label("Name", exact=True).fill("restock-bot")
    admin.get_by_label("Description (optional)").fill("Orders gloves when the ward runs low")
    admin.get_by_role("button", name="Register agent").click()
    panel = admin.get_by_role("dialog", name="Copy the secret of “restock-bot” now")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("you will not see it again")
    assert axe_violations(admin) == []
    secret = panel.locator(".once-value code").inner_text()
    assert len(secret) >= 32

    panel.get_by_role("button", name="Copy client secret").click()
    expect(panel.get_by_role("status")).to_have_text("Client secret copied to the clipboard.")
    assert admin.evaluate("() => navigator.clipboard.readText()") == secret
    assert no_storage_secrets(admin) == {}

    panel.get_by_role("button", name="Done").click()
    expect(panel).to_be_hidden()
    assert secret not in admin.content()  # shown once: gone with the panel

    row = row_of(admin, "restock-bot")
    expect(row).to_contain_text("Active")
    last_used = row.get_by_role("cell").nth(5)  # after description, client id, signs in with, status, created
    expect(last_used).to_have_text("Never")
    client_id = row.locator("code").inner_text()
    issued = token_request(server, client_id, secret)
    assert issued.status_code == 200, issued.text
    assert issued.json()["access_token"]

    row.get_by_role("button", name="Disable restock-bot").click()
    dialog = admin.get_by_role("dialog", name="Disable “restock-bot”?")
    expect(dialog).to_contain_text("stop working at once")
    dialog.get_by_role("button", name="Disable agent").click()
    expect(dialog).to_be_hidden()
    expect(admin.get_by_role("status").filter(has_text="restock-bot is disabled")).to_be_visible()
    expect(row).to_contain_text("Disabled")
    expect(last_used).not_to_have_text("Never")  # the token it got before
    refused = token_request(server, client_id, secret)
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client", refused.text
    assert no_storage_secrets(admin) == {}
    assert csp_violations == []


# -- users -----------------------------------------------------------------------------------


def test_the_admin_invites_someone_and_makes_the_auditor_an_approver(
    admin: Page, server: LocalServer, csp_violations: list[str]
) -> None:
    open_page(admin, "Users")
    expect(row_of(admin, "Aude Auditor")).to_contain_text("auditor@natsupply.example")
    assert axe_violations(admin) == []

    admin.get_by_label("Email", exact=True).fill("newcomer@natsupply.example")
    admin.get_by_label("Role", exact=True).select_option("approver")
    admin.get_by_role("button", name="Create invitation").click()
    panel = admin.get_by_role("dialog", name="Send newcomer@natsupply.example their invitation link")
    expect(panel).to_contain_text("as an approver")
    link = panel.locator(".once-value code").inner_text()
    assert link.startswith("http")
    panel.get_by_role("button", name="Done").click()
    expect(panel).to_be_hidden()
    assert link not in admin.content()

    auditor = "auditor@natsupply.example"
    admin.get_by_role("combobox", name=f"Role of {auditor}").select_option("approver")
    admin.get_by_role("button", name=f"Save the role of {auditor}").click()
    expect(admin.get_by_role("status").filter(has_text="is now an approver")).to_contain_text(auditor)
    admin.reload()
    expect(admin.get_by_role("combobox", name=f"Role of {auditor}")).to_have_value("approver")
    assert no_storage_secrets(admin) == {}
    assert csp_violations == []


# -- webhooks --------------------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    """A tenant's webhook endpoint: records what arrives, answers 200."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("RecordingReceiver", (Receiver,), {"received": received})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hooks/vaultguard", received
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_webhook_is_set_with_its_secret_shown_once_and_a_test_delivery_arrives(
    admin: Page, receiver: tuple[str, list[dict[str, Any]]], csp_violations: list[str]
) -> None:
    url, received = receiver
    open_page(admin, "Webhooks")
    expect(admin.get_by_text("No webhook is set")).to_be_visible()
    assert axe_violations(admin) == []

    admin.get_by_label("Webhook URL").fill(url)
    admin.get_by_role("button", name="Save webhook").click()
    panel = admin.get_by_role("dialog", name="Copy the webhook's signing secret now")
    expect(panel).to_contain_text("you will not see it again")
    secret = panel.locator(".once-value code").inner_text()
    panel.get_by_role("button", name="Done").click()
    expect(panel).to_be_hidden()
    assert secret and secret not in admin.content()

    current = admin.get_by_role("region", name="Current webhook")
    expect(current).to_contain_text(url)
    current.get_by_role("button", name="Send a test delivery").click()
    expect(current.get_by_role("status")).to_have_text(
        re.compile(r"^Delivered: the receiver answered 200 in \d+ ms\.$"), timeout=15_000
    )
    assert [r["path"] for r in received] == ["/hooks/vaultguard"]
    assert "webhook.test" in json.dumps(received[0]["body"])
    assert axe_violations(admin) == []
    assert no_storage_secrets(admin) == {}
    assert csp_violations == []


# -- platform and roles ----------------------------------------------------------------------


def figure_of(page: Page, name: str) -> Locator:
    """A platform total's value ("3 (active 3, disabled 0)")."""
    term = page.locator("dl.figures dt", has_text=re.compile(f"^{name}$"))
    return term.locator("xpath=following-sibling::dd[1]")


def figure(page: Page, name: str) -> int:
    """The number a platform total starts with ("3 (active 3, disabled 0)" -> 3)."""
    text = figure_of(page, name).inner_text()
    match = re.match(r"\d+", text)
    assert match, text
    return int(match.group())


def test_the_platform_operator_registers_disables_and_enables_an_organisation(
    browser: Browser, server: LocalServer, csp_violations: list[str]
) -> None:
    with signed_in(browser, server, "platform", csp_violations) as page:
        expect(page.get_by_role("heading", name="Tenants", level=1)).to_be_visible()
        for name in ("MediCore", "NatSupply"):
            expect(row_of(page, name)).to_contain_text("Active")
        metrics = page.get_by_role("region", name="Platform metrics")
        for term in ("Tenants", "Agents", "Delegations", "Audit events"):
            expect(metrics.get_by_text(term, exact=True)).to_be_visible()
        before = figure(page, "Tenants")
        assert before >= 2
        assert axe_violations(page) == []

        page.get_by_label("Name", exact=True).fill("Harbor Clinics")
        page.get_by_label("First admin's email").fill("admin@harbor.example")
        page.get_by_role("button", name="Register organisation").click()
        panel = page.get_by_role("dialog", name="Copy what Harbor Clinics needs now")
        expect(panel).to_contain_text("admin@harbor.example")
        link = panel.locator(".once-value code").first.inner_text()
        assert link.startswith("http")
        panel.get_by_role("button", name="Done").click()
        expect(panel).to_be_hidden()
        assert link not in page.content()
        harbor = row_of(page, "Harbor Clinics")
        expect(harbor).to_contain_text("Active")
        expect(figure_of(page, "Tenants")).to_have_text(re.compile(f"^{before + 1}\\b"))

        harbor.get_by_role("button", name="Disable Harbor Clinics").click()
        dialog = page.get_by_role("dialog", name="Disable Harbor Clinics?")
        expect(dialog).to_contain_text("agents will be refused")
        dialog.get_by_role("button", name="Disable tenant").click()
        expect(harbor).to_contain_text("Disabled")
        harbor.get_by_role("button", name="Enable Harbor Clinics").click()
        expect(harbor).to_contain_text("Active")
        assert no_storage_secrets(page) == {}
    assert csp_violations == []


def test_an_approver_is_offered_none_of_the_admin_pages(
    browser: Browser, server: LocalServer, csp_violations: list[str]
) -> None:
    with signed_in(browser, server, "natsupply_approver", csp_violations) as page:
        nav = page.get_by_role("navigation", name="Pages")
        expect(nav.get_by_role("link", name="Delegations")).to_be_visible()
        for label in (*ADMIN_PAGES, "Tenants"):
            expect(nav.get_by_role("link", name=label)).to_have_count(0)
        page.goto(f"{server.url}/dashboard/agents")
        expect(page.get_by_role("heading", name="Not available to your role")).to_be_visible()
        expect(page.get_by_role("button", name="Register agent")).to_have_count(0)
    assert csp_violations == []
