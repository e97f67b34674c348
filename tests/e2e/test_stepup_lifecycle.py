"""Step-up (CIBA poll mode) end to end over real HTTP against `python -m chalicelib.local`:
the issue's "done when", twenty approvers racing for one request, rejection, and who may poll.

The helpers here are shared with test_cli.py and test_ciba_interop.py.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import requests
from vaultguard._cli import main as vaultguard

from tests.e2e.conftest import LocalServer

CIBA = "urn:openid:params:grant-type:ciba"
TIMEOUT = 60  # seconds per HTTP call: generous, for a slow two-core machine
RACERS = 20
POLLERS = 10


# -- helpers (also used by the other step-up e2e modules) ----------------------------------


def credentials(server: LocalServer, tenant: str, role: str) -> tuple[str, str]:
    entry = server.state["tenants"][tenant][role]
    return str(entry["client_id"]), str(entry["client_secret"])


def client_token(server: LocalServer, tenant: str, role: str) -> str:
    """`curl -u id:secret -d grant_type=client_credentials $API/oauth/token`."""
    reply = requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=credentials(server, tenant, role),
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def start_stepup(server: LocalServer, agent_token: str, **fields: Any) -> dict[str, Any]:
    """MediCore's agent asks NatSupply for requisition.submit (STEP_UP): 202 + auth_req_id."""
    reply = requests.post(
        f"{server.url}/delegations/request",
        json={
            "receiving_tenant_id": server.state["tenants"]["natsupply"]["tenant_id"],
            "action": "requisition.submit",
            **fields,
        },
        headers=bearer(agent_token),
        timeout=TIMEOUT,
    )
    assert reply.status_code == 202, reply.text
    body = dict(reply.json())
    assert body["decision"] == "STEP_UP" and body["status"] == "PENDING"
    assert body["auth_req_id"] and body["interval"] >= 1
    return body


def poll(
    server: LocalServer,
    auth_req_id: str,
    *,
    tenant: str = "medicore",
    role: str = "agent",
    session: requests.Session | None = None,
) -> requests.Response:
    """One CIBA token request (client_secret_basic), as the given client."""
    return (session or requests).post(
        f"{server.url}/oauth/token",
        data={"grant_type": CIBA, "auth_req_id": auth_req_id},
        auth=credentials(server, tenant, role),
        timeout=TIMEOUT,
    )


def outcome(reply: requests.Response) -> str:
    """`"200"` or `"<status> <error>"`: what a test compares and a failure prints."""
    if reply.status_code < 300:
        return str(reply.status_code)
    try:
        error = reply.json().get("error")
    except ValueError:
        error = "(not JSON)"
    return f"{reply.status_code} {error}"


def error_of(reply: requests.Response) -> tuple[int, str]:
    return reply.status_code, str(reply.json().get("error"))


@dataclass
class CliRun:
    code: int
    out: str
    err: str


def cli(server: LocalServer, *argv: str, environ: dict[str, str] | None = None) -> CliRun:
    """`vaultguard ... --state <the server's local.json>`, in process, with a clean
    environment (no VAULTGUARD_* of the developer's shell leaks in)."""
    out, err = io.StringIO(), io.StringIO()
    code = vaultguard(
        [*argv, "--state", str(server.state_dir / "local.json")],
        environ=environ or {},
        stdout=out,
        stderr=err,
    )
    return CliRun(code, out.getvalue(), err.getvalue())


def verified_claims(server: LocalServer, token: str) -> dict[str, Any]:
    """The delegation token checked the way NatSupply's API would: offline, against the JWKS."""
    key = jwt.PyJWKClient(f"{server.url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    return dict(
        jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            issuer=server.url,
            audience=server.state["tenants"]["natsupply"]["audience"],
            options={"require": ["exp", "iat", "jti", "sub", "aud", "iss"]},
        )
    )


def wait_interval(last_poll: float, interval: int) -> None:
    """A well-behaved CIBA client waits `interval` seconds between two polls."""
    time.sleep(max(0.0, last_poll + interval + 0.2 - time.monotonic()))


