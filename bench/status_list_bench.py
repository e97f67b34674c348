"""(i) Token status lists: offline verification with the status check beside raw PyJWT in the
same run (target: throughput ratio >= 0.85), and the revoke-to-refusal delay seen by
`DelegationVerifier(status_list=True)` against a local server (median over trials).

The two loops alternate, repetition by repetition, on the same token and key object, so a
noisy neighbour slows both alike; the report gives medians over repetitions and the median
of the per-pair ratios.

    .venv/bin/python -m bench --only i
    .venv/bin/python -m bench.status_list_bench [--repeats 5] [--seconds 0.8] [--trials 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jwt
import requests

from bench._timing import Repetition, run_loop, summarise
from bench.http_bench import _session, _token, local_server

TARGET_RATIO = 0.85
REFUSAL_BOUND_S = 5.0


def _interleaved(ours: Callable[[], Any], raw: Callable[[], Any], repeats: int, seconds: float,
                 max_ops: int) -> tuple[list[Repetition], list[Repetition]]:
    mine: list[Repetition] = []
    bare: list[Repetition] = []
    for _ in range(repeats):
        bare.append(run_loop(raw, max_ops=max_ops, max_seconds=seconds, min_ops=50))
        mine.append(run_loop(ours, max_ops=max_ops, max_seconds=seconds, min_ops=50))
    return mine, bare


def run(repeats: int = 5, seconds: float = 0.8, trials: int = 5, max_ops: int = 50_000) -> dict[str, Any]:
    from vaultguard import DelegationVerifier, InvalidDelegationToken

    out: dict[str, Any] = {}
    with local_server() as server:
        session = _session()
        tenants = server.state["tenants"]
        agent_token = _token(session, server.url, tenants["medicore"]["agent"])
        headers = {"Authorization": f"Bearer {agent_token}"}
        body = {"receiving_tenant_id": tenants["natsupply"]["tenant_id"], "action": "stock.write"}

        def issue() -> dict[str, Any]:
            reply = session.post(f"{server.url}/delegations/request", json=body, headers=headers, timeout=30)
            reply.raise_for_status()
            return dict(reply.json())

        audience = tenants["natsupply"]["audience"]
        verifier = DelegationVerifier(server.url, audience, status_list=True)
        try:
            token = issue()["access_token"]
            verifier.verify(token)  # keys and the list fetched once, off the timed loop
            key = verifier.jwks.get(jwt.get_unverified_header(token)["kid"])  # a key object, as ours

            def raw() -> None:
                jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=server.url)

            mine, bare = _interleaved(lambda: verifier.verify(token), raw, repeats, seconds, max_ops)
            out["verify_with_status"] = summarise(mine)
            out["raw_pyjwt_decode"] = summarise(bare)
            out["ratio_ops_per_s"] = round(
                statistics.median(m.ops_per_s / b.ops_per_s for m, b in zip(mine, bare, strict=True)), 3
            )
            delays = []
            for _ in range(trials):
                issued = issue()
                verifier.verify(issued["access_token"])
                url = f"{server.url}/delegations/{issued['delegation_id']}/revoke"
                session.post(url, json={}, headers=headers, timeout=30).raise_for_status()
                revoked = time.monotonic()
                while time.monotonic() - revoked < 2 * REFUSAL_BOUND_S:
                    try:
                        verifier.verify(issued["access_token"])  # memory only: no network call
                    except InvalidDelegationToken:
                        break
                    time.sleep(0.01)
                delays.append(time.monotonic() - revoked)
            out["revoke_to_refusal_s"] = {
                "median": round(statistics.median(delays), 3),
                "max": round(max(delays), 3),
                "trials": len(delays),
            }
        finally:
            if verifier.status_lists is not None:
                verifier.status_lists.close()
    return out


def report(result: dict[str, Any]) -> str:
    ours, bare = result["verify_with_status"], result["raw_pyjwt_decode"]
    refusal = result["revoke_to_refusal_s"]
    return "\n".join([
        "(i) status lists: offline verification with the status check, and revoke-to-refusal",
        f"  DelegationVerifier(status_list=True).verify  {ours['ops_per_s']:>9,.0f} ops/s  "
        f"p50 {ours['p50_us']:,.0f} µs",
        f"  raw PyJWT jwt.decode RS256 (same token/key)  {bare['ops_per_s']:>9,.0f} ops/s  "
        f"p50 {bare['p50_us']:,.0f} µs",
        f"  ratio (median of interleaved pairs)          {result['ratio_ops_per_s']:>9.2f}   "
        f"target >= {TARGET_RATIO}",
        f"  revoke -> refusal, no network on the request path: median {refusal['median']:.2f} s, "
        f"max {refusal['max']:.2f} s over {refusal['trials']} trials (bound {REFUSAL_BOUND_S:.0f} s)",
    ])


def section(
    args: argparse.Namespace, results: dict[str, Any], errors: dict[str, str], log: Callable[[str], None]
) -> str:
    log("(i) status lists: verification with the status check, revoke-to-refusal ...")
    try:
        results["status_list"] = run(repeats=args.crypto_repeats, seconds=args.crypto_seconds,
                                     max_ops=args.crypto_max_ops)
    except Exception as exc:  # noqa: BLE001 - report, keep going
        errors["status_list"] = f"{type(exc).__name__}: {exc}"
        log(f"    status-list benchmark failed: {errors['status_list']}")
        return ""
    return report(results["status_list"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=5, help="interleaved repetitions of each loop")
    p.add_argument("--seconds", type=float, default=0.8, help="time cap of one repetition")
    p.add_argument("--trials", type=int, default=5, help="revoke-to-refusal trials")
    args = p.parse_args(argv)
    requests.packages.urllib3.disable_warnings()  # type: ignore[attr-defined]
    result = run(args.repeats, args.seconds, args.trials)
    print(report(result))
    print(json.dumps(result, indent=2, default=str))
    ok = result["ratio_ops_per_s"] >= TARGET_RATIO and result["revoke_to_refusal_s"]["max"] < REFUSAL_BOUND_S
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
