"""The trust graph and the policies pages in a real browser, after real traffic through the API:
MediCore's demo agent asks NatSupply four times (one STEP_UP approved, one rejected, one
ALLOW, one BLOCK) and a third organisation's agent is BLOCKed by NatSupply, which MediCore
must never see."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LocalServer
from tests.e2e.dashboard.support import axe_violations, signed_in
from tests.e2e.test_stepup_lifecycle import TIMEOUT, bearer, client_token, start_stepup

THIRD = "Third Party Labs"
# MediCore -> NatSupply: two step-ups (one approved, one rejected), one ALLOW, one BLOCK.
LABEL = "ALLOW 1 · STEP_UP 2 · BLOCK 1 · APPROVED 1 · REJECTED 1"
COUNTS = ["1", "2", "1", "1", "1", "0", "0", "6"]  # ALLOW .. REVOKED, total


def _post(server: LocalServer, path: str, token: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, headers=bearer(token), timeout=TIMEOUT)


def _client(server: LocalServer, client_id: str, secret: str) -> str:
    reply = requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


@pytest.fixture(scope="module")
def traffic(server: LocalServer) -> dict[str, str]:
    """The delegations the graph counts, made through the API; the tenants' ids."""
    natsupply = server.state["tenants"]["natsupply"]["tenant_id"]
    agent = client_token(server, "medicore", "agent")
    admin = client_token(server, "natsupply", "admin")
    for decision in ("approve", "reject"):
        started = start_stepup(server, agent, binding_message=f"graph test {decision}")
        reply = _post(server, f"/delegations/{started['delegation_id']}/{decision}", admin, {})
        assert reply.status_code == 200, reply.text
    for action, status in (("stock.write", 201), ("admin.access", 403)):
        reply = _post(
            server, "/delegations/request", agent, {"receiving_tenant_id": natsupply, "action": action}
        )
        assert reply.status_code == status, reply.text

    # A third organisation whose agent NatSupply blocks: NatSupply's counterpart, not MediCore's.
    platform = _client(
        server, server.state["platform"]["client_id"], server.state["platform"]["client_secret"]
    )
    third = _post(server, "/tenants", platform, {"name": THIRD})
    assert third.status_code == 201, third.text
    third_admin = _client(server, third.json()["admin"]["client_id"], third.json()["admin"]["client_secret"])
    third_agent = _post(server, "/agents", third_admin, {"name": "Third agent"})
    assert third_agent.status_code == 201, third_agent.text
    token = _client(server, third_agent.json()["client_id"], third_agent.json()["client_secret"])
    blocked = _post(
        server, "/delegations/request", token, {"receiving_tenant_id": natsupply, "action": "stock.write"}
    )
    assert blocked.status_code == 403, blocked.text
    return {
        "medicore": server.state["tenants"]["medicore"]["tenant_id"],
        "natsupply": natsupply,
        "third": str(third.json()["tenant_id"]),
    }


def graph_row(page: Page, counterpart: str) -> Any:
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=counterpart, exact=True))


def counts_of(row: Any) -> list[str]:
    return [text.strip() for text in row.locator("td.count").all_inner_texts()]


def utc_day(day: date) -> str:
    return f"{day.day} {day.strftime('%B %Y')}"


def test_natsupply_admin_sees_medicores_requests_drawn_and_tabled_and_follows_them(
    browser: Browser, server: LocalServer, traffic: dict[str, str], csp_violations: list[str]
) -> None:
    with signed_in(browser, server, "natsupply_admin", csp_violations) as page:
        page.get_by_role("navigation", name="Pages").get_by_role("link", name="Trust graph").click()
        expect(page.get_by_role("heading", name="Trust graph", level=1)).to_be_visible()

        row = graph_row(page, "MediCore")
        expect(row).to_contain_text("Inbound")
        expect(row).to_contain_text("MediCore → NatSupply")
        assert counts_of(row) == COUNTS
        expect(graph_row(page, THIRD)).to_contain_text(f"{THIRD} → NatSupply")
        assert counts_of(graph_row(page, THIRD)) == ["0", "0", "1", "0", "0", "0", "0", "1"]

        canvas = page.get_by_role("application", name=re.compile("NatSupply's trust graph"))
        expect(canvas).to_be_visible()
        expect(canvas.get_by_text(LABEL, exact=True)).to_be_visible()
        expect(canvas.get_by_role("img", name=f"MediCore → NatSupply: {LABEL}")).to_have_count(1)
        expect(canvas.get_by_text("NatSupply", exact=True)).to_be_visible()
        assert axe_violations(page) == []

        # The window: 7 days back counts from that UTC day on.
        with page.expect_request(re.compile(r"/graph\?since=")) as asked:
            page.get_by_label("Time window").select_option(label="Last 7 days")
        since = parse_qs(urlparse(asked.value.url).query)["since"][0]
        sent = datetime.fromisoformat(since.replace("Z", "+00:00"))
        assert abs(sent - (datetime.now(UTC) - timedelta(days=7))) < timedelta(minutes=5)
        expect(page.get_by_text(f"counted since {utc_day(sent.date())} (UTC)")).to_be_visible()
        assert counts_of(graph_row(page, "MediCore")) == COUNTS

        # Clicking the arrow opens the delegations it counts.
        wanted = f"{server.url}/dashboard/delegations?direction=inbound&counterpart={traffic['medicore']}"
        page.locator(f'[data-id="inbound:{traffic["medicore"]}"] path.react-flow__edge-interaction').click(
            force=True
        )
        expect(page).to_have_url(wanted)
        expect(page.get_by_role("heading", name="Delegations", level=1)).to_be_visible()
        expect(page.get_by_label("Direction")).to_have_value("inbound")
        expect(page.get_by_label("Counterpart tenant id")).to_have_value(traffic["medicore"])

        # The table's link, with the keyboard.
        page.go_back()
        link = graph_row(page, "MediCore").get_by_role("link", name="Inbound delegations with MediCore")
        link.focus()
        page.keyboard.press("Enter")
        expect(page).to_have_url(wanted)
    assert csp_violations == []


