"""Writing and reading the per-tenant audit log."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from ulid import ULID

from chalicelib.config import Settings
from chalicelib.domain.audit import AuditEvent, AuditFilter
from chalicelib.domain.audit_csv import csv_lines
from chalicelib.domain.principal import TenantScope
from chalicelib.errors import InvalidRequest, ServiceUnavailable
from chalicelib.services.call import Call, iso
from chalicelib.services.counting import EventCounter
from chalicelib.services.graph import EdgeCounter
from chalicelib.store.audit import AuditRepository, decode_cursor
from chalicelib.store.db import WriteTransaction

INLINE_MAX_BYTES = 5 * 1024 * 1024
PRESIGNED_SECONDS = 300


class AuditService:
    def __init__(
        self,
        repository: AuditRepository,
        settings: Settings | None = None,
        s3: Callable[[], Any] | None = None,
        counter: EventCounter | None = None,
        edges: EdgeCounter | None = None,
    ) -> None:
        self._repository = repository
        self._counter = counter
        self._edges = edges
        self._settings = settings
        self._s3 = s3 or _no_s3

    def record(
        self,
        tx: WriteTransaction,
        call: Call,
        event_type: str,
        scopes: tuple[TenantScope, ...],
        *,
        names: Mapping[str, str] | None = None,
        only_for: Mapping[str, Mapping[str, Any]] | None = None,
        **fields: Any,
    ) -> None:
        """Add one event to each scope's log, inside `tx`; for two tenants each log names
        the other as counterpart. The counts the event stands for (stats, metrics, the trust
        graph's edges) move in the same `tx` (chalicelib/services/counting.py and graph.py:
        a delegation event names the requesting tenant first). `names`: tenant names by id,
        which only the trust graph's edges keep (a delegation outcome passes both parties'
        names that it knows; graph.py decides which edge may carry which). `only_for`: detail
        that only the named tenant's copy carries (by tenant id)."""
        event_id = str(ULID())
        unique = {s.tenant_id: s for s in scopes}
        explicit_counterpart = fields.pop("counterpart_tenant_id", None)
        for scope in unique.values():
            others = [t for t in unique if t != scope.tenant_id]
            event = AuditEvent(
                event_id=event_id,
                tenant_id=scope.tenant_id,
                occurred_at=call.timestamp,
                type=event_type,
                actor=call.actor,
                request_id=call.request_id,
                counterpart_tenant_id=others[0] if others else explicit_counterpart,
                **_with_detail(fields, (only_for or {}).get(scope.tenant_id)),
            )
            self._repository.add(tx, scope, event)
        if self._counter is not None:
            self._counter.count(tx, event_type, scopes, fields.get("detail") or {})
        if self._edges is not None:
            self._edges.count(tx, event_type, scopes, explicit_counterpart, call.now, names)

    def search(
        self, scope: TenantScope, flt: AuditFilter, *, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        sk = None
        if cursor is not None:
            sk = decode_cursor(cursor)
            if sk is None:
                raise InvalidRequest("The cursor is malformed.")
        events, next_cursor = self._repository.query(scope, flt, limit=limit, cursor=sk)
        return {"events": [e.as_dict() for e in events], "next_cursor": next_cursor}

    def export_csv(self, scope: TenantScope, flt: AuditFilter, now: float) -> CsvExport:
        """The matching events as CSV, oldest first. Up to the inline threshold the CSV is
        the response; beyond it (a Lambda response is capped at 6 MB) it is written to S3
        and the caller gets a presigned URL that expires in a few minutes."""
        assert self._settings is not None
        rows = 0
        with tempfile.SpooledTemporaryFile(max_size=INLINE_MAX_BYTES) as spool:
            for line in csv_lines(self._repository.iterate(scope, flt)):
                spool.write(line.encode("utf-8"))
                rows += 1
            rows -= 1  # the header
            size = spool.tell()
            spool.seek(0)
            if rows <= self._settings.csv_inline_max_rows and size <= INLINE_MAX_BYTES:
                return CsvExport(rows=rows, body=spool.read().decode("utf-8"))
            key = f"exports/tenant={scope.tenant_id}/{iso(now)}-{ULID()}.csv"
            s3 = self._s3()
            try:
                s3.upload_fileobj(
                    spool,
                    self._settings.audit_bucket,
                    key,
                    ExtraArgs={
                        "ContentType": "text/csv; charset=utf-8",
                        "ContentDisposition": 'attachment; filename="audit.csv"',
                    },
                )
                url = s3.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self._settings.audit_bucket, "Key": key},
                    ExpiresIn=PRESIGNED_SECONDS,
                )
            except (BotoCoreError, ClientError) as exc:
                raise ServiceUnavailable() from exc
        return CsvExport(rows=rows, download_url=str(url), expires_in=PRESIGNED_SECONDS)


@dataclass(frozen=True)
class CsvExport:
    rows: int
    body: str | None = None
    download_url: str | None = None
    expires_in: int | None = None


def _no_s3() -> Any:
    raise ServiceUnavailable("No export bucket is configured.")


def _with_detail(fields: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    if not extra:
        return fields
    return {**fields, "detail": {**(fields.get("detail") or {}), **extra}}
