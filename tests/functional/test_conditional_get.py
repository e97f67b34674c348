"""Conditional GETs: a successful JSON GET carries a strong ETag, and `If-None-Match` naming
it (or `*`, or its weak form) gets `304 Not Modified` without a body, at the same cost in
DynamoDB round trips as the full answer. Writes, errors and no-store answers are untouched."""

from __future__ import annotations

import time

import pytest

from tests.functional.conftest import Reply
from tests.functional.helpers import basic, form, header
from tests.functional.test_round_trips import World, dynamodb_calls
from tests.functional.test_round_trips import world as world  # noqa: F401 - fixture

QUEUE = "/delegations?direction=inbound&status=PENDING"


def poll(w: World, etag: str | None = None) -> Reply:
    headers = {"if-none-match": etag} if etag else {}
    return w.stack.call("GET", QUEUE, w.nat.admin_token, headers=headers)


def test_a_list_carries_an_etag_that_may_be_revalidated(world: World) -> None:
    first = poll(world)
    assert first.status == 200
    tag = str(header(first, "etag"))
    # weak: the queue's countdowns (expires_in) are left out of the digest
    assert tag.startswith('W/"') and tag.endswith('"') and len(tag) == 31
    assert header(first, "cache-control") == "private, no-cache"
    assert poll(world).headers["ETag"] == tag  # same data, same tag

    agents = world.stack.call("GET", "/agents", world.med.admin_token)
    strong = str(header(agents, "etag"))  # no countdown: the exact bytes' digest
    assert strong.startswith('"') and len(strong) == 29


def test_the_queue_stays_not_modified_while_only_its_countdowns_move(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = poll(world)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 7)
    later = poll(world)
    assert later.status == 200
    assert later.body["delegations"][0]["expires_in"] < first.body["delegations"][0]["expires_in"]
    assert header(later, "etag") == header(first, "etag")
    assert poll(world, str(header(first, "etag"))).status == 304


@pytest.mark.parametrize(
    "if_none_match",
    ["{tag}", "{opaque}", "W/{opaque}", '"other", {tag}', "*", ' "x" ,{opaque} '],
)
def test_the_same_data_answers_304_without_a_body(world: World, if_none_match: str) -> None:
    tag = str(header(poll(world), "etag"))
    reply = poll(world, if_none_match.format(tag=tag, opaque=tag.removeprefix("W/")))
    assert reply.status == 304
    assert reply.body is None
    assert header(reply, "etag") == tag
    assert header(reply, "x-request-id")
    assert header(reply, "x-content-type-options") == "nosniff"
    assert header(reply, "strict-transport-security")
    assert header(reply, "cache-control") == "private, no-cache"
    assert header(reply, "content-type") is None


def test_changed_data_answers_200_with_a_new_tag(world: World) -> None:
    before = poll(world)
    old = str(header(before, "etag"))
    world.stack.request(world.agent, world.nat, "requisition.submit")
    after = poll(world, old)
    assert after.status == 200
    assert len(after.body["delegations"]) == len(before.body["delegations"]) + 1
    assert header(after, "etag") not in (None, old)
    assert poll(world, '"someone-elses-tag"').status == 200


def test_a_304_costs_the_same_round_trips_as_the_200(world: World) -> None:
    tag = str(header(poll(world), "etag"))
    with dynamodb_calls() as full:
        assert poll(world).status == 200
    with dynamodb_calls() as not_modified:
        assert poll(world, tag).status == 304
    assert not_modified == full


def test_writes_errors_and_no_store_answers_carry_no_etag(world: World) -> None:
    stack, agent, nat = world.stack, world.agent, world.nat
    write = stack.call(
        "POST",
        "/delegations/request",
        agent.token,
        {"receiving_tenant_id": nat.tenant_id, "action": "requisition.submit"},
        headers={"if-none-match": "*"},
    )
    assert write.status == 202 and write.body["status"] == "PENDING"
    assert header(write, "etag") is None

    token = stack.form(
        "/oauth/token",
        "grant_type=client_credentials",
        {**basic(agent.client_id, agent.secret), "if-none-match": "*"},
    )
    assert token.status == 200 and token.body["access_token"]
    assert header(token, "etag") is None
    assert header(token, "cache-control") == "no-store"

    missing = stack.call("GET", "/delegations/dlg_missing", nat.admin_token, headers={"if-none-match": "*"})
    assert missing.status in (400, 404)
    assert header(missing, "etag") is None
    assert header(missing, "cache-control") == "no-store"

    status = stack.call(
        "GET", f"/stepup/{write.body['auth_req_id']}/status", agent.token, headers={"if-none-match": "*"}
    )
    assert status.status == 200 and status.body
    assert header(status, "etag") is None


def test_the_introspection_form_is_unaffected(world: World) -> None:
    reply = world.stack.form(
        "/oauth/introspect",
        form({"token": world.allowed["access_token"]}),
        {**basic(world.nat.admin_client_id, world.nat.admin_secret), "if-none-match": "*"},
    )
    assert reply.status == 200 and reply.body["active"] is True
    assert header(reply, "etag") is None
