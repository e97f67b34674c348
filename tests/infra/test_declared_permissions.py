"""The roles cannot drift from the code: the AWS calls each route and job really makes are
within the role `infra/package.py` builds from its declaration (`endpoint(permissions=)`).

The functional suite checks every call it makes (tests/functional/aws_roles.py) on the local
stage, whose signer and encryptor are key files. Here every route's round-trip case
(tests/functional/test_round_trips.py) and the jobs run as production runs them: tokens signed
by KMS, secrets sealed with a KMS data key, large CSV exports on S3; then the checker itself
is shown to refuse what a role lacks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib import config
from chalicelib.api import _permissions
from chalicelib.api._permissions import Permission
from chalicelib.auth.secrets import new_key_blob
from chalicelib.crypto.kms import KmsEncryptor
from infra import package
from tests import aws_calls, role_check
from tests.aws_calls import Access, AwsCall
from tests.functional.conftest import Stack, aws_env, stack_with  # noqa: F401 - aws_env: a fixture
from tests.functional.test_kms_signer import moto_kms_honours_digest  # noqa: F401 - autouse fixture
from tests.functional.test_round_trips import CASES, World, _bodies

REGION = "us-east-1"
NAMES = role_check.Names(REGION, "vaultguard", "vaultguard-audit", "audit-bucket", "alias/sign", "alias/data")
MAIN = aws_calls.table_arn(REGION, NAMES.table)
AUDIT = aws_calls.table_arn(REGION, NAMES.audit_table)
# Run last, in this order: they remove the world's policy, revoke its tokens or remove its agent.
DESTRUCTIVE = [
    ("DELETE", "/policies/{policy_id}"),
    ("POST", "/oauth/revoke"),
    ("POST", "/delegations/{delegation_id}/revoke"),
    ("POST", "/agents/{agent_id}/rotate-secret"),
    ("DELETE", "/agents/{agent_id}"),
]


@pytest.fixture
def kms_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """A production-like stage: KMS signing key, KMS data key, CSV exports of over one row on S3."""
    request.getfixturevalue("aws_env")  # moto, the tables
    kms = boto3.client("kms", region_name=REGION)
    signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    data = kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=config.Settings().audit_bucket)
    return {
        config.SIGNER: "kms",
        config.KMS_KEY_ID: signing,
        config.ENCRYPTOR: "kms",
        config.KMS_DATA_KEY_ID: data,
        config.SECRET_HASH_KEY_BLOB: new_key_blob(KmsEncryptor(data, lambda: kms).encrypt),
        config.CSV_INLINE_MAX_ROWS: "1",
    }


@pytest.fixture
def recorded(kms_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stack, Any]]:
    with role_check.recording() as calls, stack_with(monkeypatch, **kms_env) as stack:
        yield stack, calls


def _checked(calls: list[AwsCall], labels: set[str]) -> None:
    found = role_check.violations(calls)
    assert found == [], "\n".join(found)
    missing = labels - {c.label for c in calls}
    assert missing == set(), f"no AWS call recorded for {sorted(missing)}: the recording is not attributed"


def test_every_routes_calls_are_within_its_role(recorded: tuple[Stack, Any]) -> None:
    stack, calls = recorded
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(med)
    stack.policy(nat, "stock.write", "ALLOW", med)
    stack.policy(nat, "requisition.submit", "STEP_UP", med)
    allowed = stack.request(agent, nat, "stock.write").body
    pending = [stack.request(agent, nat, "requisition.submit").body for _ in range(4)]
    world = World(stack, med, nat, agent, allowed, pending)
    order = sorted(set(CASES) - set(DESTRUCTIVE)) + DESTRUCTIVE
    for method, path in order:
        reply = (_bodies(world, method, path) or CASES[(method, path)][1])(world)
        assert reply.status < 400, (method, path, reply.status, reply.body)
    assert {c.service for c in calls} >= {"dynamodb", "kms", "s3"}  # KMS signing, sealing; S3 export
    # every route that reads or writes anything (a budget above 0) was seen making its calls
    _checked(calls, {f"{m} {p}" for (m, p), (budget, _) in CASES.items() if budget})


def test_the_jobs_calls_are_within_their_roles(recorded: tuple[Stack, Any]) -> None:
    from chalicelib.jobs import cleanup
    from tests.functional.audit_stream import export, stream_records

    stack, calls = recorded
    med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
    stack.policy(nat, "stock.write", "ALLOW", med)
    assert stack.request(stack.agent(med), nat, "stock.write", ttl_seconds=60).status == 201
    assert cleanup.build_job(stack.container).run(now=time.time() + 7200).expired == 1
    result = export(*stream_records())
    assert result.get("batchItemFailures") == [], result
    _checked(calls, {package.CLEANUP, package.EXPORT})
    export_calls = calls.by_label(package.EXPORT)
    assert {"kms:Sign", "s3:PutObject"} <= {a.action for c in export_calls for a in c.accesses}


def test_the_vaults_routes_and_refresh_job_are_within_their_roles(
    kms_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.jobs.vault_refresh import VaultRefreshJob
    from tests.functional.vault_helpers import vault_world

    for name, value in kms_env.items():
        monkeypatch.setenv(name, value)
    with role_check.recording() as calls, vault_world(monkeypatch) as w:
        cid = w.connected()
        body = {"connection_id": cid}
        assert w.stack.call("POST", "/vault/exchange", w.agent.token, body).status == 200
        assert w.stack.call("GET", "/vault/connections", w.med.admin_token).status == 200
        job = VaultRefreshJob(w.stack.container.vault_exchange)
        assert job.run(now=time.time() + 7 * 86400 + 60)["refreshed"] == 1
        assert w.stack.call("DELETE", f"/vault/connections/{cid}", w.med.admin_token).status in (200, 204)
    labels = {"POST /vault/connect", "GET /vault/callback", "POST /vault/exchange", package.VAULT_REFRESH}
    _checked(calls, labels)
    refresh = {a.action for c in calls.by_label(package.VAULT_REFRESH) for a in c.accesses}
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= refresh  # the refresh token opened, new ones sealed


# -- the checker refuses what a role lacks ------------------------------------------------------


def _call(label: str, operation: str, params: dict[str, Any], service: str = "dynamodb") -> AwsCall:
    accesses = aws_calls.accesses(service, service, operation, params, REGION)
    return AwsCall(service, operation, params, accesses, label, REGION, context={"names": NAMES})


AUDIT_QUERY = _call(
    "GET /audit", "Query", {"TableName": "vaultguard-audit", "KeyConditionExpression": "pk = :p"}
)


def test_a_route_whose_declaration_lacks_what_it_does_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import app  # noqa: F401 - the routes declare their permissions when imported

    assert role_check.violations([AUDIT_QUERY]) == []
    declared = _permissions.permissions_for("GET", "/audit")
    monkeypatch.setitem(_permissions._DECLARED, ("GET", "/audit"), declared - {Permission.AUDIT_READ})
    assert role_check.violations([AUDIT_QUERY]) == [f"GET /audit: dynamodb:Query on {AUDIT} (Query)"]


def test_a_capability_that_maps_to_too_little_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import app  # noqa: F401

    narrowed = {
        **package.STATEMENTS,
        Permission.AUDIT_READ: [package._allow("X", ["dynamodb:GetItem"], ["*"])],
    }
    monkeypatch.setattr(package, "STATEMENTS", narrowed)
    assert role_check.violations([AUDIT_QUERY]) != []


def test_every_item_of_a_transaction_needs_its_own_action() -> None:
    write = _call(
        "POST /x",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "vaultguard", "Item": {}}},
                {"ConditionCheck": {"TableName": "vaultguard", "Key": {}}},
                {"Put": {"TableName": "vaultguard-audit", "Item": {}}},
            ]
        },
    )
    assert set(write.accesses) == {
        Access("dynamodb:PutItem", MAIN),
        Access("dynamodb:ConditionCheckItem", MAIN),
        Access("dynamodb:PutItem", AUDIT),
    }
    main_only = package.statements_for({Permission.MAIN_WRITE})
    assert role_check.violations([write], lambda _: main_only) == [
        f"POST /x: dynamodb:PutItem on {AUDIT} (TransactWriteItems)"
    ]
    with_audit = package.statements_for({Permission.MAIN_WRITE, Permission.AUDIT_WRITE})
    assert role_check.violations([write], lambda _: with_audit) == []


def test_an_index_query_needs_the_index_and_a_listing_its_prefix() -> None:
    on_index = _call("GET /x", "Query", {"TableName": "vaultguard", "IndexName": "gsi1"})
    assert role_check.violations([on_index], lambda _: package.statements_for({Permission.MAIN_READ})) == []
    audit_only = package.statements_for({Permission.AUDIT_READ, Permission.MAIN_WRITE})
    assert role_check.violations([on_index], lambda _: audit_only) != []

    def listing(prefix: str) -> AwsCall:
        return _call(package.EXPORT, "ListObjectsV2", {"Bucket": NAMES.bucket, "Prefix": prefix}, "s3")

    assert role_check.violations([listing("digests/tenant=t/")]) == []
    assert role_check.violations([listing("exports/")]) != []  # the export may list audit/ and digests/ only


def test_the_webhook_job_may_put_delivered_markers_and_nothing_else() -> None:
    def put(*attributes: str) -> AwsCall:
        item = {name: {"S": "x"} for name in attributes}
        return _call(package.WEBHOOKS, "PutItem", {"TableName": "vaultguard", "Item": item})

    assert role_check.violations([put(*package.MARKER_ATTRIBUTES)]) == []
    assert role_check.violations([put(*package.MARKER_ATTRIBUTES, "secret_ciphertext")]) != []


def test_a_route_without_declaration_and_a_preflight_get_nothing() -> None:
    undeclared = _call("GET /no/such/route", "GetItem", {"TableName": "vaultguard", "Key": {}})
    preflight = _call("OPTIONS /policies", "GetItem", {"TableName": "vaultguard", "Key": {}})
    assert role_check.violations([undeclared]) == ["GET /no/such/route: no permissions declared for it"]
    assert role_check.violations([preflight]) != []


def test_calls_are_attributed_to_the_route_in_flight(recorded: tuple[Stack, Any]) -> None:
    stack = recorded[0]
    with aws_calls.record() as calls:
        assert stack.call("GET", "/health").status == 200
        boto3.client("dynamodb", region_name=REGION).list_tables()
    assert calls.labels() == {"GET /health"}
    assert [c.operation for c in calls.by_label(None)] == ["ListTables"]
