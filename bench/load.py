"""A closed-loop HTTP load generator: N clients, each sending its next request as soon as
the previous answer arrived, over its own keep-alive connection.

Every client is a thread with its own `requests.Session` (environment proxies and netrc
ignored, so only the given 127.0.0.1 URLs are contacted). A repetition stops at a count cap
per client or at a time cap, whichever comes first; req/s is the aggregate over wall time
and p50/p95 are per request, end to end (client included). The same generator drives
VaultGuard and its peer, so whatever the client costs is the same on both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench._timing import Repetition, run_concurrent, summarise

# One request on the given session; raises if the answer is not the expected one.
Request = Callable[[requests.Session], Any]


def new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies, no netrc: straight to 127.0.0.1
    return session


def closed_loop(
    request: Request,
    *,
    clients: int,
    max_requests_per_client: int,
    max_seconds: float,
    warmup_per_client: int = 1,
) -> Repetition:
    """One repetition with `clients` concurrent clients. The clients first send
    `warmup_per_client` untimed requests each, all at once (this also opens their keep-alive
    connections)."""
    if clients < 1 or max_requests_per_client < 1:
        raise ValueError("clients and max_requests_per_client must be at least 1")
    sessions = [new_session() for _ in range(clients)]
    try:
        if warmup_per_client > 0:
            with ThreadPoolExecutor(max_workers=clients) as pool:
                for future in [pool.submit(_warm, request, s, warmup_per_client) for s in sessions]:
                    future.result()
        pending = iter(sessions)

        def make_op() -> Callable[[], Any]:
            session = next(pending)
            return lambda: request(session)

        return run_concurrent(
            make_op, threads=clients, max_ops=max_requests_per_client * clients, max_seconds=max_seconds
        )
    finally:
        for session in sessions:
            session.close()


def _warm(request: Request, session: requests.Session, count: int) -> None:
    for _ in range(count):
        request(session)


def summary(reps: list[Repetition], clients: int) -> dict[str, Any]:
    """`_timing.summarise` (medians over repetitions) plus the number of clients."""
    out = summarise(reps)
    out["clients"] = clients
    return out
