"""Local AWS: moto's server in this process, and a snapshot of its DynamoDB tables in the
state directory so that data survives a restart (moto itself keeps everything in memory)."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import boto3

from chalicelib.config import Settings
from chalicelib.private_files import write_private

SNAPSHOT_FILE = "dynamodb-snapshot.json"


class _Serialised:
    """moto's backends are not thread-safe (a failed DynamoDB transaction restores a copy
    of the whole table, undoing other threads' writes), so requests run one at a time,
    which also makes conditional writes as atomic as DynamoDB's."""

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
        self.endpoint = endpoint

    def start(self) -> str:
        if self.endpoint is None:
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
            from werkzeug.serving import make_server

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-call access log
            app = _Serialised(DomainDispatcherApplication(create_backend_app))
            self._server = make_server("127.0.0.1", 0, app, threaded=True)
            self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
            self._thread.start()
            self.endpoint = f"http://127.0.0.1:{self._server.server_port}"
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None


def client(settings: Settings, service: str) -> Any:
    return boto3.client(service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint)


class Snapshotter:
    """Writes every table's items to `<state>/dynamodb-snapshot.json` (atomically) on a
    timer and at shutdown, and loads them back into empty tables at start."""

    def __init__(self, settings: Settings, interval_seconds: float = 10.0) -> None:
        self._settings = settings
        self._path = settings.state_dir / SNAPSHOT_FILE
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last: str | None = None

    @property
    def tables(self) -> tuple[str, str]:
        return (self._settings.table_name, self._settings.audit_table_name)

    def restore(self) -> int:
        """Load the snapshot into the tables; the number of items restored."""
        if not self._path.exists():
            return 0
        data = json.loads(self._path.read_text())
        ddb = client(self._settings, "dynamodb")
        restored = 0
        for table in self.tables:
            items = data.get("tables", {}).get(table, [])
            for start in range(0, len(items), 25):
                batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
                pending: dict[str, Any] = {table: batch}
                while pending:
                    pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                restored += len(batch)
        return restored

    def save(self) -> None:
        with self._lock:
            ddb = client(self._settings, "dynamodb")
            tables: dict[str, list[Any]] = {}
            for table in self.tables:
                items: list[Any] = []
                for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                    items.extend(page.get("Items", []))
                tables[table] = items
            text = json.dumps({"version": 1, "tables": tables}, sort_keys=True)
            if text == self._last:
                return
            write_private(self._path, text)
            self._last = text

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
        self.save()
