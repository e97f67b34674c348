"""The Connections page in a real browser: MediCore's admin connects the local "Google"
(local-google) for the MediCore agent through the provider's own sign-in and consent pages,
comes back to the page with the connection announced and active, then deletes it after the
confirmation; NatSupply's admin neither sees it nor reaches it by id.

Screenshots of each test land in the test's tmp dir (printed on failure)."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LocalServer
from tests.e2e.dashboard.support import axe_violations, no_storage_secrets, signed_in
from tests.e2e.test_stepup_lifecycle import bearer, client_token

TIMEOUT = 60
CONNECTIONS = "/dashboard/connections"


def api_view(server: LocalServer, tenant: str, connection_id: str) -> requests.Response:
    """GET /vault/connections/{id} as the tenant's admin client."""
    return requests.get(
        f"{server.url}/vault/connections/{connection_id}",
        headers=bearer(client_token(server, tenant, "admin")),
        timeout=TIMEOUT,
    )


def open_connections(page: Page) -> None:
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Connections").click()
    expect(page.get_by_role("heading", name="Connections", level=1)).to_be_visible()


def consent_at_the_provider(page: Page, server: LocalServer, person: str) -> None:
    """The provider's pages (it always asks, `prompt=consent`): its sign-in form (the same
    person as at VaultGuard) unless it remembers them, its consent page, then back to the
    Connections page."""
    who = server.state["users"][person]
    page.wait_for_url(re.compile(r"/interaction/"), timeout=TIMEOUT * 1000)
    signing_in = page.get_by_role("button", name="Sign in")
    consent = page.get_by_role("button", name="Continue")
    expect(signing_in.or_(consent)).to_be_visible()
    if signing_in.count():
        page.get_by_label("Email").fill(who["email"])
        page.get_by_label("Password").fill(who["password"])
        signing_in.click()
        back = page.get_by_role("heading", name="Connections", level=1)
        expect(consent.or_(back)).to_be_visible(timeout=TIMEOUT * 1000)
    if consent.count():
        consent.click()
    page.wait_for_url(f"{server.url}{CONNECTIONS}**", timeout=TIMEOUT * 1000)


def test_an_admin_connects_local_google_for_an_agent_and_deletes_it(
    browser: Browser, server: LocalServer, csp_violations: list[str]
) -> None:
    email = server.state["users"]["medicore_admin"]["email"]
    with signed_in(browser, server, "medicore_admin", csp_violations) as admin:
        open_connections(admin)
        expect(admin.get_by_text("No account is connected yet.")).to_be_visible()
        form = admin.get_by_role("form", name="Connect an account")
        expect(form.get_by_label("Provider")).to_have_value("local-google")
        assert axe_violations(admin) == []

        form.get_by_role("group", name="Scopes to ask for").get_by_label("calendar.readonly").check()
        form.get_by_role("group", name="Agents allowed to use it").get_by_label("MediCore agent").check()
        with admin.expect_response(lambda r: r.url == f"{server.url}/vault/connect") as started:
            form.get_by_role("button", name="Connect local-google").click()
        connection_id = started.value.json()["connection_id"]
        consent_at_the_provider(admin, server, "medicore_admin")

        # Back on the page: announced, highlighted, active, with the account; the address is clean.
        name = f"local-google ({email})"
        expect(admin.get_by_role("status")).to_have_text(f"Connected {name}.")
        expect(admin).to_have_url(f"{server.url}{CONNECTIONS}")
        card = admin.get_by_role("listitem", name=re.compile(r"^local-google"))
        expect(card).to_contain_text("(just connected)")
        expect(card).to_contain_text("Active")
        expect(card).to_contain_text(email)
        expect(card).to_contain_text("MediCore agent")
        expect(card).to_contain_text("calendar.readonly")
        assert axe_violations(admin) == []
        assert "token" not in card.inner_text().lower().replace("refresh", "")
        view = api_view(server, "medicore", connection_id)
        assert view.status_code == 200 and view.json()["status"] == "active", view.text
        assert view.json()["provider_account"]["email"] == email
        card.get_by_role("button", name=f"Check now {name}").click()
        expect(admin.get_by_role("status")).to_have_text(
            f"Checked {name}: the provider refreshed its access; it is active."
        )
        session_view = admin.request.get(f"{server.url}/vault/connections/{connection_id}")
        assert session_view.status == 200 and session_view.json()["status"] == "active"

        # Another tenant's admin: not listed, and its id answers like one that does not exist.
        with signed_in(browser, server, "natsupply_admin", csp_violations) as other:
            open_connections(other)
            expect(other.get_by_text("No account is connected yet.")).to_be_visible()
            by_session = other.request.get(f"{server.url}/vault/connections/{connection_id}")
            assert by_session.status == 404 and by_session.json()["error"] == "not_found"
        by_client = api_view(server, "natsupply", connection_id)
        assert by_client.status_code == 404 and by_client.json()["error"] == "not_found"

        card.get_by_role("button", name=f"Delete {name}").click()
        dialog = admin.get_by_role("dialog", name=f"Delete {name}?")
        expect(dialog).to_contain_text("revokes its grant at local-google")
        expect(dialog).to_contain_text("(MediCore agent) lose access at once")
        assert axe_violations(admin) == []
        dialog.get_by_role("button", name="Delete connection").click()
        expect(admin.get_by_role("status")).to_have_text(
            f"Deleted {name}; its access was revoked at the provider."
        )
        expect(admin.get_by_text("No account is connected yet.")).to_be_visible()
        assert api_view(server, "medicore", connection_id).json()["status"] == "deleted"
        assert no_storage_secrets(admin) == {}
    assert csp_violations == []


def test_only_admins_are_offered_the_page(
    browser: Browser, server: LocalServer, csp_violations: list[str]
) -> None:
    with signed_in(browser, server, "natsupply_approver", csp_violations) as page:
        expect(
            page.get_by_role("navigation", name="Pages").get_by_role("link", name="Connections")
        ).to_have_count(0)
        page.goto(f"{server.url}{CONNECTIONS}")
        expect(page.get_by_role("heading", name="Not available to your role")).to_be_visible()
        expect(page.get_by_role("form", name="Connect an account")).to_have_count(0)
    assert csp_violations == []