@contextmanager
def warm_sessions(server: LocalServer, count: int) -> Iterator[list[requests.Session]]:
    """Sessions whose keep-alive connection is already open, made one after the other, so
    that a race starts with `count` requests on live connections rather than a burst of new
    connections (the local dev server listens with a backlog of 5)."""
    sessions = []
    try:
        for _ in range(count):
            session = requests.Session()
            sessions.append(session)
            assert session.get(f"{server.url}/health", timeout=TIMEOUT).status_code == 200
        yield sessions
    finally:
        for session in sessions:
            session.close()


def race(
    sessions: list[requests.Session], call: Callable[[requests.Session], requests.Response]
) -> list[str]:
    """`call` on every session at once (released together by a barrier); the outcomes."""
    barrier = threading.Barrier(len(sessions))

    def one(session: requests.Session) -> str:
        barrier.wait(timeout=TIMEOUT)
        try:
            return outcome(call(session))
        except requests.RequestException as exc:  # reported in the comparison, not as a crash
            return type(exc).__name__

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        return list(pool.map(one, sessions))


# -- (a) the "done when" -----------------------------------------------------------


def test_stepup_approved_with_the_cli_delivers_the_token_well_under_30_seconds(server: LocalServer) -> None:
    started_at = time.monotonic()

    # The agent, as curl would: client credentials, then the delegation request.
    agent = client_token(server, "medicore", "agent")
    started = start_stepup(server, agent, purpose="weekly restock, ward 7", binding_message="REQ-DONE-WHEN")
    auth_req_id, delegation_id = started["auth_req_id"], started["delegation_id"]
    first = poll(server, auth_req_id)
    last_poll = time.monotonic()
    assert error_of(first) == (400, "authorization_pending"), first.text

    # The NatSupply approver sees it and approves it from the command line.
    listing = cli(server, "pending")
    assert listing.code == 0, listing.err
    assert delegation_id in listing.out and "REQ-DONE-WHEN" in listing.out
    approved = cli(server, "approve", delegation_id, "--reason", "expected order")
    assert approved.code == 0, approved.err
    assert f"Approved {delegation_id}" in approved.out

    # The agent's next poll, one interval later, gets the token.
    wait_interval(last_poll, started["interval"])
    granted = poll(server, auth_req_id)
    elapsed = time.monotonic() - started_at
    assert granted.status_code == 200, granted.text
    assert granted.headers["Cache-Control"] == "no-store"
    body = granted.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "requisition.submit"
    assert elapsed < 30, f"request -> approval -> token took {elapsed:.1f} s"

    claims = verified_claims(server, body["access_token"])
    medicore = server.state["tenants"]["medicore"]
    assert claims["scope"] == "requisition.submit"
    assert claims["jti"] == delegation_id
    assert claims["sub"] == medicore["agent"]["agent_id"] == claims["act"]["sub"]
    assert claims["tenant_id"] == medicore["tenant_id"]
    assert claims["receiving_tenant_id"] == server.state["tenants"]["natsupply"]["tenant_id"]


