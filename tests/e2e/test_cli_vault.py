"""`vaultguard vault connect|list|show|check|delete`, against the real local server and its
identity provider playing Google (local-google): the admin of MediCore connects an account in
a browser, the CLI follows, lists, shows and deletes it; NatSupply's admin cannot see it."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from vaultguard._cli import main

from tests.e2e.conftest import LocalServer, free_port
from tests.e2e.test_cli import assert_clean_failure
from tests.e2e.test_cli_users import answering
from tests.e2e.test_local_idp import Page
from tests.e2e.test_sign_in_local_idp import Browser
from tests.e2e.test_stepup_lifecycle import CliRun, bearer, cli, client_token

TIMEOUT = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = LocalServer(free_port(), tmp_path_factory.mktemp("cli-vault") / "state")
    srv.extra_env = {"VAULTGUARD_IDP_PORT": str(free_port())}
    srv.start()
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.stop()


def medicore_admin(server: LocalServer) -> Browser:
    """MediCore's admin, signed in to VaultGuard (the vault's callback needs this session)."""
    person = server.state["users"]["medicore_admin"]
    browser = Browser()
    assert browser.sign_in(server.url, person["email"], person["password"]).status_code == 200
    return browser


def consent(server: LocalServer, browser: Browser, authorize_url: str) -> dict[str, str]:
    """The admin's browser at the provider: its sign-in form (the same person, as at
    VaultGuard), its consent page, then back through /vault/callback to the dashboard's
    Connections page; the query the callback put there."""
    person = server.state["users"]["medicore_admin"]
    page = browser.follow("GET", authorize_url)
    for _ in range(4):
        if urlsplit(page.url).path == "/dashboard/connections":
            return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
        parsed = Page(page.text)
        sign_in, go_on = parsed.form_with_button("Sign in"), parsed.form_with_button("Continue")
        if sign_in is not None:
            email, password = parsed.field_labelled("Email"), parsed.field_labelled("Password")
            assert email and password, page.text[:500]
            data = {**sign_in.inputs, email: person["email"], password: person["password"]}
            page = browser.follow("POST", urljoin(page.url, sign_in.action), data=data)
        else:
            assert go_on is not None, f"neither a sign-in form nor a consent page at {page.url}"
            page = browser.follow("POST", urljoin(page.url, go_on.action), data=go_on.inputs)
    raise AssertionError(f"never back on the Connections page (at {page.url})")


def connect_by_api(server: LocalServer, **body: Any) -> str:
    """What the dashboard's Connect does: POST /vault/connect, then the browser's round trip."""
    reply = requests.post(
        f"{server.url}/vault/connect",
        json={"provider": "local-google", **body},
        headers=bearer(client_token(server, "medicore", "admin")),
        timeout=TIMEOUT,
    )
    assert reply.status_code == 201, reply.text
    back = consent(server, medicore_admin(server), reply.json()["authorize_url"])
    assert back == {"connected": reply.json()["connection_id"]}, back
    return str(back["connected"])


def medicore(server: LocalServer, *argv: str) -> CliRun:
    return cli(server, "vault", *argv, "--tenant", "medicore")


@pytest.fixture(scope="module")
def connection(server: LocalServer) -> str:
    agent = server.state["tenants"]["medicore"]["agent"]["agent_id"]
    return connect_by_api(
        server, scopes=["email", "calendar.readonly"], label="Clinic calendar", agent_ids=[agent]
    )


def test_connect_prints_the_url_to_open_and_wait_follows_the_browser_to_active(server: LocalServer) -> None:
    agent = server.state["tenants"]["medicore"]["agent"]["agent_id"]
    out, err = io.StringIO(), io.StringIO()
    codes: list[int] = []
    argv = [
        "vault",
        "connect",
        "local-google",
        "--scope",
        "email,gmail.readonly",
        "--agent",
        "MediCore agent",
    ]
    argv += ["--tenant", "medicore", "--wait", "--wait-timeout", "90"]
    argv += ["--state", str(server.state_dir / "local.json")]
    waiting = threading.Thread(target=lambda: codes.append(main(argv, environ={}, stdout=out, stderr=err)))
    waiting.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while "authorize_url" not in out.getvalue() and waiting.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        fields = dict(line.split(None, 1) for line in out.getvalue().splitlines()[:3])
        assert set(fields) == {"connection_id", "authorize_url", "expires_at"}, (
            out.getvalue(),
            err.getvalue(),
        )
        url = urlsplit(fields["authorize_url"])
        query = parse_qs(url.query)
        assert f"{url.scheme}://{url.netloc}{url.path}".startswith(server.state["identity_provider"])
        assert query["code_challenge_method"] == ["S256"] and query["state"][0].startswith("local-google.")
        assert "gmail.readonly" in query["scope"][0].split()
        assert "open the authorize_url in a browser signed in to the VaultGuard dashboard" in err.getvalue()

        back = consent(server, medicore_admin(server), fields["authorize_url"])
        assert back == {"connected": fields["connection_id"]}
    finally:
        waiting.join(TIMEOUT)
    assert codes == [0], err.getvalue()
    email = server.state["users"]["medicore_admin"]["email"]
    assert out.getvalue().splitlines()[-1] == f"Connected {fields['connection_id']} (local-google, {email})."

    shown = json.loads(medicore(server, "show", fields["connection_id"], "--json").out)
    assert shown["status"] == "active" and shown["agent_ids"] == [agent]
    assert "gmail.readonly" in shown["granted_scopes"]
    assert medicore(server, "delete", fields["connection_id"], "--yes").code == 0


def test_list_and_show_tell_status_account_scopes_and_agents_by_name(
    server: LocalServer, connection: str
) -> None:
    email = server.state["users"]["medicore_admin"]["email"]
    table = medicore(server, "list")
    assert table.code == 0, table.err
    header, _, *rows = table.out.splitlines()
    for column in (
        "CONNECTION ID",
        "PROVIDER",
        "LABEL",
        "ACCOUNT",
        "STATUS",
        "AGENTS",
        "LAST REFRESH",
        "LAST USED",
    ):
        assert column in header
    [row] = [r for r in rows if connection in r]
    assert "local-google" in row and "Clinic calendar" in row and email in row and " active " in row
    assert "MediCore agent" in row

    shown = medicore(server, "show", connection)
    assert shown.code == 0, shown.err
    fields = dict(line.split(None, 1) for line in shown.out.splitlines())
    assert fields["status"] == "active" and fields["account"] == email
    assert {"email", "calendar.readonly"} <= set(fields["granted_scopes"].split())
    assert fields["missing_scopes"] == "-"
    assert fields["allowed_scopes"] == "email calendar.readonly"
    agent = server.state["tenants"]["medicore"]["agent"]["agent_id"]
    assert fields["agents"] == f"MediCore agent ({agent})"
    assert "token" not in shown.out.lower().replace("refresh_at", "")

    before = json.loads(medicore(server, "show", connection, "--json").out)["last_refresh_at"]
    checked = medicore(server, "check", connection)
    assert checked.code == 0, checked.err
    assert (
        checked.out == f"{connection} (local-google, {email}) is active: the provider refreshed its access.\n"
    )
    assert json.loads(medicore(server, "show", connection, "--json").out)["last_refresh_at"] != before

    # NatSupply's admin sees none of it: not listed, and its id is unknown.
    assert connection not in cli(server, "vault", "list").out
    foreign = cli(server, "vault", "show", connection)
    assert foreign.code == 1 and "not_found" in foreign.err and "HTTP 404" in foreign.err
    assert_clean_failure(foreign.out, foreign.err)
    foreign = cli(server, "vault", "check", connection)
    assert foreign.code == 1 and "HTTP 404" in foreign.err
    foreign = cli(server, "vault", "delete", connection, "--yes")
    assert foreign.code == 1 and "HTTP 404" in foreign.err


def test_delete_asks_first_revokes_and_leaves_a_tombstone(server: LocalServer, connection: str) -> None:
    declined = answering(server, "n\n", "vault", "delete", connection, "--tenant", "medicore")
    assert declined.code == 1
    assert f"Delete {connection} (local-google, " in declined.err
    assert "the agents allowed to use it (MediCore agent (" in declined.err
    assert declined.err.endswith(
        f"vaultguard: error: {connection} was not deleted (answer y, or pass --yes).\n"
    )
    assert json.loads(medicore(server, "show", connection, "--json").out)["status"] == "active"

    deleted = answering(server, "y\n", "vault", "delete", connection, "--tenant", "medicore")
    assert deleted.code == 0, deleted.err
    assert deleted.out == f"Deleted {connection}; its grant was revoked at the provider.\n"
    assert connection not in medicore(server, "list").out
    assert json.loads(medicore(server, "show", connection, "--json").out)["status"] == "deleted"
    again = medicore(server, "delete", connection, "--yes")
    assert again.code == 1 and "HTTP 404" in again.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "../agents"], "is not a connection id"),
        (["delete", "con_0123", "--yes"], "is not a connection id"),
        (["show", "con_00000000000000000000"], "HTTP 404"),
        (["connect", "dropbox"], "invalid_request"),
        (["connect", "local-google", "--scope", "drive.write"], "invalid_scope"),
        (["connect", "local-google", "--agent", "Billing agent"], "no agent 'Billing agent' in the tenant"),
    ],
)
def test_refusals_are_one_clear_line(server: LocalServer, argv: list[str], message: str) -> None:
    run = medicore(server, *argv)
    assert run.code == 1, (run.out, run.err)
    assert_clean_failure(run.out, run.err)
    assert message in run.err
