"""The trust graph's counts: `T#<tenant>/EDGE#<yyyy-mm-dd>#<out|in>#<counterpart>`.

One item per tenant, UTC day, direction and counterpart, with one number per outcome
(`EdgeModel`), moved by `ADD` in the transaction that writes the outcome's audit events; the
deltas of one item within one transaction are merged into one update
(`chalicelib.store.counters.add_merged`). The same update sets `counterpart_name` when the
counting event may name the counterpart (tenant names never change), so that a reader needs
no read of the counterparts' TENANT items. A reader gets a window of days with one Query on
its own partition, whatever the size of the table.

`T#platform/UNREACHED#<day>` counts the BLOCKs whose receiving tenant does not exist or is
disabled: such a BLOCK writes no edge for the tenant it names, and this write stands in for
the receiving side's inbound edge, so that it costs the same items as a real BLOCK.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.principal import TenantScope
from chalicelib.store.counters import add_merged
from chalicelib.store.db import WriteTransaction, guarded
from chalicelib.store.models import EdgeModel, tenant_pk
from chalicelib.store.reads import Key

EDGE = "EDGE#"
UNREACHED = "UNREACHED#"
OUTCOMES = ("ALLOW", "STEP_UP", "BLOCK", "APPROVED", "REJECTED", "EXPIRED", "REVOKED")


class Direction(StrEnum):
    OUT = "out"  # the tenant requested, the counterpart received
    IN = "in"


@dataclass(frozen=True)
class EdgeDay:
    """One item: a day's counts with one counterpart in one direction."""

    day: str
    direction: Direction
    counterpart_id: str
    counts: dict[str, int]
    counterpart_name: str | None = None  # None: no event that may name it wrote it


def edge_sk(day: str, direction: Direction, counterpart_id: str) -> str:
    return f"{EDGE}{day}#{direction.value}#{counterpart_id}"


class EdgeRepository:
    def add(
        self,
        tx: WriteTransaction,
        scope: TenantScope,
        day: str,
        direction: Direction,
        counterpart_id: str,
        outcome: str,
        counterpart_name: str | None = None,
    ) -> None:
        """Count one `outcome` with `counterpart_id` on `day` when `tx` commits, and store
        the counterpart's name on the item if given."""
        _check(outcome)
        key = Key(tenant_pk(scope.tenant_id), edge_sk(day, direction, counterpart_id))
        sets = {"counterpart_name": counterpart_name} if counterpart_name is not None else None
        add_merged(tx, EdgeModel, key, {outcome: 1}, sets=sets)

    def add_unreached(self, tx: WriteTransaction, scope: TenantScope, day: str, outcome: str) -> None:
        """Count one `outcome` against no existing tenant in `scope` (the platform's log)."""
        _check(outcome)
        add_merged(tx, EdgeModel, Key(tenant_pk(scope.tenant_id), f"{UNREACHED}{day}"), {outcome: 1})

    def days(self, scope: TenantScope, first_day: str, last_day: str) -> Iterator[EdgeDay]:
        """Every edge item of the scope's tenant from `first_day` to `last_day` (UTC days,
        inclusive): one Query, paged through."""
        items = EdgeModel.query(
            tenant_pk(scope.tenant_id),
            EdgeModel.sk.between(f"{EDGE}{first_day}", f"{EDGE}{last_day}~"),
            consistent_read=True,
        )
        for item in guarded(items):
            day, direction, counterpart_id = item.sk[len(EDGE) :].split("#", 2)
            counts = {name: int(getattr(item, name) or 0) for name in OUTCOMES}
            yield EdgeDay(day, Direction(direction), counterpart_id, counts, item.counterpart_name)


def _check(outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"no such outcome: {outcome}")
