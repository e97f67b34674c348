"""The scheduled cleanup (chalicelib/jobs/cleanup.py): due ACTIVE delegations and PENDING
step-ups become EXPIRED on both sides with `delegation.expired` in both logs, exactly once,
however often and however concurrently it runs; terminal and not-yet-due ones are untouched;
it finds its work through the sparse expiry index and never scans. Also the wiring: the
5-minute schedule in app.py and the local scheduler `make run` starts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import botocore.client
import pytest
from pynamodb.connection.base import Connection
from pynamodb.models import Model

from chalicelib.auth.scope import system_scope
from chalicelib.config import Settings
from chalicelib.jobs import cleanup
from chalicelib.local.scheduler import CleanupScheduler
from chalicelib.store.db import StoreError, WriteTransaction
from tests.functional.conftest import Agent, Stack, Tenant
from tests.functional.helpers import all_audit, sha256_hex, shared_botocore_data

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

HOURS = 3600
CIBA = "urn:openid:params:grant-type:ciba"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Lets a test move VaultGuard's clock forward (tokens are checked against it too: a test
    asks for fresh ones after moving it)."""
    offset = [0.0]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])
    return offset


@pytest.fixture
def api_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every DynamoDB operation issued (by name); any Scan, at any layer, raises."""
    seen: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def spy(self: Any, operation_name: str, params: dict[str, Any]) -> Any:
        seen.append(operation_name)
        if operation_name in ("Scan", "ParallelScan"):
            raise AssertionError(f"cleanup issued a {operation_name}")
        return original(self, operation_name, params)

    def no_scan(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("cleanup called a pynamodb scan")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    monkeypatch.setattr(Model, "scan", classmethod(no_scan))
    monkeypatch.setattr(Connection, "scan", no_scan)
    return seen


@dataclass
class World:
    medicore: Tenant
    natsupply: Tenant
    agent: Agent
    ids: dict[str, str]


def build_world(stack: Stack) -> World:
    """Delegations in every state the job must tell apart (names -> delegation ids):
    `allow` (ALLOW, 60 s), `pending` (STEP_UP, 30 s to decide), `approved` (STEP_UP approved,
    60 s), `revoked`, `rejected`, and `long` (ALLOW for a day: never due in these tests)."""
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore, "buyer")
    stack.policy(natsupply, "stock.write", "ALLOW", medicore, ttl_seconds=86400)
    stack.policy(natsupply, "requisition.submit", "STEP_UP", medicore, stepup_expiry_seconds=30)
    ids: dict[str, str] = {}

    def ask(name: str, action: str, status: int, **extra: Any) -> str:
        reply = stack.request(agent, natsupply, action, **extra)
        assert reply.status == status, reply.body
        ids[name] = reply.body["delegation_id"]
        return ids[name]

    ask("allow", "stock.write", 201, ttl_seconds=60)
    ask("long", "stock.write", 201)
    ask("pending", "requisition.submit", 202)
    approved = ask("approved", "requisition.submit", 202, ttl_seconds=60)
    assert stack.call("POST", f"/delegations/{approved}/approve", natsupply.admin_token).status == 200
    revoked = ask("revoked", "stock.write", 201, ttl_seconds=60)
    assert stack.call("POST", f"/delegations/{revoked}/revoke", agent.token).status == 200
    rejected = ask("rejected", "requisition.submit", 202)
    assert stack.call("POST", f"/delegations/{rejected}/reject", natsupply.admin_token).status == 200
    return World(medicore, natsupply, agent, ids)


def stored(stack: Stack, world: World, name: str) -> tuple[Any, Any]:
    """The record of truth and the requesting side's reference, as stored."""
    repo = stack.container.delegation_repo
    record = repo.get(system_scope(world.natsupply.tenant_id), world.ids[name])
    ref = repo.get_ref(system_scope(world.medicore.tenant_id), world.ids[name])
    assert record is not None and ref is not None
    return record, ref


