"""The audit log as CSV (RFC 4180): a header row, CRLF line ends, UTF-8, every field
quoted when needed, and formula injection neutralised (OWASP "CSV Injection")."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from chalicelib.domain.audit import AuditEvent

COLUMNS = (
    "occurred_at",
    "event_id",
    "type",
    "actor_type",
    "actor_id",
    "request_id",
    "delegation_id",
    "counterpart_tenant_id",
    "action",
    "decision",
    "token_sha256",
    "detail",
)
# A spreadsheet evaluates a cell starting with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Prefix a would-be formula with an apostrophe so it is shown, never evaluated."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def _cells(event: AuditEvent) -> list[str]:
    values = [
        event.occurred_at,
        event.event_id,
        event.type,
        event.actor.type,
        event.actor.id,
        event.request_id,
        event.delegation_id or "",
        event.counterpart_tenant_id or "",
        event.action or "",
        event.decision or "",
        event.token_sha256 or "",
        json.dumps(event.detail, sort_keys=True, separators=(",", ":")) if event.detail else "",
    ]
    return [neutralise(v) for v in values]


def csv_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    """The header, then one CSV record per event, each a complete line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for event in events:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(_cells(event))
        yield buffer.getvalue()
