"""Bounded timing loops and the statistics every benchmark reports.

A *repetition* runs one operation again and again until it has done `max_ops` of them or
`max_seconds` have passed (whichever comes first, but at least `min_ops`), timing each call
with `perf_counter_ns`. A benchmark runs several repetitions; the report gives the median
over repetitions of each repetition's ops/s, p50 and p95, so one noisy repetition does not
move the figures.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an already sorted, non-empty sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


@dataclass
class Repetition:
    """One repetition: `ops` calls in `elapsed_s` wall seconds, per-call latencies in µs."""

    ops: int
    elapsed_s: float
    latencies_us: list[float]
    extra: dict[str, list[float]] = field(default_factory=dict)  # other per-op series (µs)

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.elapsed_s if self.elapsed_s > 0 else math.nan

    def p(self, q: float, series: str | None = None) -> float:
        values = self.latencies_us if series is None else self.extra[series]
        return percentile(sorted(values), q)


def run_loop(
    op: Callable[[], Any],
    *,
    max_ops: int,
    max_seconds: float,
    min_ops: int = 1,
    after: Callable[[Repetition], None] | None = None,
) -> Repetition:
    """Call `op` until `max_ops` calls or `max_seconds` (at least `min_ops` calls)."""
    latencies: list[float] = []
    clock = time.perf_counter_ns
    started = clock()
    deadline = started + int(max_seconds * 1e9)
    while len(latencies) < max_ops:
        t0 = clock()
        op()
        t1 = clock()
        latencies.append((t1 - t0) / 1000)
        if t1 >= deadline and len(latencies) >= min_ops:
            break
    rep = Repetition(len(latencies), (clock() - started) / 1e9, latencies)
    if after is not None:
        after(rep)
    return rep


def run_concurrent(
    make_op: Callable[[], Callable[[], Any]],
    *,
    threads: int,
    max_ops: int,
    max_seconds: float,
) -> Repetition:
    """`threads` workers, each with its own op (e.g. its own HTTP session), sharing one
    budget of `max_ops` calls and one deadline; ops/s is the aggregate over wall time."""
    ops = [make_op() for _ in range(threads)]
    latencies: list[float] = []
    lock = threading.Lock()
    budget = [max_ops]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)
    clock = time.perf_counter_ns
    deadline_box = [0]

    def worker(op: Callable[[], Any]) -> None:
        barrier.wait()
        local: list[float] = []
        try:
            while True:
                with lock:
                    if budget[0] <= 0:
                        break
                    budget[0] -= 1
                t0 = clock()
                op()
                t1 = clock()
                local.append((t1 - t0) / 1000)
                if t1 >= deadline_box[0]:
                    break
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            errors.append(exc)
        finally:
            with lock:
                latencies.extend(local)

    workers = [threading.Thread(target=worker, args=(op,), daemon=True) for op in ops]
    for w in workers:
        w.start()
    started = clock()
    deadline_box[0] = started + int(max_seconds * 1e9)
    barrier.wait()
    for w in workers:
        w.join(timeout=max_seconds + 60)
    elapsed = (clock() - started) / 1e9
    if errors:
        raise errors[0]
    return Repetition(len(latencies), elapsed, latencies)


def summarise(reps: Sequence[Repetition], series: Sequence[str] = ()) -> dict[str, Any]:
    """Medians over repetitions (and the spread of ops/s) as a JSON-ready dict."""
    out: dict[str, Any] = {
        "repetitions": len(reps),
        "ops_total": sum(r.ops for r in reps),
        "ops_per_s": statistics.median(r.ops_per_s for r in reps),
        "ops_per_s_min": min(r.ops_per_s for r in reps),
        "ops_per_s_max": max(r.ops_per_s for r in reps),
        "p50_us": statistics.median(r.p(50) for r in reps),
        "p95_us": statistics.median(r.p(95) for r in reps),
        "per_repetition": [
            {"ops": r.ops, "elapsed_s": round(r.elapsed_s, 4), "ops_per_s": r.ops_per_s,
             "p50_us": r.p(50), "p95_us": r.p(95)}
            for r in reps
        ],
    }
    for name in series:
        out[f"{name}_p50_us"] = statistics.median(r.p(50, name) for r in reps)
        out[f"{name}_p95_us"] = statistics.median(r.p(95, name) for r in reps)
    return out
