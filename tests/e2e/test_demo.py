"""`make demo` end to end: a fresh VaultGuard, NatSupply's LMIS and MediCore's agent (offline
planner), all real processes over HTTP: ALLOW, STEP_UP approved by the scripted admin, BLOCK,
and MediCore's calendar read through the token vault (connected by the scripted MediCore admin
at the local identity provider playing Google). The agent is key-only (private_key_jwt) with
DPoP-bound tokens; then a stolen token is refused without the key, and a revoked one within
5 s by NatSupply's offline verifier, with no call to VaultGuard per request."""

from __future__ import annotations

import hashlib
import io
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vaultguard import ClientKey

from examples.demo import DemoResult, run_demo
from examples.no_secrets import BURST, REVOCATION_DEADLINE

pytestmark = pytest.mark.e2e


Demo = tuple[str, list[dict[str, object]], dict[str, str], set[tuple[int, str]]]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, DemoResult, Path]]:
    """One run for the module: a fresh stack (never `make run`'s, its state kept in a temporary
    directory for the tests to read), offline planner, no outside VaultGuard or Anthropic
    settings whatever the shell has."""
    state_dir = tmp_path_factory.mktemp("demo") / "state"
    with pytest.MonkeyPatch.context() as patch:
        for name in (
            "ANTHROPIC_API_KEY",
            "VAULTGUARD_API_URL",
            "VAULTGUARD_CLIENT_ID",
            "VAULTGUARD_CLIENT_SECRET",
            "VAULTGUARD_CLIENT_KEY_FILE",
            "NATSUPPLY_TENANT_ID",
            "NATSUPPLY_AUDIENCE",
            "MEDICORE_CALENDAR_CONNECTION_ID",
            "MEDICORE_CALENDAR_URL",
        ):
            patch.delenv(name, raising=False)
        out = io.StringIO()
        argv = ["--own-stack", "--state-dir", str(state_dir), "--offline", "--approve-after", "1"]
        result = run_demo(argv, out)
        yield out.getvalue(), result, state_dir


@pytest.fixture(scope="module")
def demo(demo_run: tuple[str, DemoResult, Path]) -> Demo:
    transcript, result, _ = demo_run
    return transcript, result.activity, result.outcomes, result.vault_token_digests


def lines_of(transcript: str, *speakers: str) -> list[str]:
    """The lines of those speakers, in transcript order."""
    who = "|".join(map(re.escape, speakers))
    return [line for line in transcript.splitlines() if re.match(rf"\[\s*[\d.]+s\] ({who})\s", line)]


def test_the_four_outcomes_appear_in_order(
    demo: Demo,
) -> None:
    transcript, _, outcomes, _ = demo
    assert outcomes == {
        "update_stock": "DONE",
        "submit_requisition": "DONE",
        "open_admin": "BLOCKED",
        "read_calendar": "DONE",
    }, transcript
    said = "\n".join(lines_of(transcript, "vaultguard", "natsupply-api"))
    allow = said.index("ALLOW -> 201")
    stock = said.index("201 stock updated")
    step_up = re.search(r"STEP_UP -> 202, delegation \S+, auth_req_id (\S+)", said)
    assert step_up is not None, transcript
    approved = said.index("approved -> 200")
    requisition = said.index("201 requisition submitted")
    block = said.index("BLOCK -> 403 access_denied, no token")
    vault = said.index("vault -> 200, local-google access token")
    assert allow < stock < step_up.start() < approved < requisition < block < vault, transcript

    # The agent polled the auth_req_id VaultGuard gave it, and a NatSupply admin approved it.
    assert f"polling for auth_req_id {step_up.group(1)}" in transcript
    assert any("approved dlg_" in line for line in lines_of(transcript, "natsupply-admin")), transcript
    assert "admin.access is blocked by NatSupply's policy -> cannot proceed" in transcript
    # Each delegation was revoked once its call was done; the blocked one never existed.
    assert len(re.findall(r"revoked after use", transcript)) == 2, transcript


def test_natsupply_recorded_exactly_one_stock_update_and_one_requisition(
    demo: Demo,
) -> None:
    transcript, activity, _, _ = demo
    actions = sorted(str(entry["action"]) for entry in activity)
    assert actions == ["requisition.submit", "stock.write"], activity
    # Each by MediCore's agent, under a different delegation.
    assert len({entry["delegation_id"] for entry in activity}) == 2
    assert len({entry["agent_id"] for entry in activity}) == 1
    assert "recorded 1 stock update(s), 1 requisition(s), 0 admin access(es)" in transcript


def test_the_agent_reads_medicore_calendar_with_a_vault_token_for_the_connection_its_admin_made(
    demo: Demo,
) -> None:
    transcript, _, _, _ = demo
    # No connection on a fresh stack: MediCore's scripted admin connected local-google through
    # the sign-in and consent pages, and the demo said so.
    admin = "\n".join(lines_of(transcript, "demo", "medicore-admin"))
    assert "no calendar connected: MediCore's admin connects local-google now, by script" in admin
    assert "signed in to VaultGuard as admin@medicore.example" in admin
    connected = re.search(r"back on the Connections page: (con_\w+) connected", admin)
    assert connected is not None, transcript
    connection = connected.group(1)

    # The agent asked the vault for calendar.readonly on that connection and read the calendar
    # of the person who consented, soonest first.
    agent = "\n".join(lines_of(transcript, "agent", "vaultguard", "calendar-api"))
    asked = agent.index(f"asks VaultGuard's vault for calendar.readonly on connection {connection}")
    token = agent.index(f"vault -> 200, local-google access token for {connection} (scope ")
    events = agent.index("calendar-api     200 3 event(s) on admin@medicore.example's calendar")
    assert asked < token < events, transcript
    nexts = re.findall(r"next: \w{3} \d{2} \w{3} \d{2}:\d{2} UTC (.+)", agent)
    assert nexts == [
        "Morning stand-up",
        "Supplier call: NatSupply stock levels",
        "Ward round and requisitions review",
    ]
    assert "read_calendar       vault   -> calendar.readonly token -> calendar read" in transcript


