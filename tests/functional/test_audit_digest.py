"""Signed hour digests over the audit export, and their verification."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.config import get_settings
from chalicelib.jobs import audit_verify
from chalicelib.jobs.audit_digest import DigestTampered, digest_key
from chalicelib.jobs.objects import S3ObjectStore, sha256_hex
from chalicelib.services.container import get_container
from tests.functional.audit_stream import at_hour, export, make_bucket, objects, stream_records
from tests.functional.conftest import Stack, Tenant

HOURS = ("2030-01-01T09", "2030-01-01T10", "2030-01-02T00")


def _store() -> S3ObjectStore:
    return S3ObjectStore(get_settings().audit_bucket, lambda: boto3.client("s3", region_name="us-east-1"))


def _verify(tenant: Tenant, since: str | None = None) -> audit_verify.VerifyReport:
    return audit_verify.verify_tenant(_store(), get_container().keys, tenant.tenant_id, since)


def _digest(tenant: Tenant, hour: str) -> dict[str, Any]:
    raw = _store().get(digest_key(tenant.tenant_id, hour))
    assert raw is not None, f"no digest for {hour}"
    return dict(json.loads(raw))


@pytest.fixture
def tenant(stack: Stack) -> Tenant:
    """A tenant whose events were exported in three hours, in two batches each."""
    make_bucket()
    tenant = stack.tenant("MediCore")
    stack.agent(tenant)
    records, arn = stream_records()
    mine = [r for r in records if r["dynamodb"]["NewImage"]["tenant_id"]["S"] == tenant.tenant_id]
    assert len(mine) >= 2
    batches = [
        [at_hour(mine[i % len(mine)], hour, 10 * h + i) for i in range(4)] for h, hour in enumerate(HOURS)
    ]
    for batch in batches:
        assert export(batch[:2], arn)["batchItemFailures"] == []
        assert export(batch[2:], arn)["batchItemFailures"] == []
    return tenant


def _export_keys(tenant: Tenant) -> list[str]:
    return sorted(objects(f"audit/tenant={tenant.tenant_id}/"))


def test_a_clean_chain_verifies(tenant: Tenant) -> None:
    report = _verify(tenant)
    assert report.ok, report.as_dict()
    assert report.digests_checked == len(HOURS)
    assert report.objects_checked == len(_export_keys(tenant)) == 2 * len(HOURS)


def test_the_chain_links_hours_and_signs_every_digest(tenant: Tenant) -> None:
    digests = [_digest(tenant, hour) for hour in HOURS]
    assert digests[0]["previous_digest"] is None
    for earlier, later, hour in zip(HOURS, digests[1:], HOURS[1:], strict=False):
        raw = _store().get(digest_key(tenant.tenant_id, earlier))
        assert raw is not None
        link = {"key": digest_key(tenant.tenant_id, earlier), "sha256": sha256_hex(raw)}
        assert later["previous_digest"] == link
        assert later["hour"] == hour
    for doc in digests:
        assert doc["signing_kid"] == get_container().signer.kid
        assert len(doc["objects"]) == 2, "both batches of the hour are listed"
        assert doc["signature"].count(".") == 2 and doc["signature"].split(".")[1] == ""


def test_a_late_object_for_an_earlier_hour_keeps_the_chain_valid(stack: Stack, tenant: Tenant) -> None:
    records, arn = stream_records()
    mine = [r for r in records if r["dynamodb"]["NewImage"]["tenant_id"]["S"] == tenant.tenant_id]
    export([at_hour(mine[0], HOURS[0], 99)], arn)
    assert len(_digest(tenant, HOURS[0])["objects"]) == 3
    report = _verify(tenant)
    assert report.ok, report.as_dict()


def test_changed_missing_and_added_objects_are_reported(tenant: Tenant) -> None:
    s3, bucket = boto3.client("s3", region_name="us-east-1"), get_settings().audit_bucket
    keys = _export_keys(tenant)
    s3.put_object(Bucket=bucket, Key=keys[0], Body=b"rewritten history")
    s3.delete_object(Bucket=bucket, Key=keys[1])
    added = keys[2].rsplit("/", 1)[0] + "/10-01ZZZZZZZZZZZZZZZZZZZZZZ.jsonl.gz"
    s3.put_object(Bucket=bucket, Key=added, Body=b"forged")

    report = _verify(tenant)
    assert not report.ok
    assert report.changed == [keys[0]]
    assert report.missing == [keys[1]]
    assert report.unexpected == [added]
    assert report.bad_signatures == [] and report.broken_links == []


def test_a_tampered_digest_is_reported_and_never_re_signed(tenant: Tenant) -> None:
    key = digest_key(tenant.tenant_id, HOURS[1])
    doc = _digest(tenant, HOURS[1])
    hidden = doc["objects"].pop()  # hide an export object from the digest, keep the signature
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=get_settings().audit_bucket, Key=key, Body=json.dumps(doc).encode()
    )

    report = _verify(tenant)
    assert [m.split(":")[0] for m in report.bad_signatures] == [key]
    assert [m.split(":")[0] for m in report.broken_links] == [digest_key(tenant.tenant_id, HOURS[2])]
    assert report.unexpected == [hidden["key"]]

    records, arn = stream_records()
    mine = [r for r in records if r["dynamodb"]["NewImage"]["tenant_id"]["S"] == tenant.tenant_id]
    with pytest.raises(DigestTampered):
        export([at_hour(mine[0], HOURS[1], 77)], arn)


def test_a_deleted_digest_breaks_the_chain(tenant: Tenant) -> None:
    boto3.client("s3", region_name="us-east-1").delete_object(
        Bucket=get_settings().audit_bucket, Key=digest_key(tenant.tenant_id, HOURS[1])
    )
    report = _verify(tenant)
    assert [m.split(":")[0] for m in report.broken_links] == [digest_key(tenant.tenant_id, HOURS[2])]
    assert len(report.unexpected) == 2, "the deleted hour's objects are covered by no digest"


def test_since_limits_the_check_to_later_hours(tenant: Tenant) -> None:
    keys = _export_keys(tenant)
    boto3.client("s3", region_name="us-east-1").delete_object(Bucket=get_settings().audit_bucket, Key=keys[0])
    assert _verify(tenant, "2030-01-01T10:00:00Z").ok
    assert _verify(tenant).missing == [keys[0]]


def test_the_cli_reports_and_exits_non_zero_on_tampering(
    tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit_verify.main(["--tenant", tenant.tenant_id, "--source", "s3"]) == 0
    assert "OK" in capsys.readouterr().out
    keys = _export_keys(tenant)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket=get_settings().audit_bucket, Key=keys[0], Body=b"x")
    assert audit_verify.main(["--tenant", tenant.tenant_id, "--source", "s3", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["changed"] == [keys[0]]
