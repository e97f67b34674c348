"""An agent's last use: the time of its last access token from /oauth/token, written inside
the issuing transaction (no extra round trip) and shown by GET /agents and /agents/{id}."""

from __future__ import annotations

from datetime import datetime

from tests.functional.conftest import Stack
from tests.functional.helpers import basic
from tests.functional.test_round_trips import dynamodb_calls


def _shown(stack: Stack, token: str, agent_id: str) -> tuple[str | None, str | None]:
    listed = {a["agent_id"]: a for a in stack.call("GET", "/agents", token).body["agents"]}
    one = stack.call("GET", f"/agents/{agent_id}", token).body
    return listed[agent_id]["last_used_at"], one["last_used_at"]


def test_a_new_agent_has_not_been_used_and_a_token_marks_its_use(stack: Stack) -> None:
    med = stack.tenant("MediCore")
    created = stack.call("POST", "/agents", med.admin_token, {"name": "buyer"})
    assert created.status == 201 and created.body["last_used_at"] is None
    agent_id = created.body["agent_id"]
    assert _shown(stack, med.admin_token, agent_id) == (None, None)

    stack.token(created.body["client_id"], created.body["client_secret"])
    first, same = _shown(stack, med.admin_token, agent_id)
    assert first is not None and first == same
    assert (
        abs(datetime.fromisoformat(first.replace("Z", "+00:00")).timestamp() - datetime.now().timestamp())
        < 60
    )

    other = stack.agent(med, "unused")  # its own token marks only itself
    assert _shown(stack, med.admin_token, agent_id)[0] == first
    assert _shown(stack, med.admin_token, other.agent_id)[0] is not None


def test_marking_the_use_adds_no_round_trip(stack: Stack) -> None:
    med = stack.tenant("MediCore")
    agent = stack.agent(med)
    with dynamodb_calls() as calls:
        reply = stack.form(
            "/oauth/token", "grant_type=client_credentials", basic(agent.client_id, agent.secret)
        )
    assert reply.status == 200, reply.body
    assert sum(calls.values()) <= 2, dict(calls)
    assert _shown(stack, med.admin_token, agent.agent_id)[0] is not None


def test_an_admin_clients_token_marks_no_agent(stack: Stack) -> None:
    med = stack.tenant("MediCore")
    created = stack.call("POST", "/agents", med.admin_token, {"name": "idle"}).body
    stack.token(med.admin_client_id, med.admin_secret)
    assert _shown(stack, med.admin_token, created["agent_id"]) == (None, None)
