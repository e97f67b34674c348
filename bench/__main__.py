"""`python -m bench`: every VaultGuard benchmark, each beside its physical bound, in one run.

Prints a table and writes everything (per-repetition figures included) to
bench/results/<UTC timestamp>.json. See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/__main__.py` as well as `python -m bench`
    sys.path.insert(0, str(ROOT))

SECTIONS = ("a", "b", "c", "d", "e", "f", "g", "h", "i")
DEFAULT_SECTIONS = ("a", "b", "c", "d", "e", "f", "h", "i")  # (g) takes tens of minutes: ask for it


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--only", default=",".join(DEFAULT_SECTIONS),
                   help="comma-separated sections: a (raw sign), b (raw PyJWT), c (in-process issuance), "
                        "d (HTTP issuance), e (verification, in-process and over HTTP), "
                        "f (VaultGuard beside node-oidc-provider over HTTP, 1 and 8 clients), "
                        "g (growth: ALLOW with few vs many audit events, server RSS over many issuances; "
                        "not in the default run), h (the Lambda package: sizes, cold import), "
                        "i (status lists: verification with the status check beside raw PyJWT, "
                        "revoke-to-refusal)")
    p.add_argument("--quick", action="store_true", help="a short smoke run (about 30-40 s)")
    p.add_argument("--crypto-repeats", type=int, default=5, help="repetitions of each crypto loop")
    p.add_argument("--crypto-seconds", type=float, default=0.8, help="time cap of one crypto repetition")
    p.add_argument("--crypto-max-ops", type=int, default=50_000, help="count cap of one crypto repetition")
    p.add_argument("--repeats", type=int, default=3, help="repetitions of each service benchmark")
    p.add_argument("--requests", type=int, default=40,
                   help="count cap of one issuance repetition (in-process and HTTP)")
    p.add_argument("--request-seconds", type=float, default=5.0, help="time cap of one issuance repetition")
    p.add_argument("--verify-requests", type=int, default=30, help="count cap of one verify repetition")
    p.add_argument("--verify-seconds", type=float, default=3.0, help="time cap of one verify repetition")
    p.add_argument("--threads", type=int, default=2, help="concurrent HTTP clients for (d)")
    p.add_argument("--snapshot-interval", type=float, default=3600.0,
                   help="the local server's snapshot interval (s); 0 keeps the server's default (10 s)")
    p.add_argument("--no-profile", action="store_true", help="skip the cProfile of in-process issuance")
    p.add_argument("--profile-top", type=int, default=10, help="entries listed from the profile")
    p.add_argument("--growth-sizes", default="500,50000", help="(g) audit events seeded, comma-separated")
    p.add_argument("--growth-requests", type=int, default=200, help="(g) ALLOW issuances timed per size")
    p.add_argument("--growth-transactions", type=int, default=10_000,
                   help="(g) ALLOW issuances over HTTP for the server's RSS figure")
    p.add_argument("--growth-threads", type=int, default=4, help="(g) HTTP clients for the RSS figure")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where the JSON goes")
    args = p.parse_args(argv)
    if args.quick:
        args.crypto_repeats, args.crypto_seconds = 3, 0.3
        args.repeats, args.requests, args.request_seconds = 2, 15, 3.0
        args.verify_requests, args.verify_seconds = 10, 2.0
        args.growth_sizes, args.growth_requests, args.growth_transactions = "500,5000", 40, 1000
    args.only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = args.only - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")
    for name in ("crypto_repeats", "repeats", "requests", "verify_requests", "threads", "crypto_max_ops"):
        if getattr(args, name) < (0 if name == "verify_requests" else 1):
            p.error(f"--{name.replace('_', '-')} is too small")
    return args


def _environment() -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=5).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                    capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu or platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": {d: version(d) for d in ("cryptography", "PyJWT", "chalice", "moto", "pynamodb", "boto3",
                                              "requests", "aws-lambda-powertools")},
    }


# -- formatting ------------------------------------------------------------------------------------


def _t(us: float | None) -> str:
    if us is None or (isinstance(us, float) and math.isnan(us)):
        return "-"
    return f"{us:,.0f} µs" if us < 1000 else f"{us / 1000:,.1f} ms"


def _r(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def _ratio(x: float | None, y: float | None) -> str:
    if not x or not y or math.isnan(x) or math.isnan(y):
        return "-"
    r = x / y
    if r < 0.1:
        return f"1/{1 / r:,.0f}"
    return f"{r:,.1f}x" if r >= 10 else f"{r:,.2f}x"


def _table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, dict[str, Any] | None, str]] = []
    c, h = results.get("crypto", {}), results.get("http", {})
    ip = results.get("inprocess", {})
    rows += [
        ("(a) raw RSA-2048 PKCS1v15-SHA256 sign  [issuance bound]", c.get("raw_sign"), ""),
        ("    encode_jwt (VaultGuard claims -> JWS)", c.get("encode_jwt"), ""),
        ("(b) raw PyJWT jwt.decode RS256  [verification bound]", c.get("raw_pyjwt_decode"), ""),
        ("    raw RSA-2048 verify (beneath PyJWT)", c.get("raw_rsa_verify"), ""),
        ("(e) TokenVerifier.verify, in-process", c.get("token_verifier"), ""),
    ]
    for label, key in (("(c) POST /delegations/request, in-process", "issuance"),
                       ("(e) POST /delegations/verify, in-process", "verify")):
        s = ip.get(key)
        note = ""
        if s:
            note = f"storage(moto) p50 {_t(s.get('storage_p50_us'))}, rest p50 {_t(s.get('app_p50_us'))}"
        rows.append((label, s, note))
    rows += [
        ("(d) POST /delegations/request, HTTP, sequential", h.get("issuance_sequential"), ""),
        (f"(d) POST /delegations/request, HTTP, {h.get('issuance_concurrent', {}).get('threads', 2)} threads",
         h.get("issuance_concurrent"), "aggregate req/s"),
        ("(e) POST /delegations/verify, HTTP", h.get("verify"), ""),
    ]
    width = max(len(r[0]) for r in rows)
    head = f"{'benchmark':<{width}}  {'ops/s':>9}  {'p50':>10}  {'p95':>10}  {'reps':>4}  {'ops':>7}  notes"
    lines = [head, "-" * len(head)]
    for label, s, note in rows:
        if s is None:
            lines.append(f"{label:<{width}}  {'(not run)':>9}")
            continue
        lines.append(
            f"{label:<{width}}  {_r(s['ops_per_s']):>9}  {_t(s['p50_us']):>10}  {_t(s['p95_us']):>10}  "
            f"{s['repetitions']:>4}  {s['ops_total']:>7}  {note}"
        )
    return "\n".join(lines)


def _ratios(results: dict[str, Any]) -> dict[str, str]:
    c, ip, h = results.get("crypto", {}), results.get("inprocess", {}), results.get("http", {})

    def g(d: dict[str, Any] | None, k: str) -> float | None:
        return None if not d else d.get(k)

    sign, decode = c.get("raw_sign"), c.get("raw_pyjwt_decode")
    seq, conc, ip_issue = h.get("issuance_sequential"), h.get("issuance_concurrent"), ip.get("issuance")
    raw_verify, verifier, http_verify = c.get("raw_rsa_verify"), c.get("token_verifier"), h.get("verify")
    ip_verify = ip.get("verify")
    out = {
        "in-process issuance p50 / raw sign p50": _ratio(g(ip_issue, "p50_us"), g(sign, "p50_us")),
        "  same, without time inside moto / raw sign p50": _ratio(g(ip_issue, "app_p50_us"),
                                                                   g(sign, "p50_us")),
        "HTTP issuance p50 / raw sign p50": _ratio(g(seq, "p50_us"), g(sign, "p50_us")),
        "HTTP sequential issuance req/s / raw sign ops/s": _ratio(g(seq, "ops_per_s"), g(sign, "ops_per_s")),
        "HTTP issuance req/s, concurrent / sequential": _ratio(g(conc, "ops_per_s"), g(seq, "ops_per_s")),
        "encode_jwt p50 / raw sign p50": _ratio(g(c.get("encode_jwt"), "p50_us"), g(sign, "p50_us")),
        "TokenVerifier ops/s / raw PyJWT ops/s": _ratio(g(verifier, "ops_per_s"), g(decode, "ops_per_s")),
        "raw PyJWT ops/s / raw RSA verify ops/s": _ratio(g(decode, "ops_per_s"), g(raw_verify, "ops_per_s")),
        "in-process verify p50 / raw PyJWT p50": _ratio(g(ip_verify, "p50_us"), g(decode, "p50_us")),
        "  same, without time inside moto / raw PyJWT p50": _ratio(g(ip_verify, "app_p50_us"),
                                                                    g(decode, "p50_us")),
        "HTTP verify req/s / raw PyJWT ops/s": _ratio(g(http_verify, "ops_per_s"), g(decode, "ops_per_s")),
        "HTTP verify p50 / raw PyJWT p50": _ratio(g(http_verify, "p50_us"), g(decode, "p50_us")),
    }
    return {k: v for k, v in out.items() if v != "-"}


def _growth_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for g in results.get("inprocess", {}).get("growth", []):
        lines.append(
            f"  in-process: items {g['items_before']} -> {g['items_after']}; p50 first tenth "
            f"{_t(g['first_tenth_p50_us'])} -> last tenth {_t(g['last_tenth_p50_us'])}"
        )
    seq = results.get("http", {}).get("issuance_sequential", {})
    for i, g in enumerate(seq.get("growth", []), 1):
        lines.append(f"  HTTP sequential rep {i}: p50 first tenth {_t(g['first_tenth_p50_us'])} -> "
                     f"last tenth {_t(g['last_tenth_p50_us'])}")
    return lines


def _profile_lines(profile: dict[str, Any]) -> list[str]:
    lines = [f"cProfile of {profile['profiled_issuances']} in-process issuance(s) after "
             f"{profile['after_warm_issuances']} warm ones ({profile['total_s_under_profiler']:.2f} s "
             "under the profiler, which inflates pure-Python code):", "  top cumulative:"]
    def entry(e: dict[str, Any]) -> str:
        return f"    {e['cumtime_s']:8.3f} s  {e['cum_share']:>6.1%}  {e['ncalls']:>8}  {e['function']}"

    lines += [entry(e) for e in profile["top_cumulative"]]
    lines.append("  top cumulative within chalicelib:")
    lines += [entry(e) for e in profile["top_cumulative_vaultguard"]]
    lines.append("  self time by component (a C builtin counts for its caller):")
    for name, v in profile["self_time_by_component"].items():
        if v["share"] >= 0.005:
            lines.append(f"    {v['share']:>6.1%}  {v['seconds']:8.3f} s  {name}")
    lines.append(f"  outside moto ({profile['outside_moto_per_issuance_ms']:.1f} ms per issuance under the "
                 "profiler), by component:")
    for name, v in profile["self_time_outside_moto"].items():
        if v["share"] >= 0.01:
            lines.append(f"    {v['share']:>6.1%}  {v['seconds']:8.3f} s  {name}")
    return lines


# -- main --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from local_aws import moto_patch

    moto_patch.apply()  # in-process sections run on moto as `make run` and the tests do
    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    options = {
        k: sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v
        for k, v in vars(args).items()
    }
    results: dict[str, Any] = {"timestamp": stamp, "environment": _environment(), "options": options}
    errors: dict[str, str] = {}
    only = args.only

    from bench import crypto_bench

    crypto: dict[str, Any] = {}
    cr = (args.crypto_repeats, args.crypto_seconds, args.crypto_max_ops)
    if only & {"a", "b", "e", "c", "d"}:
        material = crypto_bench.make_material()
        if only & {"a", "c", "d"}:
            _log("(a) raw RSA-2048 signing ...")
            crypto["raw_sign"] = crypto_bench.bench_raw_sign(material, *cr)
            crypto["encode_jwt"] = crypto_bench.bench_encode_jwt(material, *cr)
        if only & {"b", "e"}:
            _log("(b) raw PyJWT decode ...")
            crypto["raw_pyjwt_decode"] = crypto_bench.bench_raw_pyjwt_decode(material, *cr)
            crypto["raw_rsa_verify"] = crypto_bench.bench_raw_rsa_verify(material, *cr)
        if "e" in only:
            _log("(e) TokenVerifier.verify in-process ...")
            crypto["token_verifier"] = crypto_bench.bench_verifier(material, *cr)
    results["crypto"] = crypto

    if only & {"c", "e"}:
        _log("(c) in-process issuance over moto (fresh stack per repetition) ...")
        from bench import inprocess_bench

        # The app's EMF metrics are printed to stdout (powertools auto-flushes every 100 values
        # even with POWERTOOLS_METRICS_DISABLED): keep them out of the table, cost unchanged.
        try:
            with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
                results["inprocess"] = inprocess_bench.bench_inprocess(
                    repeats=args.repeats,
                    max_requests=args.requests if "c" in only else 5,
                    max_seconds=args.request_seconds,
                    verify_requests=args.verify_requests if "e" in only else 0,
                    verify_seconds=args.verify_seconds,
                    log=_log,
                )
                if not args.no_profile and "c" in only:
                    _log("    profiling in-process issuance ...")
                    results["profile"] = inprocess_bench.profile_issuance(
                        warm_requests=10, profiled=5, top=args.profile_top
                    )
        except Exception as exc:  # noqa: BLE001 - report, keep going with the other sections
            errors["inprocess"] = f"{type(exc).__name__}: {exc}"
            _log(f"    in-process benchmark failed: {errors['inprocess']}")

    if only & {"d", "e"}:
        _log("(d) HTTP against python -m chalicelib.local ...")
        from bench import http_bench

        try:
            results["http"] = http_bench.bench_http(
                repeats=args.repeats,
                max_requests=args.requests if "d" in only else 5,
                max_seconds=args.request_seconds,
                threads=args.threads,
                verify_requests=args.verify_requests if "e" in only else 0,
                verify_seconds=args.verify_seconds,
                snapshot_interval=args.snapshot_interval or None,
                log=_log,
            )
        except Exception as exc:  # noqa: BLE001 - report, keep going
            errors["http"] = f"{type(exc).__name__}: {exc}"
            _log(f"    HTTP benchmark failed: {errors['http']}")

    peer_report = ""
    if "f" in only:  # (f): bench/peer_bench.py
        from bench import peer_bench

        peer_report = peer_bench.section(args, results, errors, _log)

    growth_report = ""
    if "g" in only:  # (g): bench/growth_bench.py
        from bench import growth_bench

        growth_report = growth_bench.section(args, results, errors, _log)

    package_report = ""
    if "h" in only:  # (h): bench/package_bench.py
        from bench import package_bench

        package_report = package_bench.section(args, results, errors, _log)

    status_list_report = ""
    if "i" in only:  # (i): bench/status_list_bench.py
        from bench import status_list_bench

        status_list_report = status_list_bench.section(args, results, errors, _log)

    # A section that was not asked for ran only to produce a token: keep it out of the report.
    if "c" not in only and "inprocess" in results:
        for key in ("issuance", "growth"):
            results["inprocess"].pop(key, None)
    if "d" not in only and "http" in results:
        for key in ("issuance_sequential", "issuance_concurrent"):
            results["http"].pop(key, None)
    results["ratios"] = _ratios(results)
    results["errors"] = errors
    results["elapsed_s"] = round(time.perf_counter() - started, 1)

    env = results["environment"]
    print()
    print(f"VaultGuard benchmarks {stamp}  |  {env['cpu']} x{env['cpu_count']}  |  "
          f"Python {env['python']}  |  cryptography {env['packages']['cryptography']}, "
          f"PyJWT {env['packages']['PyJWT']}")
    print("ops/s and p50/p95: medians over repetitions; HTTP/in-process rows are single requests end to end.")
    print()
    print(_table(results))
    if results["ratios"]:
        print("\nratios")
        width = max(len(k) for k in results["ratios"])
        for k, v in results["ratios"].items():
            print(f"  {k:<{width}}  {v:>8}")
    growth = _growth_lines(results)
    if growth:
        print("\nlatency growth with table size (flat: local_aws/moto_patch.py):")
        print("\n".join(growth))
    ddb = results.get("inprocess", {}).get("dynamodb_calls")
    if ddb:
        print("\nDynamoDB calls per request (sequential round trips in production):")
        for what, calls in ddb.items():
            print(f"  {what:<9} {len(calls)}: {', '.join(calls)}")
    if "profile" in results:
        print()
        print("\n".join(_profile_lines(results["profile"])))
    if peer_report:
        print("\n" + peer_report)
    if growth_report:
        print("\n" + growth_report)
    if package_report:
        print("\n" + package_report)
    if status_list_report:
        print("\n" + status_list_report)
    for where, message in errors.items():
        print(f"\nERROR in {where}: {message}")

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=False, default=str))
    print(f"\nresults: {path}   (total {results['elapsed_s']} s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
