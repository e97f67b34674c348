"""`make demo` end to end: a fresh VaultGuard, NatSupply's LMIS and MediCore's agent (offline
planner), all real processes over HTTP: ALLOW, STEP_UP approved by the scripted admin, BLOCK,
and MediCore's calendar read through the token vault (connected by the scripted MediCore admin
at the local identity provider playing Google)."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator

import pytest

from examples.demo import run_demo

pytestmark = pytest.mark.e2e


Demo = tuple[str, list[dict[str, object]], dict[str, str], set[tuple[int, str]]]


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    """One run for the module: a fresh stack (never `make run`'s), offline planner, no outside
    VaultGuard or Anthropic settings whatever the shell has."""
    with pytest.MonkeyPatch.context() as patch:
        for name in (
            "ANTHROPIC_API_KEY",
            "VAULTGUARD_API_URL",
            "VAULTGUARD_CLIENT_ID",
            "VAULTGUARD_CLIENT_SECRET",
            "NATSUPPLY_TENANT_ID",
            "NATSUPPLY_AUDIENCE",
            "MEDICORE_CALENDAR_CONNECTION_ID",
            "MEDICORE_CALENDAR_URL",
        ):
            patch.delenv(name, raising=False)
        out = io.StringIO()
        result = run_demo(["--own-stack", "--offline", "--approve-after", "1"], out)
        yield out.getvalue(), result.activity, result.outcomes, result.vault_token_digests


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
