"""(g) Growth: the embedded stack must not slow down or swell as its data grows.

1. ALLOW latency in-process (`chalice.test.Client` over the patched moto, as in
   inprocess_bench.py) with N audit events already in the table (seeded straight into moto
   with batch writes, in the receiving tenant's partition, the one every ALLOW appends to),
   for each N in `sizes`; the figure is p50(largest) / p50(smallest).
2. The local server's RSS (`python -m chalicelib.local`, read from /proc) after start-up and
   warm-up, and again after `transactions` ALLOW issuances over HTTP (each one
   TransactWriteItems of about eight items).

`python -m bench.growth_bench --unpatched` runs part 1 on moto as shipped, for comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._timing import Repetition, percentile, run_concurrent, run_loop

EVENT_TYPES = ("delegation.requested", "delegation.allowed", "token.issued")


def _ms(us: float) -> str:
    return f"{us / 1000:.1f} ms"


def _audit_item(tenant_id: str, counterpart: str, n: int) -> dict[str, Any]:
    """An audit event of the shape AuditEventModel writes (DynamoDB JSON)."""
    occurred = f"2024-01-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:{n % 59:02d}.{n % 1_000_000:06d}Z"
    event_id = f"01HSEED{n:019d}"
    s = {
        "pk": f"T#{tenant_id}",
        "sk": f"{occurred}#{event_id}",
        "event_id": event_id,
        "tenant_id": tenant_id,
        "occurred_at": occurred,
        "type": EVENT_TYPES[n % len(EVENT_TYPES)],
        "actor_type": "agent",
        "actor_id": f"agt_seed{n % 97:04d}",
        "request_id": f"req-seed-{n:012d}",
        "delegation_id": f"dlg_seed{n:016d}",
        "counterpart_tenant_id": counterpart,
        "action": "stock.write",
        "decision": "ALLOW",
        "token_sha256": f"{n:064x}",
    }
    return {k: {"S": v} for k, v in s.items()}


def seed_audit_events(count: int, tenant_id: str, counterpart: str, table: str) -> float:
    """Put `count` audit events into the (moto) audit table; the seconds it took."""
    import boto3

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    started = time.perf_counter()
    for start in range(0, count, 25):
        batch = [
            {"PutRequest": {"Item": _audit_item(tenant_id, counterpart, n)}}
            for n in range(start, min(count, start + 25))
        ]
        pending: dict[str, Any] = {table: batch}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return time.perf_counter() - started


def bench_latency(
    *, sizes: tuple[int, ...], requests: int, max_seconds: float, rounds: int = 2, warmup: int = 5,
    patched: bool = True, log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Each size in a fresh stack, `rounds` times over (sizes interleaved, so that a busy
    machine's drift hits them alike); per size the median over rounds of the p50s. CPU time
    per request (this process's, all of it in-process) is reported beside wall time, as it
    is not inflated by other processes on the machine."""
    from bench import inprocess_bench

    if patched:
        from local_aws import moto_patch

        moto_patch.apply()
    from chalicelib.config import get_settings

    runs: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
    for r in range(rounds):
        for size in sizes:
            with inprocess_bench.moto_world() as world:
                table = get_settings().audit_table_name
                requesting = _requesting_tenant(world)
                seed_s = seed_audit_events(size, world.receiving_tenant_id, requesting, table)
                for _ in range(warmup):
                    world.issue()
                cpu: list[float] = []

                def op(world: Any = world, cpu: list[float] = cpu) -> None:
                    t0 = time.process_time_ns()
                    world.issue()
                    cpu.append((time.process_time_ns() - t0) / 1000)

                rep = run_loop(op, max_ops=requests, max_seconds=max_seconds, min_ops=5)
                rep.extra["cpu"] = cpu
            runs[size].append({"ops": rep.ops, "p50_us": rep.p(50), "p95_us": rep.p(95),
                               "cpu_p50_us": rep.p(50, "cpu"), "seed_s": round(seed_s, 1)})
            log(f"  (g) round {r + 1}/{rounds}, {size:>6} audit events: ALLOW p50 {_ms(rep.p(50))} "
                f"(CPU {_ms(rep.p(50, 'cpu'))}), p95 {_ms(rep.p(95))}, {rep.ops} issuances; "
                f"seeding took {seed_s:.0f} s")
    by_size = [
        {
            "audit_events": size,
            "ops": sum(x["ops"] for x in rows),
            "p50_us": statistics.median(x["p50_us"] for x in rows),
            "p95_us": statistics.median(x["p95_us"] for x in rows),
            "cpu_p50_us": statistics.median(x["cpu_p50_us"] for x in rows),
            "rounds": rows,
        }
        for size, rows in runs.items()
    ]
    first, last = by_size[0], by_size[-1]
    return {
        "patched": patched,
        "by_size": by_size,
        "p50_ratio": last["p50_us"] / first["p50_us"],
        "cpu_p50_ratio": last["cpu_p50_us"] / first["cpu_p50_us"],
    }


