"""Local AWS: moto's server in this process (patched: local_aws/moto_patch.py), and the
DynamoDB tables kept in the state directory so that data survives a restart (moto itself
keeps everything in memory)."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import boto3

from chalicelib.config import Settings
from chalicelib.private_files import write_private

SNAPSHOT_FILE = "dynamodb-snapshot.json"
JOURNAL_FILE = "dynamodb-journal.jsonl"
COMPACT_AFTER_LINES = 10_000  # ... and at least as many lines as the snapshot has items

Item = dict[str, Any]  # DynamoDB JSON ({"pk": {"S": "T#1"}, ...})
KeyNames = tuple[str, ...]


class _Serialised:
    """moto's backends are not thread-safe, so its requests run one at a time. Only moto's
    own request handling is inside: the app, Chalice's server and its logging run
    concurrently. (DynamoDB requests are serialised by moto_patch.LOCK as well, which also
    covers moto used in-process by the tests.)"""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


class LocalAws:
    """moto's server on a free loopback port, in a thread of this process (or an endpoint
    given to us)."""

    def __init__(self, endpoint: str | None = None) -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._loopback: Any = None
        self.endpoint = endpoint
        self.in_process = endpoint is None

    def start(self) -> str:
        if self.endpoint is None:
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
            from werkzeug.serving import make_server

            from local_aws import moto_patch
            from local_aws.loopback import LoopbackTransport

            moto_patch.apply()
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-call access log
            app = _Serialised(DomainDispatcherApplication(create_backend_app))
            self._server = make_server("127.0.0.1", 0, app, threaded=True)
            self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
            self._thread.start()
            self.endpoint = f"http://127.0.0.1:{self._server.server_port}"
            # This process's own AWS calls skip the socket (local_aws/loopback.py).
            self._loopback = LoopbackTransport(self.endpoint, app)
            self._loopback.install()
        return self.endpoint

    def stop(self) -> None:
        if self._loopback is not None:
            self._loopback.uninstall()
            self._loopback = None
        if self._server is not None:
            self._server.shutdown()
            self._server = None


def client(settings: Settings, service: str) -> Any:
    return boto3.client(service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint)


# -- persistence -----------------------------------------------------------------------------------


def _key(item: Item, names: KeyNames) -> str:
    return json.dumps([item[n] for n in names], sort_keys=True)


def _binary(value: Any) -> Any:
    """DynamoDB JSON as stored (binary as base64 text) -> what boto3 sends (bytes)."""
    if isinstance(value, dict):
        if len(value) == 1:
            [(kind, inner)] = value.items()
            if kind == "B" and isinstance(inner, str):
                return {"B": base64.b64decode(inner)}
            if kind == "BS" and isinstance(inner, list):
                return {"BS": [base64.b64decode(v) if isinstance(v, str) else v for v in inner]}
        return {k: _binary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_binary(v) for v in value]
    return value


class _Files:
    """`<state>/dynamodb-snapshot.json` ({"version": 1, "tables": {name: [item, ...]}}, every
    item as of the last compaction; the format older versions wrote) and
    `<state>/dynamodb-journal.jsonl` (one {"table", "key", "item"} line per item written
    since, "item" null for a deletion; both 0600). Replaying the journal is idempotent, so a
    crash between writing a compacted snapshot and emptying the journal loses nothing."""

    def __init__(self, state_dir: Path) -> None:
        self.snapshot = state_dir / SNAPSHOT_FILE
        self.journal = state_dir / JOURNAL_FILE

    def load(self, key_names: dict[str, KeyNames]) -> tuple[dict[str, dict[str, Item]], int]:
        """The tables (key -> item) and the number of journal lines replayed."""
        tables: dict[str, dict[str, Item]] = {name: {} for name in key_names}
        if self.snapshot.exists():
            data = json.loads(self.snapshot.read_text())
            for name, names in key_names.items():
                for item in data.get("tables", {}).get(name, []):
                    tables[name][_key(item, names)] = item
        lines = 0
        for change in self._journal():
            names = key_names.get(change.get("table", ""), ())
            if not names:
                continue
            key = _key(change["key"], names)
            if change.get("item") is None:
                tables[change["table"]].pop(key, None)
            else:
                tables[change["table"]][key] = change["item"]
            lines += 1
        return tables, lines

    def _journal(self) -> Iterator[dict[str, Any]]:
        try:
            handle = self.journal.open()
        except FileNotFoundError:
            return
        with handle:
            for line in handle:
                try:
                    change = json.loads(line)
                except ValueError:  # a line cut short by a crash (restore compacts it away)
                    continue
                if isinstance(change, dict):
                    yield change

    def has_journal(self) -> bool:
        return self.journal.exists() and self.journal.stat().st_size > 0

    def append(self, changes: Iterable[tuple[str, Item, Item | None]]) -> int:
        text = "".join(
            json.dumps({"table": table, "key": key, "item": item}, sort_keys=True) + "\n"
            for table, key, item in changes
        )
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        return text.count("\n")

    def compact(self, tables: dict[str, dict[str, Item]]) -> None:
        data = {name: [items[k] for k in sorted(items)] for name, items in tables.items()}
        write_private(self.snapshot, json.dumps({"version": 1, "tables": data}, sort_keys=True))
        write_private(self.journal, "")


class Snapshotter:
    """Keeps the tables across restarts. With moto in this process, every item written is
    recorded (moto_patch.ChangeFeed) and appended to the journal on a timer (every
    `interval_seconds`) and at shutdown: the cost is the items changed, never a scan. The
    journal is folded into the snapshot at start, at shutdown and when it has outgrown the
    snapshot. With moto elsewhere (VAULTGUARD_AWS_ENDPOINT), the tables are scanned once,
    at shutdown. `restore` loads both files into the freshly created tables."""

    def __init__(
        self, settings: Settings, interval_seconds: float = 10.0, *, in_process: bool = True
    ) -> None:
        self._settings = settings
        self._files = _Files(settings.state_dir)
        self._interval = interval_seconds
        self._in_process = in_process
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._feed: Any = None  # moto_patch.ChangeFeed once recording
        self._snapshot_items = 0
        self._journal_lines = 0

    @property
    def tables(self) -> tuple[str, str]:
        return (self._settings.table_name, self._settings.audit_table_name)

    def _key_names(self) -> dict[str, KeyNames]:
        ddb = client(self._settings, "dynamodb")
        out: dict[str, KeyNames] = {}
        for table in self.tables:
            schema = ddb.describe_table(TableName=table)["Table"]["KeySchema"]
            out[table] = tuple(k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"]))
        return out  # (hash, range): "HASH" sorts before "RANGE"

    def restore(self) -> int:
        """Load the snapshot and the journal into the tables (then start recording); the
        number of items restored."""
        with self._lock:
            tables, replayed = self._files.load(self._key_names())
            ddb = client(self._settings, "dynamodb")
            restored = 0
            for table, by_key in tables.items():
                items = list(by_key.values())
                for start in range(0, len(items), 25):
                    batch = [{"PutRequest": {"Item": _binary(item)}} for item in items[start : start + 25]]
                    pending: dict[str, Any] = {table: batch}
                    while pending:
                        pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                    restored += len(batch)
            if replayed or self._files.has_journal():  # (also drops a line cut short)
                self._files.compact(tables)
            self._snapshot_items, self._journal_lines = restored, 0
            self._record()
            return restored

    def _record(self) -> None:
        if self._in_process and self._feed is None:
            from local_aws import moto_patch

            self._feed = moto_patch.ChangeFeed(self.tables)
            self._feed.open()

    def save(self) -> None:
        """Append what changed since the last save to the journal."""
        with self._lock:
            self._record()
            if self._feed is None:
                return
            changes = self._feed.drain()
            if changes:
                self._journal_lines += self._files.append(changes)
            if self._journal_lines > max(COMPACT_AFTER_LINES, self._snapshot_items):
                self._compact()

    def _compact(self) -> None:
        tables, _ = self._files.load(self._key_names())
        self._files.compact(tables)
        self._snapshot_items, self._journal_lines = sum(len(t) for t in tables.values()), 0

    def _scan_all(self) -> None:
        """Moto runs elsewhere: take every item from it (once, at shutdown)."""
        ddb = client(self._settings, "dynamodb")
        key_names = self._key_names()
        tables: dict[str, dict[str, Item]] = {}
        for table in self.tables:
            by_key: dict[str, Item] = {}
            for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                for item in page.get("Items", []):
                    by_key[_key(item, key_names[table])] = item
            tables[table] = by_key
        self._files.compact(tables)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="snapshot", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.save()
            except Exception as exc:  # noqa: BLE001 - a failed snapshot must not stop the server
                print(f"warning: snapshot failed: {exc}", flush=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if not self._in_process:
            with self._lock:
                self._scan_all()
            return
        self.save()
        with self._lock:
            if self._journal_lines:
                self._compact()
            if self._feed is not None:
                self._feed.close()
                self._feed = None
