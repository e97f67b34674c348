"""What the dashboard's browser tests share: the browser's flags, signing in through the local
identity provider's form, a signed-in page with axe-core preloaded, and axe's findings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import PROJECT_DIR, LocalServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DIST = PROJECT_DIR / "dashboard" / "dist" / "index.html"
AXE = PROJECT_DIR / "dashboard" / "node_modules" / "axe-core" / "axe.min.js"
APPEARS_WITHIN_MS = 6000  # the queue refreshes at least every 5 s
GRAVE = {"serious", "critical"}


def sign_in(page: Page, server: LocalServer, person: str) -> None:
    """From the signed-out page through the identity provider's form, back to the dashboard.
    `person` is a key of local.json's "users" (natsupply_admin, natsupply_approver, ...)."""
    who = server.state["users"][person]
    page.goto(f"{server.url}/dashboard/")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Email").fill(who["email"])
    page.get_by_label("Password").fill(who["password"])
    page.get_by_role("button", name="Sign in").click()
    consent = page.get_by_role("button", name="Continue")
    page.wait_for_url(re.compile(r"/dashboard/|/interaction/"))
    if "/interaction/" in page.url and consent.count():
        consent.click()
    page.wait_for_url(f"{server.url}/dashboard/**")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@contextmanager
def signed_in(
    browser: Browser, server: LocalServer, person: str, csp_violations: list[str]
) -> Iterator[Page]:
    """A fresh browser context signed in as `person`, with axe-core preloaded (an init script is
    not subject to the page's Content-Security-Policy, which refuses inline scripts) and the
    console's CSP reports collected in `csp_violations`."""
    context = browser.new_context(accept_downloads=True)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.on(
        "console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None
    )
    try:
        sign_in(page, server, person)
        yield page
    finally:
        context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now (WCAG 2.2 AA rules)."""
    found = page.evaluate(
        """async () => (await axe.run(document, {
                runOnly: {type: 'tag', values: [
                    'wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
                resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target)}))"""
    )
    return [v for v in found if v["impact"] in GRAVE]


def no_storage_secrets(page: Page) -> dict[str, str]:
    """Everything in the page's localStorage and sessionStorage (the dashboard keeps nothing there)."""
    return dict(
        page.evaluate(
            """() => Object.fromEntries([
                ...Object.entries(localStorage).map(([k, v]) => ['local:' + k, v]),
                ...Object.entries(sessionStorage).map(([k, v]) => ['session:' + k, v])])"""
        )
    )