# -- (b) twenty approvers, one request -----------------------------------------------------


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_twenty_concurrent_approvals_have_exactly_one_winner_and_one_token(
    server: LocalServer, attempt: int
) -> None:
    """The decision is a DynamoDB conditional write: of 20 simultaneous approvals exactly one
    wins (200) and 19 get 409 already_decided; the agent gets exactly one token, ever; the
    receiving tenant's audit log has exactly one approval and one issuance. Run three times,
    since a race that is lost only sometimes is still a bug."""
    agent = client_token(server, "medicore", "agent")
    admin = client_token(server, "natsupply", "admin")
    started = start_stepup(server, agent, binding_message=f"RACE-{attempt}")
    delegation_id, auth_req_id = started["delegation_id"], started["auth_req_id"]
    approve_url = f"{server.url}/delegations/{delegation_id}/approve"

    with warm_sessions(server, RACERS) as approvers:
        approvals = race(approvers, lambda s: s.post(approve_url, headers=bearer(admin), timeout=TIMEOUT))
    with warm_sessions(server, POLLERS) as pollers:
        polls = race(pollers, lambda s: poll(server, auth_req_id, session=s))
    later = outcome(poll(server, auth_req_id))

    audit = requests.get(
        f"{server.url}/audit",
        params={"type": "delegation.approved,token.issued", "delegation_id": delegation_id},
        headers=bearer(admin),
        timeout=TIMEOUT,
    )
    assert audit.status_code == 200, audit.text
    view = requests.get(f"{server.url}/delegations/{delegation_id}", headers=bearer(admin), timeout=TIMEOUT)
    assert view.status_code == 200, view.text

    observed = {
        "approvals": dict(Counter(approvals)),
        "concurrent polls": dict(Counter(polls)),
        "poll afterwards": later,
        "audit events": dict(Counter(e["type"] for e in audit.json()["events"])),
        "status": view.json()["status"],
    }
    expected = {
        "approvals": {"200": 1, "409 already_decided": RACERS - 1},
        "concurrent polls": {"200": 1, "400 invalid_grant": POLLERS - 1},
        "poll afterwards": "400 invalid_grant",
        "audit events": {"delegation.approved": 1, "token.issued": 1},
        "status": "ACTIVE",
    }
    assert observed == expected, (
        f"{RACERS} concurrent approvals of {delegation_id} (attempt {attempt}):\n"
        f"  observed {observed}\n  expected {expected}"
    )


# -- (c) rejection -------------------------------------------------------------------------


def test_rejection_reaches_the_poller_as_access_denied(server: LocalServer) -> None:
    agent = client_token(server, "medicore", "agent")
    admin = client_token(server, "natsupply", "admin")
    started = start_stepup(server, agent, binding_message="REQ-REJECT")
    auth_req_id, delegation_id = started["auth_req_id"], started["delegation_id"]

    rejected = requests.post(
        f"{server.url}/stepup/{auth_req_id}/complete",
        json={"decision": "reject", "reason": "not this week"},
        headers=bearer(admin),
        timeout=TIMEOUT,
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "REJECTED"

    denied = poll(server, auth_req_id)
    assert error_of(denied) == (400, "access_denied"), denied.text
    assert "access_token" not in denied.json()
    assert error_of(poll(server, auth_req_id)) == (400, "access_denied")  # and stays so

    too_late = requests.post(
        f"{server.url}/delegations/{delegation_id}/approve", headers=bearer(admin), timeout=TIMEOUT
    )
    assert error_of(too_late) == (409, "already_decided")
    status = requests.get(f"{server.url}/stepup/{auth_req_id}/status", headers=bearer(agent), timeout=TIMEOUT)
    assert status.status_code == 200 and status.json()["status"] == "REJECTED"
    assert "access_token" not in status.json()


# -- (d) who may poll ----------------------------------------------------------------------


def test_only_the_requesting_agent_can_poll(server: LocalServer) -> None:
    agent = client_token(server, "medicore", "agent")
    auth_req_id = start_stepup(server, agent, binding_message="REQ-WHO-POLLS")["auth_req_id"]

    # Admins are not agents: the CIBA grant is not theirs, whichever side they are on.
    for tenant in ("medicore", "natsupply"):
        as_admin = poll(server, auth_req_id, tenant=tenant, role="admin")
        assert error_of(as_admin) == (400, "unauthorized_client"), (tenant, as_admin.text)

    # Another tenant's agent learns nothing: exactly what an unknown auth_req_id gets.
    foreign = poll(server, auth_req_id, tenant="natsupply", role="agent")
    unknown = poll(server, "x" * 43, tenant="natsupply", role="agent")
    assert error_of(foreign) == error_of(unknown) == (400, "invalid_grant")
    assert foreign.json()["error_description"] == unknown.json()["error_description"]

    # None of that touched the request: its own agent's first poll is a plain "pending".
    own = poll(server, auth_req_id)
    assert error_of(own) == (400, "authorization_pending"), own.text
