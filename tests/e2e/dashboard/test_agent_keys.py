"""Key-based agents in a real browser (issue 15 items 5-6): NatSupply's admin registers an
agent by pasting its public JWK, moves a secret-based agent to keys (its secret stops working
at once, its key works), and sets a policy that refuses secret-authenticated agents.

Screenshots of each test land in the test's tmp dir (printed on failure)."""

from __future__ import annotations

import json
import re
import time
import uuid

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import LocalServer
from tests.e2e.dashboard.support import axe_violations, signed_in
from tests.e2e.dashboard.test_admin_pages import open_page, row_of, token_request

TIMEOUT = 60


def public_jwk(key: ec.EllipticCurvePrivateKey) -> str:
    return json.dumps({**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1"})


def assertion_token(
    server: LocalServer, client_id: str, key: ec.EllipticCurvePrivateKey
) -> requests.Response:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{server.url}/oauth/token",
        "iat": now,
        "exp": now + 60,
    }
    assertion = jwt.encode({**claims, "jti": uuid.uuid4().hex}, key, algorithm="ES256", headers={"kid": "k1"})
    return requests.post(
        f"{server.url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        timeout=TIMEOUT,
    )


def test_register_with_a_key_and_move_a_secret_agent_to_keys(
    browser: Browser, server: LocalServer, csp_violations: list[str]
) -> None:
    with signed_in(browser, server, "natsupply_admin", csp_violations) as admin:
        open_page(admin, "Agents")
        form = admin.get_by_role("form", name="Register an agent")
        form.get_by_label("Name", exact=True).fill("keyed-bot")
        form.get_by_role("radio", name="Paste its public key").check()
        form.get_by_label("Public key (JWK or JWK set)").fill(
            public_jwk(ec.generate_private_key(ec.SECP256R1()))
        )
        assert axe_violations(admin) == []
        form.get_by_role("button", name="Register agent").click()
        expect(admin.get_by_role("status").filter(has_text="keyed-bot is registered")).to_be_visible()
        expect(admin.get_by_role("dialog")).to_have_count(0)  # no secret to show
        expect(row_of(admin, "keyed-bot")).to_contain_text("Registered keys")

        # A secret-based agent, then moved to keys.
        form.get_by_label("Name", exact=True).fill("moving-bot")
        form.get_by_role("radio", name="A client secret (shown once)").check()
        form.get_by_role("button", name="Register agent").click()
        panel = admin.get_by_role("dialog", name="Copy the secret of “moving-bot” now")
        secret = panel.locator(".once-value code").inner_text()
        panel.get_by_role("button", name="Done").click()
        row = row_of(admin, "moving-bot")
        expect(row).to_contain_text("Client secret")
        client_id = row.locator("code").first.inner_text()
        assert token_request(server, client_id, secret).status_code == 200

        key = ec.generate_private_key(ec.SECP256R1())
        row.get_by_role("button", name="Move to keys: moving-bot").click()
        move = admin.get_by_role("form", name="Move “moving-bot” to keys")
        move.get_by_label("Public key (JWK or JWK set)").fill(public_jwk(key))
        assert axe_violations(admin) == []
        move.get_by_role("button", name="Move to keys").click()
        dialog = admin.get_by_role("dialog", name="Stop the client secret of “moving-bot”?")
        expect(dialog).to_be_visible()
        assert axe_violations(admin) == []
        dialog.get_by_role("button", name="Move to keys").click()
        expect(
            admin.get_by_role("status").filter(has_text="moving-bot now signs in with its key")
        ).to_be_visible()
        expect(row).to_contain_text("Registered keys")
        expect(row.get_by_role("button", name=re.compile("Rotate secret"))).to_have_count(0)

        refused = token_request(server, client_id, secret)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert assertion_token(server, client_id, key).status_code == 200
        admin.screenshot(path=str(server.state_dir / "agent-keys.png"))
    assert csp_violations == []


def test_a_policy_can_require_key_based_agents(
    browser: Browser, server: LocalServer, csp_violations: list[str]
) -> None:
    with signed_in(browser, server, "natsupply_admin", csp_violations) as admin:
        open_page(admin, "Policies")
        form = admin.get_by_role("form", name="New policy")
        form.get_by_label("Action").fill("ledger.write")
        form.get_by_role("radio", name=re.compile("^ALLOW")).check()
        form.get_by_role("radio", name="Any organisation").check()
        form.get_by_label("Maximum token lifetime (seconds)").fill("600")
        form.get_by_role("checkbox", name=re.compile("Require key-based agents")).check()
        assert axe_violations(admin) == []
        form.get_by_role("button", name="Create policy").click()
        row = admin.get_by_role("row").filter(
            has=admin.get_by_role("rowheader", name=re.compile("ledger.write"))
        )
        expect(row).to_contain_text("Keys only (no client secret)")
        expect(row).to_contain_text("600 s")
    assert csp_violations == []