def at_clock(stack: Stack, tenant: Tenant) -> Tenant:
    """The tenant with an admin token issued at the (possibly moved) clock."""
    return replace(tenant, admin_token=stack.token(tenant.admin_client_id, tenant.admin_secret))


def expired_events(stack: Stack, tenant: Tenant) -> list[dict[str, Any]]:
    return [e for e in all_audit(stack, at_clock(stack, tenant)) if e["type"] == "delegation.expired"]


def api_status(stack: Stack, world: World, name: str) -> set[str]:
    statuses = set()
    for tenant in (world.medicore, world.natsupply):
        token = stack.token(tenant.admin_client_id, tenant.admin_secret)  # valid at the moved clock
        reply = stack.call("GET", f"/delegations/{world.ids[name]}", token)
        assert reply.status == 200, reply.body
        statuses.add(reply.body["status"])
    return statuses


DUE = ("allow", "pending", "approved")


def test_due_delegations_expire_on_both_sides_with_one_event_each(
    stack: Stack, clock: list[float], api_calls: list[str], subtests: pytest.Subtests
) -> None:
    world = build_world(stack)
    job = cleanup.build_job(stack.container)
    before = {name: stored(stack, world, name) for name in world.ids}

    with subtests.test("nothing is due yet: nothing changes"):
        summary = job.run()
        assert (summary.expired, summary.failed) == (0, 0), summary
        assert expired_events(stack, world.medicore) == expired_events(stack, world.natsupply) == []
        for name in world.ids:
            assert stored(stack, world, name)[0].status == before[name][0].status

    clock[0] += 3 * HOURS  # the due ones now sit in an older hour bucket than the current one
    api_calls.clear()
    summary = job.run()

    with subtests.test("the summary counts what was done"):
        assert (summary.expired, summary.failed) == (3, 0), summary
        assert summary.examined == summary.expired + summary.skipped

    with subtests.test("the job queried the expiry index and never scanned"):
        assert "Query" in api_calls and "Scan" not in api_calls
        assert "TransactWriteItems" in api_calls

    for name in DUE:
        with subtests.test(f"{name}: EXPIRED in both partitions, off the expiry index"):
            record, ref = stored(stack, world, name)
            assert (record.status, ref.status) == ("EXPIRED", "EXPIRED")
            assert record.expiry_bucket is None and record.expiry_at is None
            assert record.updated_at == ref.updated_at and record.updated_at is not None
            assert api_status(stack, world, name) == {"EXPIRED"}

    logs = {
        "requester": expired_events(stack, world.medicore),
        "receiver": expired_events(stack, world.natsupply),
    }
    for side, log in logs.items():
        with subtests.test(f"{side} log: one delegation.expired per due delegation, by the system"):
            assert sorted(e["delegation_id"] for e in log) == sorted(world.ids[n] for n in DUE)
            for event in log:
                assert event["actor"]["type"] == "system", event
                assert event["action"] in ("stock.write", "requisition.submit")
    with subtests.test("both logs hold the same event, each naming the other tenant"):
        mine = {e["delegation_id"]: e for e in logs["requester"]}
        theirs = {e["delegation_id"]: e for e in logs["receiver"]}
        for delegation_id, event in mine.items():
            assert event["event_id"] == theirs[delegation_id]["event_id"]
            assert event["counterpart_tenant_id"] == world.natsupply.tenant_id
            assert theirs[delegation_id]["counterpart_tenant_id"] == world.medicore.tenant_id
    with subtests.test("an expired token's event carries its fingerprint, never the token"):
        record, _ = stored(stack, world, "allow")
        event = next(e for e in logs["receiver"] if e["delegation_id"] == world.ids["allow"])
        assert event["token_sha256"] == record.token_sha256
        pending_event = next(e for e in logs["receiver"] if e["delegation_id"] == world.ids["pending"])
        assert "token_sha256" not in pending_event

    for name, status in (("revoked", "REVOKED"), ("rejected", "REJECTED"), ("long", "ACTIVE")):
        with subtests.test(f"{name}: untouched"):
            record, ref = stored(stack, world, name)
            old_record, old_ref = before[name]
            assert (record.status, ref.status) == (status, status)
            assert record.version == old_record.version and ref.version == old_ref.version
            assert record.updated_at == old_record.updated_at
            assert api_status(stack, world, name) == {status}
    with subtests.test("the day-long delegation is still on the index and still verifies"):
        record, _ = stored(stack, world, "long")
        assert record.expiry_at == record.expires_at and record.expiry_bucket

    with subtests.test("running again expires nothing and writes no event"):
        again = job.run()
        assert (again.expired, again.failed) == (0, 0), again
        assert expired_events(stack, world.medicore) == logs["requester"]
        assert expired_events(stack, world.natsupply) == logs["receiver"]

    # Once expired by the job, a step-up answers exactly as it did while merely past its
    # expiry (tests/functional/test_stepup.py): expired_token, never "already decided".
    pending = world.ids["pending"]
    admin = at_clock(stack, world.natsupply).admin_token
    auth_req_id = stored(stack, world, "pending")[0].auth_req_id
    for name, reply in (
        ("approve", lambda: stack.call("POST", f"/delegations/{pending}/approve", admin)),
        ("reject", lambda: stack.call("POST", f"/delegations/{pending}/reject", admin)),
        (
            "complete",
            lambda: stack.call("POST", f"/stepup/{auth_req_id}/complete", admin, {"decision": "approve"}),
        ),
    ):
        with subtests.test(f"an expired step-up cannot be decided ({name}): expired_token"):
            answer = reply()
            assert (answer.status, answer.body.get("error")) == (400, "expired_token"), answer.body
            assert "access_token" not in answer.body
            assert stored(stack, world, "pending")[0].status == "EXPIRED"
    with subtests.test("the agent polling an expired step-up gets expired_token"):
        answer = stack.form(
            "/oauth/token",
            f"grant_type={CIBA}&auth_req_id={auth_req_id}"
            f"&client_id={world.agent.client_id}&client_secret={world.agent.secret}",
        )
        assert (answer.status, answer.body.get("error")) == (400, "expired_token"), answer.body


