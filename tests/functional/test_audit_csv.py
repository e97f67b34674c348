"""GET /audit/export.csv: the admin's own log as RFC 4180 CSV, or a presigned S3 URL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from chalice.test import Client

from chalicelib.config import get_settings
from chalicelib.services import container as container_module
from tests.functional.conftest import Stack


def parse(text: str | bytes) -> list[dict[str, str]]:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def busy_world(stack: Stack) -> tuple:  # type: ignore[type-arg]
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    for _ in range(2):
        stack.request(agent, natsupply, "stock.write")
    stack.request(agent, natsupply, "admin.access")
    return medicore, natsupply, agent


def test_csv_matches_the_log_and_holds_only_the_callers_events(stack: Stack) -> None:
    medicore, natsupply, agent = busy_world(stack)
    reply = stack.call("GET", "/audit/export.csv", medicore.admin_token)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/csv")
    rows = parse(reply.body)
    events = stack.audit(medicore)
    assert [r["event_id"] for r in rows] == [e["event_id"] for e in reversed(events)]  # oldest first
    assert int(reply.headers["X-Row-Count"]) == len(rows)
    assert {r["counterpart_tenant_id"] for r in rows} <= {"", natsupply.tenant_id}
    natsupply_ids = {e["event_id"] for e in stack.audit(natsupply)}
    assert all(r["event_id"] not in natsupply_ids or r["counterpart_tenant_id"] for r in rows)

    allowed = parse(stack.call("GET", "/audit/export.csv?type=delegation.allowed", medicore.admin_token).body)
    assert len(allowed) == 2 and {r["type"] for r in allowed} == {"delegation.allowed"}
    by_actor = parse(
        stack.call("GET", f"/audit/export.csv?actor_id={agent.agent_id}", medicore.admin_token).body
    )
    assert by_actor and {r["actor_id"] for r in by_actor} == {agent.agent_id}


def test_only_admins_export_and_bad_filters_are_400(stack: Stack) -> None:
    medicore, _, agent = busy_world(stack)
    assert stack.call("GET", "/audit/export.csv", agent.token).status == 403
    for query in ("type=nope", "since=yesterday", "limit=5", "actor_id=%20"):
        reply = stack.call("GET", f"/audit/export.csv?{query}", medicore.admin_token)
        assert reply.status == 400, query


@pytest.fixture
def small_inline(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("VAULTGUARD_CSV_INLINE_MAX_ROWS", "3")
    container_module.reset()
    boto3.client("s3").create_bucket(Bucket=get_settings().audit_bucket)
    from app import app

    with Client(app, stage_name="local") as client:
        yield Stack(client)


def test_large_exports_go_to_s3_behind_a_presigned_url(small_inline: Stack) -> None:
    stack = small_inline
    medicore, _, _ = busy_world(stack)
    reply = stack.call("GET", "/audit/export.csv", medicore.admin_token)
    assert reply.status == 303
    url = reply.headers["Location"]
    assert reply.body["download_url"] == url and reply.body["expires_in"] == 300
    assert "X-Amz-Signature" in url and "X-Amz-Expires=300" in url
    bucket = get_settings().audit_bucket
    key = unquote(urlsplit(url).path).lstrip("/").removeprefix(bucket + "/")
    assert key.startswith(f"exports/tenant={medicore.tenant_id}/")
    obj = boto3.client("s3").get_object(Bucket=get_settings().audit_bucket, Key=key)
    rows = parse(obj["Body"].read().decode("utf-8"))
    assert len(rows) == reply.body["rows"] == len(stack.audit(medicore))
