"""The pending queue in a real browser (Debian's Chromium driven by Playwright): `make run`'s
server serves it at /dashboard/, people sign in through the real local identity provider's
form, and MediCore's agent asks NatSupply for `requisition.submit` (STEP_UP) through the API.

Screenshots of each test land in the test's tmp dir (printed on failure)."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from examples.demo import run_demo
from tests.e2e.conftest import LocalServer, free_port
from tests.e2e.dashboard.support import APPEARS_WITHIN_MS, axe_violations, sign_in, signed_in
from tests.e2e.dashboard.test_connections import consent_at_the_provider, open_connections
from tests.e2e.test_stepup_lifecycle import bearer, client_token, poll, start_stepup


@pytest.fixture(scope="module")
def approver(browser: Browser, server: LocalServer, csp_violations: list[str]) -> Iterator[Page]:
    """The NatSupply approver, signed in once for the module."""
    with signed_in(browser, server, "natsupply_approver", csp_violations) as page:
        yield page


@pytest.fixture(scope="module")
def agent_token(server: LocalServer) -> str:
    return client_token(server, "medicore", "agent")


def request_card(page: Page, binding: str) -> Any:
    return page.get_by_role("article").filter(has_text=binding)


def delegation(server: LocalServer, token: str, delegation_id: str) -> dict[str, Any]:
    reply = requests.get(f"{server.url}/delegations/{delegation_id}", headers=bearer(token), timeout=30)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


# -- serving ---------------------------------------------------------------------------------


def test_the_dashboard_is_served_on_the_apis_origin_under_a_strict_policy(server: LocalServer) -> None:
    moved = requests.get(f"{server.url}/dashboard", allow_redirects=False, timeout=30)
    assert (moved.status_code, moved.headers["Location"]) == (308, "/dashboard/")
    page = requests.get(f"{server.url}/dashboard/delegations", timeout=30)  # an app route
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<div id="root">' in page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), "an inline script"
    policy = page.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    script = re.search(r'<script[^>]*src="([^"]+)"', page.text)
    assert script is not None
    asset = requests.get(f"{server.url}{script.group(1)}", timeout=30)
    assert asset.status_code == 200 and "javascript" in asset.headers["Content-Type"]
    assert "immutable" in asset.headers["Cache-Control"]
    missing = requests.get(f"{server.url}/dashboard/assets/nothing-here.js", timeout=30)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    escape = requests.get(f"{server.url}/dashboard/%2e%2e/app.py", timeout=30)
    assert escape.status_code == 404 and "Chalice" not in escape.text


# -- in the browser --------------------------------------------------------------------------


def test_the_signed_out_page_signs_the_approver_in_to_the_queue(
    approver: Page, server: LocalServer, csp_violations: list[str]
) -> None:
    header = approver.get_by_role("banner")
    expect(header).to_contain_text("approver@natsupply.example")
    expect(header).to_contain_text("Organisation: NatSupply")
    expect(header).to_contain_text("Role: approver")
    expect(header.get_by_text("Session ends")).to_be_visible()
    expect(approver.get_by_role("heading", name="Pending requests", level=1)).to_be_visible()
    expect(
        approver.get_by_role("navigation", name="Pages").get_by_role("link", name="Delegations")
    ).to_be_visible()
    assert csp_violations == []


def test_the_approver_approves_a_request_after_reading_its_binding_message(
    approver: Page, server: LocalServer, agent_token: str
) -> None:
    binding = "Requisition R-4411: 12 boxes of nitrile gloves"
    started = start_stepup(
        server, agent_token, binding_message=binding, purpose="Restock ward 3 before the weekend"
    )
    card = request_card(approver, binding)
    expect(card).to_be_visible(timeout=APPEARS_WITHIN_MS)
    expect(card.get_by_role("heading")).to_contain_text("MediCore asks for requisition.submit")
    for fact in ("MediCore agent", "requisition.submit", "Restock ward 3 before the weekend"):
        expect(card).to_contain_text(fact)
    expect(card.get_by_text(re.compile(r"^Expires in \d+:\d\d$"))).to_be_visible()

    # With the keyboard alone: Approve, the reason, then Confirm approval.
    card.get_by_role("button", name="Approve").focus()
    approver.keyboard.press("Enter")
    dialog = approver.get_by_role("dialog", name="Approve this request?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(binding)
    expect(dialog.get_by_label("Reason (optional)")).to_be_focused()
    approver.keyboard.type("Matches PO 7781")
    approver.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Confirm approval")).to_be_focused()
    approver.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(card).to_have_count(0)

    record = delegation(server, agent_token, started["delegation_id"])
    assert record["status"] == "ACTIVE"
    token = poll(server, started["auth_req_id"])  # the agent's next poll gets its token
    assert token.status_code == 200 and token.json()["access_token"]


def test_the_approver_rejects_a_request_with_a_reason(
    approver: Page, server: LocalServer, agent_token: str
) -> None:
    binding = "Requisition R-4412: 400 vials of insulin"
    started = start_stepup(server, agent_token, binding_message=binding, purpose="Unusual quantity")
    card = request_card(approver, binding)
    expect(card).to_be_visible(timeout=APPEARS_WITHIN_MS)
    card.get_by_role("button", name="Reject").click()
    dialog = approver.get_by_role("dialog", name="Reject this request?")
    expect(dialog).to_contain_text(binding)
    dialog.get_by_label("Reason (optional)").fill("Not ordered by our ward")
    dialog.get_by_role("button", name="Confirm rejection").click()
    expect(card).to_have_count(0)
    record = delegation(server, agent_token, started["delegation_id"])
    assert record["status"] == "REJECTED"
    assert record.get("decision_reason") in (None, "Not ordered by our ward")  # the agent may not see it
    answer = poll(server, started["auth_req_id"])
    assert (answer.status_code, answer.json()["error"]) == (400, "access_denied")


def test_a_request_someone_else_decided_first_says_how(
    approver: Page, server: LocalServer, agent_token: str
) -> None:
    binding = "Requisition R-4414: 2 defibrillator pads"
    started = start_stepup(server, agent_token, binding_message=binding)
    card = request_card(approver, binding)
    expect(card).to_be_visible(timeout=APPEARS_WITHIN_MS)
    card.get_by_role("button", name="Approve").click()
    dialog = approver.get_by_role("dialog", name="Approve this request?")
    expect(dialog).to_be_visible()
    admin = bearer(client_token(server, "natsupply", "admin"))  # meanwhile, the admin rejects it
    first = requests.post(
        f"{server.url}/delegations/{started['delegation_id']}/reject",
        json={"reason": "Duplicate of R-4413"},
        headers=admin,
        timeout=30,
    )
    assert first.status_code == 200, first.text
    dialog.get_by_role("button", name="Confirm approval").click()
    expect(dialog.get_by_role("alert")).to_contain_text(
        "Someone else decided first: this request was rejected"
    )
    expect(dialog.get_by_role("alert")).to_contain_text("Duplicate of R-4413")
    dialog.get_by_role("button", name="Close").click()
    expect(card).to_have_count(0)
    assert delegation(server, agent_token, started["delegation_id"])["status"] == "REJECTED"


def test_a_new_request_is_announced_and_counted_in_the_title_and_shown_as_text(
    approver: Page, server: LocalServer, agent_token: str
) -> None:
    alerts: list[str] = []
    approver.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    expect(approver.get_by_role("heading", name="Pending requests", level=1)).to_be_visible()
    before = approver.get_by_role("article").count()
    payload = "<img src=x onerror=alert(1)>"
    start_stepup(server, agent_token, binding_message=payload, purpose="<b>bold?</b>")
    card = request_card(approver, payload)
    expect(card).to_be_visible(timeout=APPEARS_WITHIN_MS)
    expect(approver.get_by_role("status")).to_have_text(
        "New request: MediCore agent of MediCore asks for requisition.submit"
    )
    expect(approver).to_have_title(re.compile(rf"^\({before + 1}\) Pending requests"))
    expect(card.get_by_text(payload, exact=True).first).to_be_visible()
    expect(card).to_contain_text("<b>bold?</b>")
    assert approver.locator(".requests img").count() == 0 and alerts == []


def test_axe_finds_nothing_serious_on_the_queue_its_dialog_and_the_delegations_page(
    approver: Page, server: LocalServer, agent_token: str, csp_violations: list[str]
) -> None:
    binding = "Requisition R-4413: 3 pulse oximeters"
    start_stepup(server, agent_token, binding_message=binding)
    card = request_card(approver, binding)
    expect(card).to_be_visible(timeout=APPEARS_WITHIN_MS)
    assert axe_violations(approver) == []
    card.get_by_role("button", name="Approve").click()
    dialog = approver.get_by_role("dialog", name="Approve this request?")
    expect(dialog).to_be_visible()
    assert axe_violations(approver) == []
    approver.keyboard.press("Escape")  # the dialog closes from the keyboard, nothing decided
    expect(dialog).to_be_hidden()
    expect(card).to_be_visible()

    approver.get_by_role("link", name="Delegations").click()
    expect(approver.get_by_role("heading", name="Delegations", level=1)).to_be_visible()
    table = approver.get_by_role("table", name=re.compile("Inbound delegations"))
    expect(table.get_by_role("row").filter(has_text="ACTIVE").first).to_be_visible()
    approver.get_by_label("Status").select_option("REJECTED")
    expect(table.get_by_role("row").filter(has_text="ACTIVE")).to_have_count(0)
    expect(table.get_by_role("row").filter(has_text="REJECTED").first).to_be_visible()
    assert axe_violations(approver) == []
    approver.get_by_role("link", name="Pending requests").click()
    expect(request_card(approver, binding)).to_be_visible()
    assert csp_violations == []


def test_the_queue_stops_polling_in_a_background_tab_and_catches_up_when_shown(approver: Page) -> None:
    polls: list[float] = []

    def count(request: Any) -> None:
        if "/delegations?" in request.url and "status=PENDING" in request.url:
            polls.append(time.monotonic())

    approver.on("request", count)
    try:
        expect(approver.get_by_role("heading", name="Pending requests", level=1)).to_be_visible()
        set_visibility(approver, "hidden")
        hidden_at = time.monotonic()
        approver.wait_for_timeout(4500)  # longer than the 4 s refresh
        assert [t for t in polls if t > hidden_at + 0.5] == []
        set_visibility(approver, "visible")  # shown again: refreshed at once, then every few seconds
        approver.wait_for_timeout(1000)
        assert [t for t in polls if t > hidden_at + 4.5], "no refresh when the tab came back"
    finally:
        approver.remove_listener("request", count)
        set_visibility(approver, "visible")


def set_visibility(page: Page, state: str) -> None:
    """What the browser does when the tab goes to the background or comes back."""
    page.evaluate(
        """state => {
            Object.defineProperty(document, 'visibilityState', {value: state, configurable: true});
            Object.defineProperty(document, 'hidden', {value: state === 'hidden', configurable: true});
            document.dispatchEvent(new Event('visibilitychange', {bubbles: true}));
        }""",
        state,
    )


# -- make demo INTERACTIVE=1 ------------------------------------------------------------------


def test_the_interactive_demo_waits_for_the_calendar_and_the_approver_in_the_dashboard(
    browser: Browser, approver: Page, server: LocalServer, csp_violations: list[str]
) -> None:
    """`make demo INTERACTIVE=1` against `make run`'s server (issue 13's "Done when"): the demo
    waits for MediCore's admin to connect the calendar on the Connections page, MediCore's agent
    waits on its requisition until the approver approves it in the queue, and all four tasks
    complete, the fourth reading the calendar through the vault."""
    out = io.StringIO()
    finished: dict[str, Any] = {}
    argv = ["--interactive", "--offline", "--api-url", server.url, "--state-dir", str(server.state_dir)]
    argv += ["--connect-timeout", "120"]
    demo = threading.Thread(target=lambda: finished.update(result=run_demo(argv, out)), daemon=True)
    demo.start()
    try:
        deadline = time.monotonic() + 60
        while "no calendar connected: sign in to" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "Connections -> Connect local-google with calendar.readonly" in out.getvalue(), out.getvalue()
        with signed_in(browser, server, "medicore_admin", csp_violations) as admin:
            open_connections(admin)
            form = admin.get_by_role("form", name="Connect an account")
            form.get_by_role("group", name="Scopes to ask for").get_by_label("calendar.readonly").check()
            demo_agent = server.state["tenants"]["medicore"]["key_agent"]["name"]  # the key-only agent
            form.get_by_role("group", name="Agents allowed to use it").get_by_label(demo_agent).check()
            form.get_by_role("button", name="Connect local-google").click()
            consent_at_the_provider(admin, server, "medicore_admin")

        approver.goto(f"{server.url}/dashboard/")
        card = approver.get_by_role("article").filter(has_text=re.compile(r"REQ-\d{4}"))
        expect(card).to_be_visible(timeout=30_000)
        expect(card).to_contain_text("MediCore asks for requisition.submit")
        card.get_by_role("button", name="Approve").click()
        approver.get_by_role("dialog").get_by_role("button", name="Confirm approval").click()
        expect(card).to_have_count(0)
    finally:
        demo.join(timeout=90)
    assert not demo.is_alive(), out.getvalue()
    assert "waiting for a human: approve it in the dashboard's queue" in out.getvalue()
    assert re.search(r"MediCore's calendar: connection con_\w+ \(local-google, ", out.getvalue()), (
        out.getvalue()
    )
    assert "next: " in out.getvalue() and "Morning stand-up" in out.getvalue()
    assert finished["result"].outcomes == {
        "update_stock": "DONE",
        "submit_requisition": "DONE",
        "open_admin": "BLOCKED",
        "read_calendar": "DONE",
    }, out.getvalue()


def test_an_auditor_sees_no_queue_and_signs_out(approver: Page, server: LocalServer) -> None:
    """The approver becomes an auditor (the admin changes the role): no queue, read-only pages."""
    admin = bearer(client_token(server, "natsupply", "admin"))
    people = requests.get(f"{server.url}/users", headers=admin, timeout=30).json()["users"]
    approver_id = next(p["user_id"] for p in people if p["email"] == "approver@natsupply.example")
    changed = requests.patch(
        f"{server.url}/users/{approver_id}", json={"role": "auditor"}, headers=admin, timeout=30
    )
    assert changed.status_code == 200, changed.text
    try:
        approver.goto(f"{server.url}/dashboard/")
        expect(approver.get_by_role("banner")).to_contain_text("Role: auditor")
        expect(approver.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
        expect(approver.get_by_role("heading", name="Pending requests")).to_have_count(0)
        expect(approver.get_by_role("link", name="Pending requests")).to_have_count(0)
        expect(approver.get_by_role("button", name="Approve")).to_have_count(0)
        approver.goto(f"{server.url}/dashboard/queue")
        expect(approver.get_by_role("heading", name="Not available to your role")).to_be_visible()

        approver.get_by_role("button", name="Sign out").click()
        expect(approver.get_by_role("button", name="Sign in")).to_be_visible()
        expect(approver.get_by_role("status")).to_contain_text("You are signed out of VaultGuard.")
        provider = approver.get_by_role("link", name="Sign out of your identity provider too")
        assert (provider.get_attribute("href") or "").startswith(server.state["identity_provider"])
        reply = approver.request.get(f"{server.url}/auth/session")
        assert reply.status == 401
    finally:
        requests.patch(
            f"{server.url}/users/{approver_id}", json={"role": "approver"}, headers=admin, timeout=30
        )


# -- a sign-in too old to approve with -------------------------------------------------------

APPROVAL_MAX_AGE = 6  # seconds; the default is 12 hours


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = LocalServer(free_port(), tmp_path_factory.mktemp("dashboard-reauth") / "state")
    srv.extra_env = {
        "VAULTGUARD_IDP_PORT": str(free_port()),
        "VAULTGUARD_APPROVAL_MAX_AGE_SECONDS": str(APPROVAL_MAX_AGE),
    }
    srv.start()
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.stop()


def test_an_old_sign_in_goes_through_the_identity_provider_and_back_before_approving(
    browser: Browser, strict_server: LocalServer
) -> None:
    server = strict_server
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, server, "natsupply_approver")
        signed_in = time.monotonic()
        binding = "Requisition R-5001: 1 ventilator"
        started = start_stepup(server, client_token(server, "medicore", "agent"), binding_message=binding)
        card = request_card(page, binding)
        expect(card).to_be_visible(timeout=APPEARS_WITHIN_MS)
        time.sleep(max(0.0, APPROVAL_MAX_AGE + 1.5 - (time.monotonic() - signed_in)))

        card.get_by_role("button", name="Approve").click()
        page.get_by_role("dialog").get_by_role("button", name="Confirm approval").click()
        who = server.state["users"]["natsupply_approver"]
        page.get_by_label("Password").fill(who["password"])  # the provider asks again
        email = page.get_by_label("Email")
        if email.is_editable():
            email.fill(who["email"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server.url}/dashboard/**")
        card = request_card(page, binding)  # back at the queue; the request still waits
        card.get_by_role("button", name="Approve").click()
        page.get_by_role("dialog").get_by_role("button", name="Confirm approval").click()
        expect(card).to_have_count(0)
        agent = client_token(server, "medicore", "agent")
        assert delegation(server, agent, started["delegation_id"])["status"] == "ACTIVE"
    finally:
        context.close()
