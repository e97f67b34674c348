"""Issue 8 item 1: a tenant cannot take another tenant's audience.

Before the fix, `POST /tenants {"name": "Evil", "audience": <NatSupply's>}` answered 201; Evil's
own ALLOW policy then produced delegation tokens whose `aud` was NatSupply's, and a receiving
API that checks `aud` (the SDK's DelegationVerifier) accepted them for actions NatSupply blocks.
Now the audience is claimed in the same transaction that creates the tenant: a collision is a
409 `audience_taken` and nothing at all is written. The receiving side pins its tenant id too
(SDK `receiving_tenant_id=`; the server's `/delegations/verify` binds it by the caller).
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from vaultguard import DelegationVerifier, InvalidDelegationToken, JWKSCache

from tests.functional.conftest import ISSUER, Stack, Tenant
from tests.functional.helpers import (
    assert_error,
    compact,
    grant,
    jwks,
    jwt_parts,
    rs256,
    server_private_key,
    shared_botocore_data,
)

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

NATSUPPLY_AUDIENCE = "https://lmis.natsupply.example/api"


def create_tenant(stack: Stack, name: str, audience: str | None = None) -> Any:
    body: dict[str, Any] = {"name": name}
    if audience is not None:
        body["audience"] = audience
    return stack.call("POST", "/tenants", stack.platform_token, body)


def stored_items(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Every item of both tables, except rate-limit counters (each API call moves those)."""
    settings = stack.container.settings
    client = boto3.client("dynamodb", region_name=settings.aws_region)
    out: dict[str, list[dict[str, Any]]] = {}
    for table in (settings.table_name, settings.audit_table_name):
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items += [i for i in page["Items"] if not i["sk"]["S"].startswith("RATE#")]
        out[table] = sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
    return out


def tenant_names(stack: Stack) -> list[str]:
    reply = stack.call("GET", "/tenants", stack.platform_token)
    assert reply.status == 200, reply.body
    return sorted(t["name"] for t in reply.body["tenants"])


def assert_refused_without_trace(stack: Stack, audience: str, status: int, error: str) -> None:
    before = stored_items(stack)
    reply = create_tenant(stack, "Evil", audience)
    assert_error(reply, status, error)
    assert "Evil" not in tenant_names(stack)
    assert stored_items(stack) == before  # no tenant, no credential, no claim, no audit event


def test_a_custom_audience_held_by_another_tenant_is_refused_and_nothing_is_written(stack: Stack) -> None:
    reply = create_tenant(stack, "NatSupply", NATSUPPLY_AUDIENCE)
    assert reply.status == 201, reply.body
    assert reply.body["audience"] == NATSUPPLY_AUDIENCE

    assert_refused_without_trace(stack, NATSUPPLY_AUDIENCE, 409, "audience_taken")
    reply = create_tenant(stack, "Evil", NATSUPPLY_AUDIENCE)
    assert "another tenant" in reply.body["error_description"]
    assert tenant_names(stack) == ["NatSupply"]


def test_the_attack_from_the_issue_natsupplys_assigned_audience_is_refused(stack: Stack) -> None:
    natsupply = stack.tenant("NatSupply")
    assert natsupply.audience == f"urn:vaultguard:tenant:{natsupply.tenant_id}"
    assert_refused_without_trace(stack, natsupply.audience, 409, "audience_taken")
    # the whole namespace VaultGuard assigns from, and the API's own audience, are never on offer
    for reserved in ("urn:vaultguard:tenant:tnt_00000000000000000000", "URN:VaultGuard:anything",
                     stack.container.settings.api_audience):
        assert_refused_without_trace(stack, reserved, 409, "audience_taken")


@pytest.mark.parametrize(
    "variant", [" " + NATSUPPLY_AUDIENCE, NATSUPPLY_AUDIENCE + " ", f"  {NATSUPPLY_AUDIENCE}  "]
)
def test_surrounding_whitespace_is_refused_not_trimmed(stack: Stack, variant: str) -> None:
    assert create_tenant(stack, "NatSupply", NATSUPPLY_AUDIENCE).status == 201
    assert_refused_without_trace(stack, variant, 400, "invalid_request")


