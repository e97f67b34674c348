"""`vaultguard`, the approver's CLI (the SDK's console script), against the real local server."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from vaultguard._cli import main

from tests.e2e.conftest import LocalServer
from tests.e2e.test_stepup_lifecycle import (
    TIMEOUT,
    bearer,
    cli,
    client_token,
    error_of,
    poll,
    start_stepup,
)

# The console script `make` installs into the venv (.venv/bin/vaultguard), beside this Python.
CONSOLE_SCRIPT = Path(sys.executable).parent / "vaultguard"


@pytest.fixture(scope="module")
def agent(server: LocalServer) -> str:
    return client_token(server, "medicore", "agent")


@pytest.fixture(scope="module")
def admin(server: LocalServer) -> str:
    return client_token(server, "natsupply", "admin")


def status_of(server: LocalServer, admin: str, delegation_id: str) -> dict[str, object]:
    reply = requests.get(f"{server.url}/delegations/{delegation_id}", headers=bearer(admin), timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def assert_clean_failure(run_out: str, run_err: str) -> None:
    assert "Traceback" not in run_out + run_err
    assert run_err.startswith("vaultguard: error: ") and run_err.count("\n") == 1, run_err


# -- pending -------------------------------------------------------------------------------


def test_pending_lists_the_request_with_its_binding_message(server: LocalServer, agent: str) -> None:
    started = start_stepup(
        server, agent, binding_message="REQ-CLI-0042", purpose="restock gloves", ttl_seconds=1800
    )

    run = cli(server, "pending")
    assert run.code == 0, run.err
    header, _, *rows = run.out.splitlines()
    for column in ("ID", "FROM", "AGENT", "ACTION", "BINDING MESSAGE", "PURPOSE", "TTL", "TIME LEFT"):
        assert column in header
    [row] = [r for r in rows if started["delegation_id"] in r]
    assert "MediCore" in row and "requisition.submit" in row
    assert "REQ-CLI-0042" in row and "restock gloves" in row
    # The requested TTL, then the time left before the request expires (300 s by policy).
    assert re.search(r"  30m  +(5m|4m( \d+s)?|\d+s)$", row), row

    as_json = cli(server, "pending", "--json")
    assert as_json.code == 0, as_json.err
    [item] = [i for i in json.loads(as_json.out) if i["delegation_id"] == started["delegation_id"]]
    assert item["binding_message"] == "REQ-CLI-0042" and item["auth_req_id"] == started["auth_req_id"]

    # MediCore is the requesting side: nothing is pending for its approvers.
    medicore = cli(server, "pending", "--tenant", "medicore")
    assert medicore.code == 0, medicore.err
    assert started["delegation_id"] not in medicore.out
    assert "REQ-CLI-0042" not in medicore.out


# -- approve / reject ----------------------------------------------------------------------


@pytest.mark.parametrize("by", ["delegation_id", "auth_req_id"])
def test_approve_by_either_id_then_the_agent_gets_its_token(
    server: LocalServer, agent: str, admin: str, by: str
) -> None:
    started = start_stepup(server, agent, binding_message=f"REQ-BY-{by.upper()}")

    run = cli(server, "approve", started[by], "--reason", "standing order")
    assert run.code == 0, run.err
    assert run.out.startswith(f"Approved {started['delegation_id']}: MediCore")
    assert "status ACTIVE" in run.out and "standing order" in run.out

    view = status_of(server, admin, started["delegation_id"])
    assert view["status"] == "ACTIVE" and view["decision_reason"] == "standing order"
    granted = poll(server, started["auth_req_id"])
    assert granted.status_code == 200, granted.text
    assert granted.json()["scope"] == "requisition.submit"
    assert started["delegation_id"] not in cli(server, "pending").out


def test_reject_by_auth_req_id_is_access_denied_for_the_agent(
    server: LocalServer, agent: str, admin: str
) -> None:
    started = start_stepup(server, agent, binding_message="REQ-NO")
    run = cli(server, "reject", started["auth_req_id"], "--reason", "duplicate order")
    assert run.code == 0, run.err
    assert run.out.startswith(f"Rejected {started['delegation_id']}")
    assert status_of(server, admin, started["delegation_id"])["status"] == "REJECTED"
    assert error_of(poll(server, started["auth_req_id"])) == (400, "access_denied")


# -- errors: exit 1, the API's error on one line, never a traceback -------------------------


def test_unknown_ids_print_the_api_error(server: LocalServer) -> None:
    for verb, unknown in (
        ("approve", "dlg_" + "0" * 44),
        ("reject", "dlg_" + "f" * 44),
        ("approve", "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg"),  # a plausible auth_req_id
    ):
        run = cli(server, verb, unknown)
        assert run.code == 1, run.out
        assert_clean_failure(run.out, run.err)
        assert "not_found: No such resource." in run.err and "HTTP 404" in run.err
        assert run.out == ""


def test_deciding_twice_or_from_the_wrong_tenant_fails_cleanly(server: LocalServer, agent: str) -> None:
    started = start_stepup(server, agent, binding_message="REQ-TWICE")

    wrong_side = cli(server, "approve", started["delegation_id"], "--tenant", "medicore")
    assert wrong_side.code == 1
    assert_clean_failure(wrong_side.out, wrong_side.err)
    assert "not_found" in wrong_side.err  # MediCore's admin cannot even see it

    assert cli(server, "approve", started["delegation_id"]).code == 0
    again = cli(server, "reject", started["auth_req_id"])
    assert again.code == 1
    assert_clean_failure(again.out, again.err)
    assert "already_decided: The step-up request was already approved or rejected." in again.err
    assert "HTTP 409" in again.err


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["approve", "not an id!"], {}, "is neither a delegation id"),
        (["pending", "--tenant", "acme"], {}, "no tenant 'acme'"),
        (
            ["pending"],
            {"VAULTGUARD_CLIENT_ID": "vgc_nobody", "VAULTGUARD_CLIENT_SECRET": "wrong"},
            "invalid_client: Client authentication failed.",
        ),
        (["pending"], {"VAULTGUARD_CLIENT_ID": "vgc_only_half"}, "together"),
        (["pending", "--api-url", "http://127.0.0.1:9"], {}, "cannot reach VaultGuard at http://127.0.0.1:9"),
        (["pending", "--api-url", "ftp://example.org"], {}, "is not an http(s) URL"),
    ],
)
def test_configuration_and_api_errors_are_one_clear_line(
    server: LocalServer, argv: list[str], environ: dict[str, str], message: str
) -> None:
    run = cli(server, *argv, environ=environ)
    assert run.code == 1, (run.out, run.err)
    assert_clean_failure(run.out, run.err)
    assert message in run.err


def test_missing_state_file_explains_what_to_do(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["pending"], environ={"VAULTGUARD_STATE_DIR": str(tmp_path)}, stdout=out, stderr=err) == 1
    assert f"no state file at {tmp_path / 'local.json'}" in err.getvalue()
    assert "make run" in err.getvalue() and "Traceback" not in err.getvalue()


def test_environment_overrides_the_state_file_for_a_deployed_stack(
    server: LocalServer, agent: str, tmp_path: Path
) -> None:
    """With VAULTGUARD_API_URL and the admin's id and secret in the environment, no state
    file is needed (as against a deployed stack)."""
    started = start_stepup(server, agent, binding_message="REQ-DEPLOYED")
    admin = server.state["tenants"]["natsupply"]["admin"]
    environ = {
        "VAULTGUARD_STATE_DIR": str(tmp_path / "nowhere"),
        "VAULTGUARD_API_URL": server.url,
        "VAULTGUARD_CLIENT_ID": admin["client_id"],
        "VAULTGUARD_CLIENT_SECRET": admin["client_secret"],
    }
    out, err = io.StringIO(), io.StringIO()
    assert main(["pending"], environ=environ, stdout=out, stderr=err) == 0, err.getvalue()
    assert "REQ-DEPLOYED" in out.getvalue()
    out = io.StringIO()
    assert main(["reject", started["delegation_id"]], environ=environ, stdout=out, stderr=err) == 0
    assert out.getvalue().startswith(f"Rejected {started['delegation_id']}")


# -- the executable ------------------------------------------------------------------------


def test_the_console_script_lists_and_decides_and_its_hint_works_as_printed(
    server: LocalServer, agent: str
) -> None:
    assert os.access(CONSOLE_SCRIPT, os.X_OK), "the SDK's console script is not installed"
    started = start_stepup(server, agent, binding_message="REQ-SUBPROCESS")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTGUARD_")}
    # As for someone who has not activated the venv: `vaultguard` alone is not on PATH.
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != CONSOLE_SCRIPT.parent
    )
    state = str(server.state_dir / "local.json")

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CONSOLE_SCRIPT), *argv, "--state", state],
            cwd="/",  # works from anywhere
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    listed = run("pending")
    assert listed.returncode == 0, listed.stderr
    assert "REQ-SUBPROCESS" in listed.stdout
    # The hint names this very program and the state file, so it works when pasted.
    hint = re.search(r"Decide with `([^`]+)`", listed.stdout)
    assert hint is not None, listed.stdout
    assert hint.group(1) == f"{CONSOLE_SCRIPT} approve <ID> --state {state}"
    pasted = subprocess.run(
        hint.group(1).replace("<ID>", started["delegation_id"]),
        shell=True,
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pasted.returncode == 0, pasted.stderr
    assert pasted.stdout.startswith(f"Approved {started['delegation_id']}")
    failed = run("approve", started["delegation_id"])
    assert failed.returncode == 1
    assert "already_decided" in failed.stderr and "Traceback" not in failed.stderr
    usage = run("frobnicate")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
