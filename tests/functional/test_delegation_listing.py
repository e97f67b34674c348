"""GET /delegations narrowed to one counterpart (`counterpart_tenant_id`), as the trust graph's
links open it: the same single query on the caller's own partition, paging included."""

from __future__ import annotations

import pytest

from chalicelib.store import delegations as store_delegations
from tests.functional.conftest import Stack
from tests.functional.helpers import assert_error, grant
from tests.functional.test_round_trips import dynamodb_calls


def _listed(stack: Stack, token: str, query: str) -> list[str]:
    reply = stack.call("GET", f"/delegations?{query}", token)
    assert reply.status == 200, reply.body
    return [d["delegation_id"] for d in reply.body["delegations"]]


def test_listing_by_counterpart(stack: Stack) -> None:
    medicore, natsupply, carelogix = (
        stack.tenant("MediCore"),
        stack.tenant("NatSupply"),
        stack.tenant("CareLogix"),
    )
    med_agent, care_agent = stack.agent(medicore), stack.agent(carelogix)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", carelogix)
    stack.policy(carelogix, "stock.write", "ALLOW", medicore)
    from_medicore = [grant(stack, med_agent, natsupply).delegation_id for _ in range(3)]
    from_carelogix = grant(stack, care_agent, natsupply).delegation_id
    medicore_to_carelogix = grant(stack, med_agent, carelogix).delegation_id
    nat = natsupply.admin_token

    # inbound: only those the named tenant asked for, newest first
    assert (
        _listed(stack, nat, f"direction=inbound&counterpart_tenant_id={medicore.tenant_id}")
        == from_medicore[::-1]
    )
    assert _listed(stack, nat, f"direction=inbound&counterpart_tenant_id={carelogix.tenant_id}") == [
        from_carelogix
    ]
    # outbound: only those addressed to the named tenant
    med = medicore.admin_token
    assert _listed(stack, med, f"direction=outbound&counterpart_tenant_id={carelogix.tenant_id}") == [
        medicore_to_carelogix
    ]
    assert len(_listed(stack, med, f"direction=outbound&counterpart_tenant_id={natsupply.tenant_id}")) == 3
    # with status and paging: one page at a time, the filter kept across pages, one query each
    pages: list[str] = []
    cursor = ""
    for _ in range(5):
        with dynamodb_calls() as calls:
            reply = stack.call(
                "GET",
                f"/delegations?direction=inbound&status=ACTIVE&limit=2"
                f"&counterpart_tenant_id={medicore.tenant_id}{cursor}",
                nat,
            )
        assert reply.status == 200, reply.body
        assert calls["Query"] == 1 and "Scan" not in calls, calls
        pages.extend(d["delegation_id"] for d in reply.body["delegations"])
        if not reply.body["next_cursor"]:
            break
        cursor = f"&cursor={reply.body['next_cursor']}"
    assert pages == from_medicore[::-1]
    # a tenant the caller never dealt with, or one with no such delegations: nothing
    assert _listed(stack, nat, f"direction=outbound&counterpart_tenant_id={medicore.tenant_id}") == []
    assert _listed(stack, nat, "direction=inbound&counterpart_tenant_id=tnt_0123456789abcdef0123") == []


def test_a_malformed_counterpart_is_refused(stack: Stack) -> None:
    natsupply = stack.tenant("NatSupply")
    for value in ("medicore", "tnt_XYZ", "*"):
        assert_error(
            stack.call("GET", f"/delegations?counterpart_tenant_id={value}", natsupply.admin_token), 400
        )


def test_a_rare_filter_reads_a_bounded_number_of_items_per_request(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Filtering happens after DynamoDB reads: however many delegations the partition holds, a
    request reads at most MAX_PAGES pages of them and hands back a cursor to go on from."""
    monkeypatch.setattr(store_delegations, "PAGE_SIZE", 2)
    monkeypatch.setattr(store_delegations, "MAX_PAGES", 1)
    medicore, natsupply, carelogix = (
        stack.tenant("MediCore"),
        stack.tenant("NatSupply"),
        stack.tenant("CareLogix"),
    )
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", carelogix)
    oldest = grant(stack, stack.agent(carelogix), natsupply).delegation_id
    med_agent = stack.agent(medicore)
    for _ in range(5):
        grant(stack, med_agent, natsupply)
    found: list[str] = []
    cursor, requests = "", 0
    while True:
        with dynamodb_calls() as calls:
            reply = stack.call(
                "GET",
                f"/delegations?direction=inbound&counterpart_tenant_id={carelogix.tenant_id}{cursor}",
                natsupply.admin_token,
            )
        requests += 1
        assert reply.status == 200, reply.body
        assert calls["Query"] == 1 and "Scan" not in calls, calls
        found.extend(d["delegation_id"] for d in reply.body["delegations"])
        if not reply.body["next_cursor"]:
            break
        cursor = f"&cursor={reply.body['next_cursor']}"
        assert requests < 10
    assert found == [oldest]
    assert requests >= 3  # six delegations, two read per request