def test_concurrent_runs_expire_each_delegation_once(
    stack: Stack, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(stack)
    clock[0] += 2 * HOURS
    # Both runs read every candidate before either commits its first transaction. DynamoDB
    # transactions are atomic; moto's are not thread safe, so commits are serialised here
    # (only the interleaving of reads and writes between the two runs is under test).
    barrier = threading.Barrier(2, timeout=20)
    commit_lock = threading.Lock()
    waited: set[int] = set()
    real_commit = WriteTransaction.commit

    def racing_commit(self: WriteTransaction) -> None:
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            barrier.wait()
        with commit_lock:
            real_commit(self)

    monkeypatch.setattr(WriteTransaction, "commit", racing_commit)
    summaries: list[cleanup.CleanupSummary] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            summaries.append(cleanup.build_job(stack.container).run())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(summaries) == 2
    monkeypatch.setattr(WriteTransaction, "commit", real_commit)  # the API commits too

    assert sum(s.expired for s in summaries) == 3, summaries
    assert sum(s.failed for s in summaries) == 0, summaries
    assert sum(s.raced for s in summaries) >= 1, "the two runs never raced for an item"
    for tenant in (world.medicore, world.natsupply):
        events = expired_events(stack, tenant)
        assert sorted(e["delegation_id"] for e in events) == sorted(world.ids[n] for n in DUE)
    for name in DUE:
        record, ref = stored(stack, world, name)
        assert (record.status, ref.status) == ("EXPIRED", "EXPIRED")


def test_a_store_failure_on_one_item_is_counted_and_retried_next_run(
    stack: Stack, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(stack)
    clock[0] += 2 * HOURS
    real_commit = WriteTransaction.commit
    failures = [1]

    def flaky(self: WriteTransaction) -> None:
        if failures[0]:
            failures[0] -= 1
            raise StoreError("throttled")
        real_commit(self)

    monkeypatch.setattr(WriteTransaction, "commit", flaky)
    job = cleanup.build_job(stack.container)
    first = job.run()
    assert (first.expired, first.failed) == (2, 1), first
    second = job.run()
    assert (second.expired, second.failed) == (1, 0), second
    for tenant in (world.medicore, world.natsupply):
        assert len(expired_events(stack, tenant)) == 3


def test_the_five_minute_schedule_runs_the_job(stack: Stack, clock: list[float]) -> None:
    from app import app

    [handler] = [h for h in app.event_sources if getattr(h, "name", None) == "expire_delegations"]
    assert handler.schedule_expression.to_string() == "rate(5 minutes)"

    world = build_world(stack)
    clock[0] += 2 * HOURS
    event = stack.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    stack.client.lambda_.invoke("expire_delegations", event)
    assert stored(stack, world, "allow")[0].status == "EXPIRED"
    [event_in_log] = [
        e for e in expired_events(stack, world.natsupply) if e["delegation_id"] == world.ids["allow"]
    ]
    assert event_in_log["request_id"].startswith("cleanup-")


def test_the_token_of_an_expired_delegation_never_verifies_again(stack: Stack, clock: list[float]) -> None:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore)
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    reply = stack.request(agent, natsupply, "stock.write", ttl_seconds=60)
    token = reply.body["access_token"]
    clock[0] += 2 * HOURS
    assert cleanup.build_job(stack.container).run().expired == 1
    clock[0] -= 2 * HOURS - 30  # even at a time when the token itself would still be in date
    verdict = stack.verify(token, at_clock(stack, natsupply).admin_token)
    assert verdict.status == 200 and verdict.body["active"] is False, verdict.body
    [event] = expired_events(stack, natsupply)
    assert event["token_sha256"] == sha256_hex(token)


# -- the local scheduler (`make run`) ------------------------------------------------------------


@pytest.fixture
def scheduler_factory() -> Iterator[list[CleanupScheduler]]:
    made: list[CleanupScheduler] = []
    yield made
    for scheduler in made:
        scheduler.stop()


def test_local_scheduler_runs_at_start_then_every_interval_and_survives_errors(
    scheduler_factory: list[CleanupScheduler],
) -> None:
    settings = Settings.from_env({"VAULTGUARD_CLEANUP_INTERVAL_SECONDS": "1"})
    assert settings.cleanup_interval_seconds == 1
    assert Settings.from_env({}).cleanup_interval_seconds == 300
    calls: list[float] = []
    ran_twice = threading.Event()

    def job() -> None:
        calls.append(time.monotonic())
        if len(calls) >= 3:
            ran_twice.set()
        raise RuntimeError("the store is down")  # every run fails; the loop must go on

    scheduler = CleanupScheduler(settings, job)
    scheduler_factory.append(scheduler)
    started = time.monotonic()
    scheduler.start()
    assert ran_twice.wait(10), calls
    scheduler.stop()
    assert calls[0] - started < 0.5, "the first run happens at start"
    assert 0.8 <= calls[1] - calls[0] < 3, calls
    count = len(calls)
    time.sleep(1.3)
    assert len(calls) == count, "stop() ends the loop"


def test_each_run_logs_its_summary(stack: Stack, clock: list[float]) -> None:
    """The summary goes through the `vaultguard` logger at INFO, with the app loaded as in
    Lambda and `make run` (nothing here touches log levels)."""
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    target = logging.getLogger("vaultguard")
    target.addHandler(handler)
    try:
        build_world(stack)
        clock[0] += 2 * HOURS
        summary = cleanup.build_job(stack.container).run()
    finally:
        target.removeHandler(handler)
    [record] = [r for r in records if r.getMessage() == "cleanup finished"]
    assert record.levelno == logging.INFO
    assert record.__dict__["cleanup"] == summary.as_dict() and summary.expired == 3
