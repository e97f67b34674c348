"""`make demo` end to end: a fresh VaultGuard, NatSupply's LMIS and MediCore's agent (offline
planner), all real processes over HTTP: ALLOW, STEP_UP approved by the scripted admin, BLOCK."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest

from examples.demo import run_demo

pytestmark = pytest.mark.e2e


Demo = tuple[str, list[dict[str, object]], dict[str, str]]


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
        ):
            patch.delenv(name, raising=False)
        out = io.StringIO()
        result = run_demo(["--own-stack", "--offline", "--approve-after", "1"], out)
        yield out.getvalue(), result.activity, result.outcomes


def lines_of(transcript: str, *speakers: str) -> list[str]:
    """The lines of those speakers, in transcript order."""
    who = "|".join(map(re.escape, speakers))
    return [line for line in transcript.splitlines() if re.match(rf"\[\s*[\d.]+s\] ({who})\s", line)]


def test_the_three_outcomes_appear_in_order(
    demo: Demo,
) -> None:
    transcript, _, outcomes = demo
    assert outcomes == {"update_stock": "DONE", "submit_requisition": "DONE", "open_admin": "BLOCKED"}, (
        transcript
    )
    said = "\n".join(lines_of(transcript, "vaultguard", "natsupply-api"))
    allow = said.index("ALLOW -> 201")
    stock = said.index("201 stock updated")
    step_up = re.search(r"STEP_UP -> 202, delegation \S+, auth_req_id (\S+)", said)
    assert step_up is not None, transcript
    approved = said.index("approved -> 200")
    requisition = said.index("201 requisition submitted")
    block = said.index("BLOCK -> 403 access_denied, no token")
    assert allow < stock < step_up.start() < approved < requisition < block, transcript

    # The agent polled the auth_req_id VaultGuard gave it, and a NatSupply admin approved it.
    assert f"polling for auth_req_id {step_up.group(1)}" in transcript
    assert any("approved dlg_" in line for line in lines_of(transcript, "natsupply-admin")), transcript
    assert "admin.access is blocked by NatSupply's policy -> cannot proceed" in transcript
    # Each delegation was revoked once its call was done; the blocked one never existed.
    assert len(re.findall(r"revoked after use", transcript)) == 2, transcript


def test_natsupply_recorded_exactly_one_stock_update_and_one_requisition(
    demo: Demo,
) -> None:
    transcript, activity, _ = demo
    actions = sorted(str(entry["action"]) for entry in activity)
    assert actions == ["requisition.submit", "stock.write"], activity
    # Each by MediCore's agent, under a different delegation.
    assert len({entry["delegation_id"] for entry in activity}) == 2
    assert len({entry["agent_id"] for entry in activity}) == 1
    assert "recorded 1 stock update(s), 1 requisition(s), 0 admin access(es)" in transcript


def test_no_token_or_secret_in_the_transcript(
    demo: Demo,
) -> None:
    transcript, _, _ = demo
    assert not re.search(r"eyJ[\w-]+\.eyJ[\w-]+\.", transcript), "a JWT was printed"
    assert "vgs_" not in transcript, "a client secret was printed"
    assert "Traceback" not in transcript
    # Everything the demo started was stopped by SIGINT and exited cleanly.
    assert "stopped NatSupply API (exit 0)" in transcript
    assert "stopped VaultGuard (exit 0)" in transcript