def test_no_token_or_secret_in_the_transcript(
    demo: Demo,
) -> None:
    transcript, _, _, vault_tokens = demo
    assert not re.search(r"eyJ[\w-]+\.eyJ[\w-]+\.", transcript), "a JWT was printed"
    assert "vgs_" not in transcript, "a client secret was printed"
    assert "Traceback" not in transcript
    # Nor the provider access token the vault handed the agent (the demo keeps only its length
    # and SHA-256): no stretch of the transcript hashes to it. The refresh token never leaves
    # VaultGuard at all.
    assert vault_tokens, "the agent got no vault token"
    for length, digest in vault_tokens:
        assert length >= 16
        data = transcript.encode()
        windows = {hashlib.sha256(data[i : i + length]).hexdigest() for i in range(len(data) - length + 1)}
        assert digest not in windows, "the vault access token was printed"
    # Everything the demo started was stopped by SIGINT and exited cleanly.
    assert "stopped NatSupply API (exit 0)" in transcript
    assert "stopped VaultGuard (exit 0)" in transcript


# -- no shared secrets ------------------------------------------------------------------------


def medicore_of(state_dir: Path) -> dict[str, Any]:
    return dict(json.loads((state_dir / "local.json").read_text())["tenants"]["medicore"])


def test_the_agent_holds_no_secret_it_signs_in_with_its_key_and_binds_its_tokens(
    demo_run: tuple[str, DemoResult, Path],
) -> None:
    transcript, result, state_dir = demo_run
    medicore = medicore_of(state_dir)
    agent = medicore["key_agent"]
    # No client secret exists for the agent the demo ran: local.json names its key file only.
    assert not any("secret" in name for name in agent), agent
    assert agent["auth"] == "private_key_jwt"
    key_file = state_dir / agent["key_file"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert ClientKey.load(key_file).thumbprint == agent["kid"]  # the key whose public half is registered
    # That agent did the work at NatSupply, not MediCore's secret-based agent.
    assert {entry["agent_id"] for entry in result.activity} == {agent["agent_id"]}
    assert agent["agent_id"] != medicore["agent"]["agent_id"]
    assert "signs in with private_key_jwt" in transcript
    issued = re.findall(r"JWT issued \(.*DPoP-bound to key (\S+)\.\.\.\)", transcript)
    assert len(issued) == 2 and len(set(issued)) == 1, transcript  # both delegations, one key
    # The key never reaches the transcript.
    assert "PRIVATE KEY" not in transcript and key_file.read_text().splitlines()[1] not in transcript


def test_a_stolen_token_replayed_without_the_key_is_refused_by_natsupply(
    demo_run: tuple[str, DemoResult, Path],
) -> None:
    transcript, result, _ = demo_run
    scenes = result.scenes
    assert scenes is not None and scenes.error is None, transcript
    own = [a for a in scenes.attempts if a.who == "agent"]
    assert own[0].status == 200  # the agent, with its key, is served
    thief = [(a.how, a.status, a.reason) for a in scenes.attempts if a.who == "thief"]
    assert thief == [
        ("as a bearer token", 401, "dpop_bound"),
        ("as DPoP with a proof by another key", 401, "invalid_dpop_proof"),
        ("replaying the agent's request, its proof included", 401, "invalid_dpop_proof"),
    ], transcript
    said = "\n".join(lines_of(transcript, "thief", "natsupply-api"))
    assert "refused: HTTP 401 dpop_bound (thief, as a bearer token)" in said
    # The thief's stock writes did not happen.
    assert sum(1 for entry in result.activity if entry["action"] == "stock.write") == 1
    assert "stolen token        DPoP-bound -> replayed without the key -> refused (3/3)" in transcript


def test_a_revoked_delegation_is_refused_within_5_s_without_a_vaultguard_call_per_request(
    demo_run: tuple[str, DemoResult, Path],
) -> None:
    transcript, result, _ = demo_run
    revocation = result.scenes.revocation if result.scenes else None
    assert revocation is not None and revocation.refused_after is not None, transcript
    assert revocation.reason == "revoked"
    assert revocation.refused_after < REVOCATION_DEADLINE
    said = re.search(r"refused by NatSupply's API (\d+\.\d) s after the revocation \(limit 5 s\)", transcript)
    assert said is not None, transcript
    # From just before the revocation to the refusal, NatSupply checked BURST + n requests and
    # called VaultGuard only for the status list's background refresh (every 2 s at most).
    assert revocation.requests > BURST
    calls = revocation.vaultguard_calls
    assert all(path.startswith("/statuslists/") for path in calls), calls
    assert sum(calls.values()) <= 2 + revocation.refused_after / 2
    assert sum(calls.values()) < revocation.requests / 5
    # Over the whole demo NatSupply never asked VaultGuard about a token (no introspection,
    # no /delegations/verify): only keys and status lists.
    assert result.vaultguard_calls, "NatSupply's calls were not counted"
    for path in result.vaultguard_calls:
        assert path == "/.well-known/jwks.json" or path.startswith("/statuslists/"), result.vaultguard_calls
    assert result.ok, transcript