def _requesting_tenant(world: Any) -> str:
    """The requesting tenant's id, read from an issued token (World does not keep it)."""
    import base64

    token = world.issue()["access_token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["tenant_id"])


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def bench_memory(
    *, transactions: int, threads: int, max_seconds: float, warmup: int = 200,
    snapshot_interval: float | None = None, log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The local server's RSS before and after `transactions` ALLOW issuances over HTTP."""
    from bench import http_bench

    with http_bench.local_server(snapshot_interval=snapshot_interval) as server:
        med, nat = server.state["tenants"]["medicore"], server.state["tenants"]["natsupply"]
        with http_bench._session() as session:
            token = http_bench._token(session, server.url, med["agent"])
        sessions: list[Any] = []

        def make_op() -> Callable[[], str]:
            session, op = http_bench._issuer(server.url, token, nat["tenant_id"])
            sessions.append(session)
            return op

        warm = make_op()
        for _ in range(warmup):
            warm()
        time.sleep(1.0)
        before = _rss_bytes(server.process.pid)
        log(f"  (g) server RSS after start-up and {warmup} issuances: {before / 2**20:.0f} MiB")
        reps: list[Repetition] = []
        done, started = 0, time.perf_counter()
        while done < transactions and time.perf_counter() - started < max_seconds:
            chunk = min(1000, transactions - done)
            rep = run_concurrent(make_op, threads=threads, max_ops=chunk,
                                 max_seconds=max_seconds - (time.perf_counter() - started))
            reps.append(rep)
            done += rep.ops
            rss = _rss_bytes(server.process.pid)
            log(f"  (g) {done:>6} issuances: RSS {rss / 2**20:.0f} MiB (+{(rss - before) / 2**20:.0f}), "
                f"{rep.ops_per_s:.0f} req/s, p50 {rep.p(50) / 1000:.1f} ms")
        time.sleep(1.0)
        after = _rss_bytes(server.process.pid)
        for s in sessions:
            s.close()
        latencies = sorted(x for r in reps for x in r.latencies_us)
        tenth = max(1, len(reps) // 10)
        return {
            "transactions": done,
            "threads": threads,
            "rss_before_bytes": before,
            "rss_after_bytes": after,
            "rss_growth_bytes": after - before,
            "rss_growth_per_transaction_bytes": (after - before) / done if done else None,
            "p50_us": percentile(latencies, 50),
            "first_chunks_p50_us": percentile(sorted(x for r in reps[:tenth] for x in r.latencies_us), 50),
            "last_chunks_p50_us": percentile(sorted(x for r in reps[-tenth:] for x in r.latencies_us), 50),
            "elapsed_s": round(time.perf_counter() - started, 1),
        }


def report_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    lat = results.get("latency")
    if lat:
        for row in lat["by_size"]:
            lines.append(f"  ALLOW in-process with {row['audit_events']:>6} audit events: p50 "
                         f"{row['p50_us'] / 1000:6.1f} ms (CPU {row['cpu_p50_us'] / 1000:6.1f} ms), "
                         f"p95 {row['p95_us'] / 1000:6.1f} ms ({row['ops']} ops)")
        verdict = "ok" if max(lat["p50_ratio"], lat["cpu_p50_ratio"]) <= 1.3 else "TOO SLOW"
        lines.append(f"  p50 ratio largest/smallest: {lat['p50_ratio']:.2f}x wall, "
                     f"{lat['cpu_p50_ratio']:.2f}x CPU (budget 1.3x: {verdict})"
                     + ("" if lat["patched"] else "  [moto unpatched]"))
    mem = results.get("memory")
    if mem:
        growth = mem["rss_growth_bytes"] / 2**20
        verdict = "ok" if growth <= 300 else "TOO BIG"
        lines.append(f"  server RSS {mem['rss_before_bytes'] / 2**20:.0f} MiB -> "
                     f"{mem['rss_after_bytes'] / 2**20:.0f} MiB after {mem['transactions']} ALLOW "
                     f"transactions: +{growth:.0f} MiB (budget 300 MiB: {verdict})")
        lines.append(f"  HTTP ALLOW p50, first chunks {_ms(mem['first_chunks_p50_us'])} -> last chunks "
                     f"{_ms(mem['last_chunks_p50_us'])} ({mem['threads']} clients)")
    return lines


def section(args: Any, results: dict[str, Any], errors: dict[str, str], log: Callable[[str], None]) -> str:
    """(g) for bench/__main__.py: both parts, into results["growth"]; the report's lines."""
    growth: dict[str, Any] = {}
    sizes = tuple(int(s) for s in str(args.growth_sizes).split(",") if s.strip())
    try:
        log(f"(g) ALLOW latency in-process with {', '.join(map(str, sizes))} audit events ...")
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            growth["latency"] = bench_latency(sizes=sizes, requests=args.growth_requests, max_seconds=60.0,
                                              log=log)
        log(f"(g) server RSS over {args.growth_transactions} ALLOW issuances over HTTP ...")
        growth["memory"] = bench_memory(transactions=args.growth_transactions, threads=args.growth_threads,
                                        max_seconds=3600.0, log=log)
    except Exception as exc:  # noqa: BLE001 - report, keep going
        errors["growth"] = f"{type(exc).__name__}: {exc}"
        log(f"    growth benchmark failed: {errors['growth']}")
    results["growth"] = growth
    lines = report_lines(growth)
    return "growth with data (local_aws/moto_patch.py):\n" + "\n".join(lines) if lines else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.growth_bench", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", default="500,50000", help="audit events seeded, comma-separated")
    p.add_argument("--requests", type=int, default=200, help="ALLOW issuances timed per size")
    p.add_argument("--seconds", type=float, default=60.0, help="time cap per size and round")
    p.add_argument("--rounds", type=int, default=2, help="rounds over the sizes (fresh stacks each)")
    p.add_argument("--transactions", type=int, default=10_000, help="ALLOW issuances for the RSS figure")
    p.add_argument("--threads", type=int, default=4, help="HTTP clients for the RSS figure")
    p.add_argument("--memory-seconds", type=float, default=1800.0, help="time cap of the RSS part")
    p.add_argument("--unpatched", action="store_true", help="part 1 on moto as shipped (for comparison)")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    args = p.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(",") if s.strip())
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    results: dict[str, Any] = {}
    if not args.skip_latency:
        # The app's EMF metrics go to stdout: keep them out of the report, as bench/__main__ does.
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            results["latency"] = bench_latency(sizes=sizes, requests=args.requests, max_seconds=args.seconds,
                                               rounds=args.rounds, patched=not args.unpatched, log=log)
    if not args.skip_memory:
        results["memory"] = bench_memory(transactions=args.transactions, threads=args.threads,
                                         max_seconds=args.memory_seconds, log=log)
    print("\n".join(report_lines(results)))
    print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
