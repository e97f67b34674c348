"""The delegations list and detail, and the audit log, in a real browser: NatSupply's admin
revokes MediCore's ALLOWed `stock.write` delegation through the confirmation, finds the
revocation in the audit log and exports it as CSV; MediCore's admin sees none of NatSupply's own
events and cannot open a delegation it is not party to."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import LocalServer
from tests.e2e.dashboard.support import axe_violations, no_storage_secrets, signed_in
from tests.e2e.test_stepup_lifecycle import TIMEOUT, bearer, client_token


def allowed(server: LocalServer, agent_token: str, purpose: str) -> dict[str, Any]:
    """MediCore's agent asks NatSupply for stock.write, which the demo policy ALLOWs."""
    reply = requests.post(
        f"{server.url}/delegations/request",
        json={
            "receiving_tenant_id": server.state["tenants"]["natsupply"]["tenant_id"],
            "action": "stock.write",
            "purpose": purpose,
            "binding_message": f"Restock: {purpose}",
        },
        headers=bearer(agent_token),
        timeout=TIMEOUT,
    )
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def api(server: LocalServer, method: str, path: str, token: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{server.url}{path}", json=body, headers=bearer(token), timeout=TIMEOUT)


def test_natsupply_admin_revokes_a_delegation_from_its_detail_view(
    browser: Browser, server: LocalServer, csp_violations: list[str], tmp_path: Path
) -> None:
    agent = client_token(server, "medicore", "agent")
    natsupply = client_token(server, "natsupply", "admin")
    granted = allowed(server, agent, "ward 7 gloves")
    delegation_id = granted["delegation_id"]
    assert api(server, "POST", "/delegations/verify", natsupply, {"token": granted["access_token"]}).json()[
        "active"
    ]

    with signed_in(browser, server, "natsupply_admin", csp_violations) as page:
        medicore_id = server.state["tenants"]["medicore"]["tenant_id"]
        page.goto(
            f"{server.url}/dashboard/delegations?direction=inbound&status=ACTIVE&counterpart={medicore_id}"
        )
        expect(page.get_by_label("Status")).to_have_value("ACTIVE")
        expect(page.get_by_label("Counterpart tenant id")).to_have_value(medicore_id)
        rows = page.get_by_role("row").filter(has=page.get_by_role("link"))
        expect(rows.first).to_be_visible()
        assert axe_violations(page) == []
        # changing a filter changes the address (replace: Back leaves the page, not the filter)
        page.get_by_label("Direction").select_option("outbound")
        expect(page).to_have_url(re.compile(r"direction=outbound"))
        page.get_by_label("Direction").select_option("inbound")
        expect(page).to_have_url(re.compile(r"direction=inbound&status=ACTIVE&counterpart="))

        page.locator(f'a[href="/dashboard/delegations/{delegation_id}"]').click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("stock.write ACTIVE")
        expect(page.get_by_text("Restock: ward 7 gloves")).to_be_visible()
        timeline = page.get_by_role("region", name="Timeline").get_by_role("listitem")
        expect(timeline.first).to_be_visible()
        assert "delegation.allowed" in " ".join(timeline.all_inner_texts())
        assert axe_violations(page) == []

        page.get_by_role("button", name="Revoke").click()
        dialog = page.get_by_role("dialog", name="Revoke this delegation?")
        expect(dialog).to_contain_text("loses stock.write at NatSupply at once")
        assert axe_violations(page) == []
        dialog.get_by_role("button", name="Revoke delegation").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("stock.write REVOKED")
        expect(page.get_by_role("status")).to_have_text("The delegation was revoked.")
        expect(timeline.last).to_contain_text("delegation.revoked")
        expect(page.get_by_role("button", name="Revoke")).to_have_count(0)
        assert no_storage_secrets(page) == {}
        page.screenshot(path=str(tmp_path / "detail.png"), full_page=True)

    assert api(server, "GET", f"/delegations/{delegation_id}", agent).json()["status"] == "REVOKED"
    assert api(
        server, "POST", "/delegations/verify", natsupply, {"token": granted["access_token"]}
    ).json() == {"active": False}
    assert csp_violations == []


def test_the_audit_log_filters_by_type_and_exports_the_same_rows(
    browser: Browser, server: LocalServer, csp_violations: list[str], tmp_path: Path
) -> None:
    natsupply = client_token(server, "natsupply", "admin")
    revoked = allowed(server, client_token(server, "medicore", "agent"), "audit walk")["delegation_id"]
    assert api(server, "POST", f"/delegations/{revoked}/revoke", natsupply).status_code == 200

    with signed_in(browser, server, "natsupply_admin", csp_violations) as page:
        page.get_by_role("link", name="Audit log").click()
        expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
        page.get_by_label("Event type").select_option("delegation.revoked")
        page.get_by_role("button", name="Apply filters").click()
        expect(page).to_have_url(re.compile(r"/dashboard/audit\?type=delegation\.revoked$"))
        expect(page.get_by_role("form", name="Filter the audit log")).to_have_count(1)
        row = page.get_by_role("row").filter(has_text=revoked)
        expect(row).to_have_count(1)
        expect(row).to_contain_text("delegation.revoked (refused or ended)")
        row.get_by_text("JSON").click()
        expect(row.locator("pre")).to_contain_text(f'"delegation_id": "{revoked}"')
        types = page.locator("tbody tr td:nth-child(2) code").all_inner_texts()
        assert types and set(types) == {"delegation.revoked"}
        assert axe_violations(page) == []
        page.screenshot(path=str(tmp_path / "audit.png"), full_page=True)

        with page.expect_download() as download:
            page.get_by_role("link", name="Export CSV").click()
        with open(download.value.path(), newline="", encoding="utf-8") as f:
            exported = list(csv.DictReader(f))
        assert {r["type"] for r in exported} == {"delegation.revoked"}
        assert revoked in {r["delegation_id"] for r in exported}
        assert len(exported) >= len(types)

        # the delegation column opens the delegation's detail
        row.get_by_role("link", name=revoked).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("REVOKED")
    assert csp_violations == []


def _natsupply_only_delegation(server: LocalServer) -> str:
    """A delegation between NatSupply and a third tenant: MediCore is not party to it."""
    platform = server.state["platform"]
    reply = requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(platform["client_id"], platform["client_secret"]),
        timeout=TIMEOUT,
    )
    third = api(server, "POST", "/tenants", reply.json()["access_token"], {"name": "CareLogix"}).json()
    admin = requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(third["admin"]["client_id"], third["admin"]["client_secret"]),
        timeout=TIMEOUT,
    ).json()["access_token"]
    agent = api(server, "POST", "/agents", admin, {"name": "CareLogix agent"}).json()
    agent_token = requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(agent["client_id"], agent["client_secret"]),
        timeout=TIMEOUT,
    ).json()["access_token"]
    natsupply = client_token(server, "natsupply", "admin")
    policy = {"action": "catalog.read", "effect": "ALLOW", "requesting_tenant_id": third["tenant_id"]}
    assert api(server, "PUT", "/policies", natsupply, policy).status_code in (200, 201)
    asked = api(
        server,
        "POST",
        "/delegations/request",
        agent_token,
        {"receiving_tenant_id": server.state["tenants"]["natsupply"]["tenant_id"], "action": "catalog.read"},
    )
    assert asked.status_code == 201, asked.text
    return str(asked.json()["delegation_id"])


def test_medicore_admin_sees_nothing_of_natsupplys_own(
    browser: Browser, server: LocalServer, csp_violations: list[str], tmp_path: Path
) -> None:
    foreign = _natsupply_only_delegation(server)  # also a policy.upserted in NatSupply's log only

    with signed_in(browser, server, "medicore_admin", csp_violations) as page:
        page.goto(f"{server.url}/dashboard/audit?type=policy.upserted")
        expect(page.get_by_label("Event type")).to_have_value("policy.upserted")
        expect(page.get_by_text("No events match.")).to_be_visible()
        page.goto(f"{server.url}/dashboard/audit?delegation_id={foreign}")
        expect(page.get_by_text("No events match.")).to_be_visible()
        page.goto(f"{server.url}/dashboard/audit")
        expect(page.locator("tbody tr").first).to_be_visible()
        assert foreign not in page.content()
        page.goto(f"{server.url}/dashboard/delegations/{foreign}")
        expect(page.get_by_role("heading", name="Delegation not found")).to_be_visible()
        assert axe_violations(page) == []
        page.screenshot(path=str(tmp_path / "not-found.png"), full_page=True)
    assert csp_violations == []
