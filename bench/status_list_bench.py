"""Token status lists: offline verification throughput with the status check against raw
PyJWT in the same run (target ratio >= 0.85), and the revoke-to-refusal delay seen by
`DelegationVerifier(status_list=True)` against a local server (median over trials).

    .venv/bin/python -m bench.status_list_bench [--seconds 2] [--trials 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import jwt
import requests

from bench.http_bench import _session, _token, local_server


def _throughput(fn: Any, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            fn()
        count += 50
    return count / elapsed


def run(seconds: float, trials: int) -> dict[str, Any]:
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
            kid = jwt.get_unverified_header(token)["kid"]
            key = verifier.jwks.get(kid)

            def raw() -> None:
                jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=server.url)

            ours = _throughput(lambda: verifier.verify(token), seconds)
            bare = _throughput(raw, seconds)
            out["verify_with_status_per_s"] = round(ours)
            out["raw_pyjwt_per_s"] = round(bare)
            out["ratio"] = round(ours / bare, 3)
            delays = []
            for _ in range(trials):
                issued = issue()
                verifier.verify(issued["access_token"])
                url = f"{server.url}/delegations/{issued['delegation_id']}/revoke"
                session.post(url, json={}, headers=headers, timeout=30).raise_for_status()
                revoked = time.monotonic()
                while time.monotonic() - revoked < 10:
                    try:
                        verifier.verify(issued["access_token"])
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=2.0, help="time of each throughput loop")
    p.add_argument("--trials", type=int, default=5, help="revoke-to-refusal trials")
    args = p.parse_args(argv)
    requests.packages.urllib3.disable_warnings()  # type: ignore[attr-defined]
    result = run(args.seconds, args.trials)
    print(json.dumps(result, indent=2))
    return 0 if result["ratio"] >= 0.85 and result["revoke_to_refusal_s"]["max"] < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