def test_medicores_admin_sees_natsupply_but_nothing_of_third_parties(
    browser: Browser, server: LocalServer, traffic: dict[str, str], csp_violations: list[str]
) -> None:
    with signed_in(browser, server, "medicore_admin", csp_violations) as page:
        page.goto(f"{server.url}/dashboard/graph")
        row = graph_row(page, "NatSupply")
        expect(row).to_contain_text("Outbound")
        expect(row).to_contain_text("MediCore → NatSupply")
        assert counts_of(row) == COUNTS
        expect(page.locator("table.graph-table tbody tr")).to_have_count(1)
        canvas = page.get_by_role("application", name=re.compile("MediCore's trust graph"))
        expect(canvas.get_by_text(LABEL, exact=True)).to_be_visible()
        body = page.locator("body").inner_text()
        assert THIRD not in body and traffic["third"] not in body
        assert axe_violations(page) == []
    assert csp_violations == []


def test_the_approver_is_not_offered_policies_and_the_api_refuses_them(
    browser: Browser, server: LocalServer, csp_violations: list[str]
) -> None:
    with signed_in(browser, server, "natsupply_approver", csp_violations) as page:
        nav = page.get_by_role("navigation", name="Pages")
        expect(nav.get_by_role("link", name="Delegations")).to_be_visible()
        expect(nav.get_by_role("link", name="Policies")).to_have_count(0)
        page.goto(f"{server.url}/dashboard/policies")
        expect(page.get_by_role("heading", name="Not available to your role", level=1)).to_be_visible()
        refused = page.evaluate(
            """async () => {
                const session = await (await fetch('/auth/session')).json();
                const reply = await fetch('/policies', {method: 'PUT', headers: {
                    'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf_token},
                    body: JSON.stringify({action: 'stock.*', effect: 'ALLOW'})});
                return [session.role, reply.status, (await reply.json()).error];
            }"""
        )
        assert refused == ["approver", 403, "forbidden"]
    assert csp_violations == []


def test_natsupply_admin_creates_evaluates_and_deletes_a_policy(
    browser: Browser, server: LocalServer, traffic: dict[str, str], csp_violations: list[str]
) -> None:
    medicore = traffic["medicore"]
    with signed_in(browser, server, "natsupply_admin", csp_violations) as page:
        page.get_by_role("navigation", name="Pages").get_by_role("link", name="Policies").click()
        expect(page.get_by_role("heading", name="Policies", level=1)).to_be_visible()
        expect(page.get_by_role("rowheader", name="requisition.submit")).to_be_visible()  # the demo's
        assert axe_violations(page) == []

        form = page.get_by_role("form", name="New policy")
        form.get_by_label("Action").fill("catalog.*")
        form.get_by_role("radio", name=re.compile("^STEP_UP")).check()
        form.get_by_role("radio", name="One organisation").check()
        form.get_by_label("Requesting tenant id").fill(medicore)
        form.get_by_label("Token lifetime (seconds)").fill("900")
        form.get_by_label("Step-up expiry (seconds)").fill("120")
        form.get_by_role("button", name="Create policy").click()
        created = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="catalog.*"))
        expect(created).to_contain_text("STEP_UP")
        expect(created).to_contain_text(medicore)
        expect(created).to_contain_text("900 s")
        expect(page.get_by_text(f"Saved: catalog.* from {medicore} → STEP_UP.")).to_be_visible()

        panel = page.get_by_role("region", name="What would happen?")
        panel.get_by_label("Requesting tenant id").fill(medicore)
        panel.get_by_label("Action").fill("catalog.read")
        panel.get_by_role("button", name="Evaluate").click()
        answer = panel.get_by_role("status")
        expect(answer).to_contain_text("Decision: STEP_UP")
        expect(answer).to_contain_text(f"Deciding policy: catalog.* from {medicore} (STEP_UP)")
        expect(created).to_contain_text("Decides the evaluated request")
        expect(page.get_by_text("Decides the evaluated request")).to_have_count(1)
        assert axe_violations(page) == []

        page.get_by_role("button", name=f"Delete catalog.* from {medicore}").click()
        dialog = page.get_by_role("dialog", name="Delete this policy?")
        expect(dialog).to_contain_text("catalog.*")
        dialog.get_by_role("button", name="Delete policy").click()
        expect(dialog).to_be_hidden()
        expect(created).to_have_count(0)
        expect(page.get_by_text(f"Deleted: catalog.* from {medicore}.")).to_be_visible()

        # Without it, the same question falls to no policy: BLOCK.
        panel.get_by_role("button", name="Evaluate").click()
        expect(answer).to_contain_text("Decision: BLOCK")
        expect(answer).to_contain_text("No policy decides")
    assert csp_violations == []
