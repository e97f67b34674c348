"""`vaultguard tenants|agents|policies|delegations|audit`, against the real local server."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import LocalServer
from tests.e2e.test_cli import assert_clean_failure, status_of
from tests.e2e.test_stepup_lifecycle import TIMEOUT, bearer, cli, client_token, start_stepup


def token_reply(server: LocalServer, client_id: str, client_secret: str) -> requests.Response:
    return requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, client_secret),
        timeout=TIMEOUT,
    )


def cli_json(server: LocalServer, *argv: str) -> Any:
    run = cli(server, *argv, "--json")
    assert run.code == 0, run.err
    return json.loads(run.out)


@pytest.fixture(scope="module")
def agent(server: LocalServer) -> str:
    return client_token(server, "medicore", "agent")


@pytest.fixture(scope="module")
def admin(server: LocalServer) -> str:
    return client_token(server, "natsupply", "admin")


# -- agents --------------------------------------------------------------------------------


def test_agent_create_then_rotate_refuses_the_old_secret(server: LocalServer) -> None:
    created = cli(server, "agents", "create", "CLI bot", "--description", "made by the CLI")
    assert created.code == 0, created.err
    assert "store the client secret now" in created.err and "warning" in created.err
    fields = dict(line.split(None, 1) for line in created.out.splitlines())
    agent_id, client_id, old_secret = fields["agent_id"], fields["client_id"], fields["client_secret"]
    assert fields["name"] == "CLI bot" and fields["status"] == "ACTIVE"
    assert token_reply(server, client_id, old_secret).status_code == 200

    listed = cli(server, "agents", "list")
    assert listed.code == 0, listed.err
    assert "AGENT ID" in listed.out.splitlines()[0]
    [row] = [r for r in listed.out.splitlines() if agent_id in r]
    assert "CLI bot" in row and client_id in row
    assert "client_secret" not in listed.out and old_secret not in listed.out

    rotated = cli_json(server, "agents", "rotate", agent_id)
    assert rotated["agent_id"] == agent_id and rotated["client_id"] == client_id
    new_secret = rotated["client_secret"]
    assert new_secret != old_secret
    refused = token_reply(server, client_id, old_secret)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert token_reply(server, client_id, new_secret).status_code == 200

    # Another tenant's admin cannot rotate it.
    other = cli(server, "agents", "rotate", agent_id, "--tenant", "medicore")
    assert other.code == 1
    assert_clean_failure(other.out, other.err)
    assert "not_found" in other.err


# -- policies ------------------------------------------------------------------------------


def test_policy_set_list_delete(server: LocalServer) -> None:
    medicore = server.state["tenants"]["medicore"]["tenant_id"]
    run = cli(
        server,
        "policies",
        "set",
        "inventory.read",
        "step_up",
        "--requester",
        medicore,
        "--ttl",
        "600",
        "--stepup-expiry",
        "120",
    )
    assert run.code == 0, run.err
    assert f"inventory.read from {medicore} -> STEP_UP" in run.out
    assert "token TTL 10m" in run.out and "step-up expiry 2m" in run.out

    [policy] = [p for p in cli_json(server, "policies", "list") if p["action"] == "inventory.read"]
    assert policy["effect"] == "STEP_UP" and policy["requesting_tenant_id"] == medicore
    assert policy["ttl_seconds"] == 600 and policy["stepup_expiry_seconds"] == 120
    table = cli(server, "policies", "list")
    assert table.code == 0 and policy["policy_id"] in table.out
    assert "requisition.submit" in table.out  # the seeded ones are listed too

    # Setting it again replaces it (same id); the effect changes.
    again = cli_json(server, "policies", "set", "inventory.read", "BLOCK", "--requester", medicore)
    assert again["policy_id"] == policy["policy_id"] and again["effect"] == "BLOCK"

    deleted = cli(server, "policies", "delete", policy["policy_id"])
    assert deleted.code == 0, deleted.err
    assert deleted.out == f"Deleted policy {policy['policy_id']}.\n"
    assert policy["policy_id"] not in cli(server, "policies", "list").out

    gone = cli(server, "policies", "delete", policy["policy_id"])
    assert gone.code == 1
    assert_clean_failure(gone.out, gone.err)
    assert "not_found" in gone.err and "HTTP 404" in gone.err


def test_policy_set_rejects_a_bad_effect_as_usage_error(server: LocalServer) -> None:
    assert cli(server, "policies", "set", "inventory.read", "MAYBE").code == 2
    bad = cli(server, "policies", "set", "not an action!", "ALLOW")
    assert bad.code == 1
    assert_clean_failure(bad.out, bad.err)
    assert "invalid_request" in bad.err


# -- delegations ---------------------------------------------------------------------------


def test_delegations_list_and_revoke(server: LocalServer, agent: str, admin: str) -> None:
    started = start_stepup(server, agent, binding_message="REQ-REVOKE")
    dlg = started["delegation_id"]
    pending = cli(server, "delegations", "list", "--status", "pending")
    assert pending.code == 0, pending.err
    [row] = [r for r in pending.out.splitlines() if dlg in r]
    assert "MediCore" in row and "PENDING" in row

    assert cli(server, "pending", "approve", dlg).code == 0
    active = cli_json(server, "delegations", "list", "--status", "ACTIVE")
    assert dlg in {d["delegation_id"] for d in active}
    outbound = cli_json(server, "delegations", "list", "--direction", "outbound", "--tenant", "medicore")
    assert dlg in {d["delegation_id"] for d in outbound}

    revoked = cli(server, "delegations", "revoke", dlg, "--reason", "contract ended")
    assert revoked.code == 0, revoked.err
    assert revoked.out.startswith(f"Revoked {dlg}: requisition.submit (status REVOKED)")
    assert status_of(server, admin, dlg)["status"] == "REVOKED"
    assert dlg not in {
        d["delegation_id"] for d in cli_json(server, "delegations", "list", "--status", "ACTIVE")
    }

    bad = cli(server, "delegations", "revoke", "not-a-delegation")
    assert bad.code == 1
    assert_clean_failure(bad.out, bad.err)
    assert "is not a delegation id" in bad.err
    wrong = cli(server, "delegations", "list", "--status", "BOGUS")
    assert wrong.code == 1
    assert_clean_failure(wrong.out, wrong.err)
    assert "invalid_request" in wrong.err


# -- audit ---------------------------------------------------------------------------------


def test_audit_tail_shows_recent_events(server: LocalServer) -> None:
    cli(server, "policies", "set", "audit.probe", "ALLOW")
    run = cli(server, "audit", "tail", "--limit", "5")
    assert run.code == 0, run.err
    header, _, *rows = run.out.splitlines()
    for column in ("TIME", "TYPE", "ACTOR", "ACTION"):
        assert column in header
    assert 1 <= len(rows) <= 5
    # Newest last, like tail(1): the policy change, then at most the tail's own sign-in.
    assert [r for r in rows if "policy.upserted" in r and "audit.probe" in r]
    assert rows[-1].split()[1] in {"policy.upserted", "token.issued"}

    events = cli_json(server, "audit", "tail", "--limit", "300", "--type", "policy.upserted")
    assert events and {e["type"] for e in events} == {"policy.upserted"}
    assert events[-1]["action"] == "audit.probe"
    times = [e["occurred_at"] for e in events]
    assert times == sorted(times)

    bad = cli(server, "audit", "tail", "--type", "no.such.type")
    assert bad.code == 1
    assert_clean_failure(bad.out, bad.err)
    assert "Unknown event type(s): no.such.type" in bad.err


def test_audit_export_writes_a_csv_file(server: LocalServer, tmp_path: Path) -> None:
    target = tmp_path / "audit.csv"
    run = cli(server, "audit", "export", "--output", str(target))
    assert run.code == 0, run.err
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows and "type" in rows[0] and "occurred_at" in rows[0]
    assert run.out == f"Wrote {len(rows)} audit events to {target}.\n"
    assert not list(tmp_path.glob(".*partial"))

    to_stdout = cli(server, "audit", "export", "--type", "tenant.created")
    assert to_stdout.code == 0, to_stdout.err
    header, *lines = to_stdout.out.splitlines()
    assert header == target.read_text(encoding="utf-8").splitlines()[0]
    assert lines and all("tenant.created" in line for line in lines)

    unwritable = cli(server, "audit", "export", "--output", str(tmp_path / "missing" / "a.csv"))
    assert unwritable.code == 1
    assert_clean_failure(unwritable.out, unwritable.err)
    assert "cannot write" in unwritable.err


# -- tenants (platform) --------------------------------------------------------------------


def test_tenants_create_and_list_as_platform(server: LocalServer) -> None:
    created = cli(server, "tenants", "create", "Acme Hospital", "--as", "platform", "--json")
    assert created.code == 0, created.err
    assert "store the client secret now" in created.err
    view = json.loads(created.out)
    assert view["name"] == "Acme Hospital" and view["tenant_id"].startswith("tnt_")
    admin = view["admin"]
    reply = token_reply(server, admin["client_id"], admin["client_secret"])
    assert reply.status_code == 200, reply.text
    # The new admin can use the API right away (an empty tenant).
    agents = requests.get(
        f"{server.url}/agents", headers=bearer(reply.json()["access_token"]), timeout=TIMEOUT
    )
    assert agents.json() == {"agents": []}

    listed = cli(server, "tenants", "list")  # `tenants` defaults to the platform block
    assert listed.code == 0, listed.err
    assert "Acme Hospital" in listed.out and view["tenant_id"] in listed.out
    assert "MediCore" in listed.out and "NatSupply" in listed.out

    as_admin = cli(server, "tenants", "list", "--as", "admin")
    assert as_admin.code == 1
    assert_clean_failure(as_admin.out, as_admin.err)
    assert "HTTP 403" in as_admin.err


def test_platform_credentials_from_the_environment(server: LocalServer, tmp_path: Path) -> None:
    platform = server.state["platform"]
    environ = {
        "VAULTGUARD_STATE_DIR": str(tmp_path / "nowhere"),
        "VAULTGUARD_API_URL": server.url,
        "VAULTGUARD_CLIENT_ID": platform["client_id"],
        "VAULTGUARD_CLIENT_SECRET": platform["client_secret"],
    }
    from vaultguard._cli import main

    out, err = io.StringIO(), io.StringIO()
    assert main(["tenants", "list", "--json"], environ=environ, stdout=out, stderr=err) == 0, err.getvalue()
    assert {"MediCore", "NatSupply"} <= {t["name"] for t in json.loads(out.getvalue())}