def test_audiences_are_compared_exactly_so_a_case_variant_is_another_audience(stack: Stack) -> None:
    """`aud` is compared case-sensitively by every verifier (RFC 7519 §4.1.3), so a variant in
    another case is a different audience: a token for it is never accepted as NatSupply's."""
    assert create_tenant(stack, "NatSupply", NATSUPPLY_AUDIENCE).status == 201
    reply = create_tenant(stack, "Other", NATSUPPLY_AUDIENCE.upper())
    assert reply.status == 201, reply.body
    assert reply.body["audience"] == NATSUPPLY_AUDIENCE.upper()
    # ...and that one is now held too
    assert_refused_without_trace(stack, NATSUPPLY_AUDIENCE.upper(), 409, "audience_taken")


def test_a_disabled_tenants_audience_stays_taken(stack: Stack) -> None:
    reply = create_tenant(stack, "NatSupply", NATSUPPLY_AUDIENCE)
    assert reply.status == 201, reply.body
    patch = stack.call(
        "PATCH", f"/tenants/{reply.body['tenant_id']}", stack.platform_token, {"status": "DISABLED"}
    )
    assert patch.status == 200, patch.body
    assert_refused_without_trace(stack, NATSUPPLY_AUDIENCE, 409, "audience_taken")


# -- the receiving side binds the receiving tenant, not only the audience -----------------------


def _tenant_from(stack: Stack, reply: Any) -> Tenant:
    b = reply.body
    admin = b["admin"]
    token = stack.token(admin["client_id"], admin["client_secret"])
    return Tenant(b["tenant_id"], b["name"], b["audience"], admin["client_id"], admin["client_secret"], token)


def _evil_world(stack: Stack) -> tuple[Tenant, Tenant, str]:
    """NatSupply (blocks everything) and Evil; Evil's agent holds a genuine admin.access token
    from Evil itself, re-signed with the server's key with NatSupply's audience: what the
    attack produced before audiences were unique (it can no longer be obtained via the API)."""
    natsupply = _tenant_from(stack, create_tenant(stack, "NatSupply", NATSUPPLY_AUDIENCE))
    evil = stack.tenant("Evil")
    agent = stack.agent(evil)
    stack.policy(evil, "admin.access", "ALLOW", evil)
    genuine = grant(stack, agent, evil, "admin.access").token
    head, claims, _ = jwt_parts(genuine)
    assert claims["receiving_tenant_id"] == evil.tenant_id
    forged = compact(head, claims | {"aud": natsupply.audience}, rs256(server_private_key(stack)))
    return natsupply, evil, forged


def _sdk_verifier(stack: Stack, audience: str, receiving_tenant_id: str | None) -> DelegationVerifier:
    keys = {"keys": jwks(stack)}
    cache = JWKSCache(f"{ISSUER}/.well-known/jwks.json", fetch=lambda url: keys)
    return DelegationVerifier(ISSUER, audience, jwks=cache, receiving_tenant_id=receiving_tenant_id)


def test_sdk_verifier_pinned_to_natsupply_refuses_a_token_for_another_receiving_tenant(
    stack: Stack,
) -> None:
    natsupply, evil, forged = _evil_world(stack)
    unpinned = _sdk_verifier(stack, natsupply.audience, None)
    assert unpinned.verify(forged, action="admin.access").receiving_tenant_id == evil.tenant_id  # control

    pinned = _sdk_verifier(stack, natsupply.audience, natsupply.tenant_id)
    with pytest.raises(InvalidDelegationToken) as exc:
        pinned.verify(forged, action="admin.access")
    assert exc.value.reason == "wrong_tenant"


def test_server_verify_refuses_a_token_for_another_receiving_tenant_even_with_our_audience(
    stack: Stack,
) -> None:
    natsupply, evil, forged = _evil_world(stack)
    reply = stack.verify(forged, natsupply.admin_token)
    assert reply.status == 200, reply.body
    assert reply.body == {"active": False}
    audit_types = [e["type"] for e in stack.audit(natsupply)]
    assert "delegation.verified" not in audit_types
