"""The embedded stack's persistence (chalicelib/local/aws.py Snapshotter): what was written
comes back exactly after a restart, an old snapshot still loads, and saving costs the items
changed, never a scan of the tables."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.config import Settings
from chalicelib.local.aws import JOURNAL_FILE, SNAPSHOT_FILE, Snapshotter
from chalicelib.store.schema import ensure_tables
from local_aws import moto_patch


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("VAULTGUARD_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("VAULTGUARD_AWS_ENDPOINT", raising=False)
    return Settings.from_env()


class Moto:
    """One run of the embedded stack: a fresh moto, the tables, a restored Snapshotter."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ddb = boto3.client("dynamodb", region_name="us-east-1")
        ensure_tables(settings, self.ddb)
        self.snapshots = Snapshotter(settings, interval_seconds=3600)
        self.restored = self.snapshots.restore()

    def items(self) -> dict[str, list[dict[str, Any]]]:
        return {
            t: sorted(self.ddb.scan(TableName=t)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
            for t in (self.settings.table_name, self.settings.audit_table_name)
        }


@pytest.fixture
def run(settings: Settings) -> Iterator[Any]:
    """`run()` starts the stack afresh (a restart: moto's memory is gone, the files stay)."""
    moto_patch.apply()
    started: list[Any] = []

    def start() -> Moto:
        if started:
            started.pop().stop()
        ctx = mock_aws()
        ctx.start()
        started.append(ctx)
        return Moto(settings)

    yield start
    if started:
        started.pop().stop()


def write_everything(m: Moto) -> None:
    """Items of every attribute type, overwritten, updated, deleted, in transactions that
    commit and in one that is cancelled."""
    main, audit = m.settings.table_name, m.settings.audit_table_name
    m.ddb.put_item(TableName=main, Item={
        "pk": {"S": "T#1"}, "sk": {"S": "TENANT"}, "n": {"N": "1.50"}, "flag": {"BOOL": True},
        "none": {"NULL": True}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]},
        "m": {"M": {"x": {"L": [{"S": "y"}, {"N": "3"}]}}}, "cred_client_id": {"S": "cid"},
    })
    m.ddb.put_item(TableName=main, Item={"pk": {"S": "T#1"}, "sk": {"S": "GONE"}})
    m.ddb.put_item(TableName=main, Item={"pk": {"S": "T#1"}, "sk": {"S": "OVER"}, "v": {"S": "old"}})
    m.ddb.put_item(TableName=main, Item={"pk": {"S": "T#1"}, "sk": {"S": "OVER"}, "v": {"S": "new"}})
    m.ddb.update_item(
        TableName=main, Key={"pk": {"S": "T#1"}, "sk": {"S": "TENANT"}},
        UpdateExpression="SET n = n + :one REMOVE flag", ExpressionAttributeValues={":one": {"N": "1"}},
    )
    m.ddb.delete_item(TableName=main, Key={"pk": {"S": "T#1"}, "sk": {"S": "GONE"}})
    for i in range(30):
        m.ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": main, "Item": {"pk": {"S": "T#2"}, "sk": {"S": f"DLG#{i:02d}"}}}},
            {"Put": {"TableName": audit, "Item": {"pk": {"S": "T#2"}, "sk": {"S": f"2024#{i:02d}"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    with pytest.raises(ClientError):
        m.ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": main, "Item": {"pk": {"S": "T#2"}, "sk": {"S": "NEVER"}}}},
            {"Put": {"TableName": audit, "Item": {"pk": {"S": "T#2"}, "sk": {"S": "2024#00"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])


def test_what_was_written_comes_back_after_a_restart(run: Any, settings: Settings) -> None:
    first = run()
    assert first.restored == 0
    write_everything(first)
    first.snapshots.save()  # the timer's save: journal only
    expected = first.items()
    assert len(expected[settings.table_name]) == 32 and len(expected[settings.audit_table_name]) == 30

    after_crash = run()  # no stop(): as after kill -9, from the snapshot-less journal alone
    assert after_crash.items() == expected
    assert after_crash.restored == 62
    after_crash.snapshots.stop()

    clean = run()  # after a clean stop: from the compacted snapshot
    assert clean.items() == expected
    assert (settings.state_dir / JOURNAL_FILE).read_text() == ""
    for name in (SNAPSHOT_FILE, JOURNAL_FILE):
        assert stat.S_IMODE((settings.state_dir / name).stat().st_mode) == 0o600


def test_an_old_snapshot_is_restored_and_kept_up_to_date(run: Any, settings: Settings) -> None:
    """A snapshot written by the previous Snapshotter (every item, scanned with boto3)."""
    item = {"pk": {"S": "T#1"}, "sk": {"S": "AGENT#a"}, "n": {"N": "7"}, "l": {"L": [{"BOOL": False}]}}
    old = {"version": 1, "tables": {settings.table_name: [item], settings.audit_table_name: []}}
    (settings.state_dir / SNAPSHOT_FILE).write_text(json.dumps(old, sort_keys=True))

    m = run()
    assert m.restored == 1
    assert m.items()[settings.table_name] == [item]
    m.ddb.put_item(TableName=settings.table_name, Item={"pk": {"S": "T#1"}, "sk": {"S": "AGENT#b"}})
    m.snapshots.stop()

    data = json.loads((settings.state_dir / SNAPSHOT_FILE).read_text())
    assert data["version"] == 1
    assert [i["sk"]["S"] for i in data["tables"][settings.table_name]] == ["AGENT#a", "AGENT#b"]


def test_saving_costs_the_items_changed_not_a_scan(
    run: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = run()
    for start in range(0, 2000, 25):
        batch = [{"PutRequest": {"Item": {"pk": {"S": "T#1"}, "sk": {"S": f"{i:05d}"}}}}
                 for i in range(start, start + 25)]
        m.ddb.batch_write_item(RequestItems={settings.audit_table_name: batch})
    m.snapshots.save()
    journal = settings.state_dir / JOURNAL_FILE
    lines_before = len(journal.read_text().splitlines())

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the snapshot scanned a table")

    monkeypatch.setattr(DynamoDBBackend, "scan", refuse)
    monkeypatch.setattr(Table, "all_items", refuse)
    m.ddb.put_item(TableName=settings.table_name, Item={"pk": {"S": "T#1"}, "sk": {"S": "ONE"}})
    m.snapshots.save()
    m.snapshots.save()  # nothing changed: nothing written

    assert len(journal.read_text().splitlines()) == lines_before + 1


def test_a_journal_line_cut_short_by_a_crash_is_ignored(run: Any, settings: Settings) -> None:
    m = run()
    m.ddb.put_item(TableName=settings.table_name, Item={"pk": {"S": "T#1"}, "sk": {"S": "A"}})
    m.snapshots.stop()  # A in the snapshot, the journal empty; then a crash in the first append:
    with (settings.state_dir / JOURNAL_FILE).open("a") as handle:
        handle.write('{"table": "' + settings.table_name + '", "key": {"pk"')

    again = run()
    assert [i["sk"]["S"] for i in again.items()[settings.table_name]] == ["A"]
    again.ddb.put_item(TableName=settings.table_name, Item={"pk": {"S": "T#1"}, "sk": {"S": "B"}})
    again.snapshots.save()  # appended after the broken line's place, not glued to it

    last = run()
    assert [i["sk"]["S"] for i in last.items()[settings.table_name]] == ["A", "B"]
