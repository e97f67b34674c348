"""`vaultguard users list|invite|set-role|remove`, against the real local server and its
identity provider (the demo people of `make run`)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from vaultguard._cli import main

from tests.e2e.conftest import LocalServer, free_port
from tests.e2e.test_cli import assert_clean_failure
from tests.e2e.test_sign_in_local_idp import Browser
from tests.e2e.test_stepup_lifecycle import CliRun, cli


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = LocalServer(free_port(), tmp_path_factory.mktemp("cli-users") / "state")
    srv.extra_env = {"VAULTGUARD_IDP_PORT": str(free_port())}
    srv.start()
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.stop()


def answering(server: LocalServer, answer: str, *argv: str) -> CliRun:
    """The CLI with `answer` typed at its prompt."""
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [*argv, "--state", str(server.state_dir / "local.json")],
        environ={},
        stdout=out,
        stderr=err,
        stdin=io.StringIO(answer),
    )
    return CliRun(code, out.getvalue(), err.getvalue())


def users(server: LocalServer, *argv: str) -> list[dict[str, Any]]:
    run = cli(server, "users", "list", "--json", *argv)
    assert run.code == 0, run.err
    return list(json.loads(run.out))


def user_id_of(server: LocalServer, email: str) -> str:
    [user] = [u for u in users(server) if u["email"] == email]
    return str(user["user_id"])


def test_list_shows_the_tenants_people_only(server: LocalServer) -> None:
    table = cli(server, "users", "list")
    assert table.code == 0, table.err
    header = table.out.splitlines()[0]
    for column in ("USER ID", "EMAIL", "NAME", "ROLE", "CREATED", "LAST SIGN-IN"):
        assert column in header
    [row] = [r for r in table.out.splitlines() if "approver@natsupply.example" in r]
    assert "Ana Approver" in row and "approver" in row.split()
    assert "admin@medicore.example" not in table.out

    medicore = {u["email"] for u in users(server, "--tenant", "medicore")}
    assert medicore == {"admin@medicore.example"}
    operators = {u["email"]: u["role"] for u in users(server, "--as", "platform")}
    assert operators == {"operator@vaultguard.example": "platform"}


def test_invite_prints_the_one_time_link_once(server: LocalServer) -> None:
    run = cli(server, "users", "invite", "Buyer@NatSupply.example", "--role", "Auditor")
    assert run.code == 0, run.err
    fields = dict(line.split(None, 1) for line in run.out.splitlines())
    assert fields["email"] == "buyer@natsupply.example" and fields["role"] == "auditor"
    assert fields["invitation_id"].startswith("inv_")
    assert fields["invitation_url"].startswith(f"{server.url}/auth/login?invitation=vginv_")
    assert "warning: send the invitation link to buyer@natsupply.example now" in run.err
    assert fields["expires_at"] in run.err
    # Not a user until they sign in; the listing never shows the link.
    listed = cli(server, "users", "list")
    assert "buyer@natsupply.example" not in listed.out and "invitation" not in listed.out

    as_json = cli(
        server,
        "users",
        "invite",
        "ops@vaultguard.example",
        "--role",
        "platform",
        "--as",
        "platform",
        "--json",
    )
    assert as_json.code == 0, as_json.err
    view = json.loads(as_json.out)
    assert view["role"] == "platform" and view["invitation_url"] != fields["invitation_url"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["users", "invite", "not-an-email", "--role", "approver"], "invalid_request"),
        (
            ["users", "invite", "x@natsupply.example", "--role", "platform"],
            "Platform operators are invited with --as platform.",
        ),
        (
            ["users", "invite", "x@vaultguard.example", "--role", "admin", "--as", "platform"],
            "invalid_request",
        ),
        (["users", "set-role", "usr_00000000000000000000", "auditor"], "HTTP 404"),
        (["users", "remove", "../agents", "--yes"], "is not a user id"),
        (["users", "list", "--as", "admin", "--client-id", "nobody", "--client-secret", "x"], "HTTP 401"),
    ],
)
def test_refusals_are_one_clear_line(server: LocalServer, argv: list[str], message: str) -> None:
    run = cli(server, *argv)
    assert run.code == 1, (run.out, run.err)
    assert_clean_failure(run.out, run.err)
    assert message in run.err


def test_bad_roles_are_usage_errors(server: LocalServer) -> None:
    assert cli(server, "users", "invite", "x@natsupply.example").code == 2  # --role is required
    assert cli(server, "users", "invite", "x@natsupply.example", "--role", "owner").code == 2
    assert cli(server, "users", "set-role", "usr_00000000000000000000", "root").code == 2


def test_set_role_then_remove_ends_the_persons_session(server: LocalServer) -> None:
    person = server.state["users"]["natsupply_approver"]
    approver = user_id_of(server, person["email"])
    browser = Browser()
    assert browser.sign_in(server.url, person["email"], person["password"]).status_code == 200
    assert browser.request("GET", f"{server.url}/auth/session").json()["role"] == "approver"

    changed = cli(server, "users", "set-role", approver, "auditor")
    assert changed.code == 0, changed.err
    assert changed.out == f"{approver} (approver@natsupply.example) is now auditor.\n"
    assert {u["user_id"]: u["role"] for u in users(server)}[approver] == "auditor"
    assert browser.request("GET", f"{server.url}/auth/session").json()["role"] == "auditor"

    # Another tenant's admin gets the answer of an unknown id, and changes nothing.
    foreign = cli(server, "users", "set-role", approver, "admin", "--tenant", "medicore")
    assert foreign.code == 1 and "not_found" in foreign.err and "HTTP 404" in foreign.err
    assert_clean_failure(foreign.out, foreign.err)
    foreign = cli(server, "users", "remove", approver, "--yes", "--tenant", "medicore")
    assert foreign.code == 1 and "not_found" in foreign.err

    declined = answering(server, "n\n", "users", "remove", approver)
    assert declined.code == 1
    assert f"Remove {approver} (approver@natsupply.example), auditor of NatSupply?" in declined.err
    assert declined.err.endswith(
        f"vaultguard: error: {approver} was not removed (answer y, or pass --yes).\n"
    )
    no_answer = answering(server, "", "users", "remove", approver)  # a script without --yes
    assert no_answer.code == 1 and "was not removed" in no_answer.err
    assert approver in {u["user_id"] for u in users(server)}
    assert browser.request("GET", f"{server.url}/auth/session").status_code == 200

    removed = answering(server, "y\n", "users", "remove", approver)
    assert removed.code == 0, removed.err
    assert removed.out == f"Removed {approver} (approver@natsupply.example); their sessions have ended.\n"
    assert approver not in {u["user_id"] for u in users(server)}
    assert browser.request("GET", f"{server.url}/auth/session").status_code == 401

    again = cli(server, "users", "remove", approver, "--yes", "--json")
    assert again.code == 1 and "HTTP 404" in again.err and again.out == ""
    assert_clean_failure(again.out, again.err)
