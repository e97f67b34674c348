"""The README's screenshots of the dashboard, made reproducibly: `make screenshots`.

Starts `make run`'s server on free ports with a throw-away state directory, has MediCore's
demo agent ask NatSupply for a few things through the API (an ALLOW, a BLOCK, step-ups approved,
rejected and waiting), signs in as NatSupply's approver and admin through the local identity
provider in Debian's Chromium, and saves the pending queue and the trust graph to docs/."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR))

from tests.e2e.conftest import LocalServer, free_port  # noqa: E402
from tests.e2e.dashboard.support import CHROMIUM, CHROMIUM_ARGS, sign_in  # noqa: E402
from tests.e2e.test_stepup_lifecycle import bearer, client_token, start_stepup  # noqa: E402

DOCS = PROJECT_DIR / "docs"
VIEWPORT = {"width": 1280, "height": 860}


def traffic(server: LocalServer) -> None:
    natsupply = server.state["tenants"]["natsupply"]["tenant_id"]
    agent = client_token(server, "medicore", "agent")
    admin = bearer(client_token(server, "natsupply", "admin"))
    for action in ("stock.write", "stock.write", "admin.access"):
        requests.post(
            f"{server.url}/delegations/request",
            json={"receiving_tenant_id": natsupply, "action": action},
            headers=bearer(agent),
            timeout=30,
        )
    for number, decision in (("R-4401", "approve"), ("R-4402", "approve"), ("R-4403", "reject")):
        started = start_stepup(server, agent, binding_message=f"Requisition {number}: ward supplies")
        requests.post(
            f"{server.url}/delegations/{started['delegation_id']}/{decision}",
            json={},
            headers=admin,
            timeout=30,
        )
    start_stepup(
        server,
        agent,
        binding_message="Requisition R-4411: 12 boxes of nitrile gloves",
        purpose="Restock ward 3 before the weekend",
    )
    start_stepup(
        server,
        agent,
        binding_message="Requisition R-4412: 400 vials of insulin",
        purpose="Monthly pharmacy order",
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalServer(free_port(), Path(tmp) / "state")
        server.extra_env = {"VAULTGUARD_IDP_PORT": str(free_port())}
        server.start()
        try:
            traffic(server)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                for person, page_path, ready, target in (
                    ("natsupply_approver", "", "R-4412", "dashboard-queue.png"),
                    ("natsupply_admin", "graph", "MediCore", "dashboard-graph.png"),
                ):
                    context = browser.new_context(viewport=VIEWPORT)
                    page = context.new_page()
                    sign_in(page, server, person)
                    page.goto(f"{server.url}/dashboard/{page_path}")
                    expect(page.get_by_text(ready).first).to_be_visible(timeout=10_000)
                    page.wait_for_timeout(800)  # the graph's layout settles
                    page.screenshot(path=str(DOCS / target), full_page=False)
                    print(f"wrote docs/{target}")
                    context.close()
                browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
