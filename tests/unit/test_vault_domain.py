"""The vault connection's state machine and state parameter (chalicelib/domain/vault.py)."""

from __future__ import annotations

import pytest

from chalicelib.domain import vault
from chalicelib.domain.vault import Status


def test_the_lifecycle_of_the_issue_is_allowed() -> None:
    path = [
        Status.ACTIVE,
        Status.REFRESH_FAILING,
        Status.ACTIVE,
        Status.NEEDS_REAUTH,
        Status.ACTIVE,
        Status.DELETED,
    ]
    current = Status.PENDING.value
    for target in path:
        current = vault.transition(current, target).value
    assert current == "deleted"


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.DELETED, Status.ACTIVE),  # a tombstone stays one
        (Status.NEEDS_REAUTH, Status.REFRESH_FAILING),  # only reconnecting revives a dead grant
        (Status.SUPERSEDED, Status.ACTIVE),
        (Status.FAILED, Status.ACTIVE),
        (Status.PENDING, Status.NEEDS_REAUTH),
    ],
)
def test_refused_transitions(current: Status, target: Status) -> None:
    with pytest.raises(vault.TransitionRefused):
        vault.transition(current.value, target)


def test_dead_grant_errors_and_the_rest() -> None:
    assert vault.reason_for_provider_error("invalid_rapt") is vault.Reason.INVALID_RAPT
    assert vault.reason_for_provider_error("temporarily_unavailable") is None


def test_a_state_names_its_provider_and_connection_and_nothing_else_parses() -> None:
    cid = vault.new_connection_id()
    state = vault.new_state("local-google", cid)
    assert vault.parse_state(state) == ("local-google", cid)
    for bad in (None, "", state + ".x", state.replace(cid, "con_x"), "local-google." + cid + ".short"):
        assert vault.parse_state(bad) is None


def test_an_abandoned_connect_is_shown_failed_once_its_state_expired() -> None:
    started = 1_000_000.0
    before = vault.shown_status("pending", None, started, started + vault.STATE_TTL_SECONDS - 1)
    after = vault.shown_status("pending", None, started, started + vault.STATE_TTL_SECONDS)
    assert before == ("pending", None)
    assert after == ("failed", "connect_expired")
    assert vault.shown_status("active", None, started, started + 86400) == ("active", None)
