"""CSV formatting of the audit log: RFC 4180 round trip and formula neutralisation."""

from __future__ import annotations

import csv
import io

import pytest

from chalicelib.domain.audit import Actor, AuditEvent
from chalicelib.domain.audit_csv import COLUMNS, csv_lines, neutralise


def event(**overrides: object) -> AuditEvent:
    fields: dict[str, object] = {
        "event_id": "01J0000000000000000000000",
        "tenant_id": "tnt_0123456789abcdef0123",
        "occurred_at": "2026-11-28T10:00:00.000000Z",
        "type": "policy.upserted",
        "actor": Actor("admin", "adm_1"),
        "request_id": "req-1",
        **overrides,
    }
    return AuditEvent(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("cell", ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"])
def test_cells_that_a_spreadsheet_would_evaluate_are_neutralised(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["plain", "2026-11-28", "a=b", "", "'quoted"])
def test_other_cells_are_unchanged(cell: str) -> None:
    assert neutralise(cell) == cell


def test_round_trip_through_the_csv_module() -> None:
    tricky = {"reason": 'said "no", then\r\nleft', "note": '=HYPERLINK("http://x")', "ünïcode": "✓"}
    events = [event(), event(event_id="01J1", detail=tricky, decision="BLOCK", action="stock.write")]
    text = "".join(csv_lines(events))
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 2
    assert rows[1]["decision"] == "BLOCK" and rows[1]["action"] == "stock.write"
    assert '"said \\"no\\", then\\r\\nleft"' in rows[1]["detail"]  # JSON inside one CSV cell
    assert rows[0]["delegation_id"] == "" and rows[0]["actor_id"] == "adm_1"


def test_a_detail_cell_cannot_start_a_formula() -> None:
    rows = list(csv.reader(io.StringIO("".join(csv_lines([event(action="-1")])), newline="")))
    assert rows[1][COLUMNS.index("action")] == "'-1"
