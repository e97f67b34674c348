"""(d) ALLOW issuance and (e) verification over HTTP against the real local server
(`python -m chalicelib.local`, i.e. what `make run` starts: Chalice's local server, moto's
server in the same process, demo data seeded on first start).

Only 127.0.0.1 is contacted; environment proxies are ignored (`trust_env = False`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench._timing import Repetition, percentile, run_concurrent, run_loop, summarise
from bench.inprocess_bench import RATE_LIMIT_ENV

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies, no netrc: straight to 127.0.0.1
    return session


def _default_sigint() -> None:
    # A background shell starts us with SIGINT ignored, and an ignored signal stays ignored
    # across exec: give the server Python's normal Ctrl-C handling back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Server:
    url: str
    state: dict[str, Any]
    process: subprocess.Popen[bytes]
    log_path: Path
    startup_s: float

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTGUARD_")}
    env.pop("AWS_PROFILE", None)
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONUNBUFFERED": "1",
            **RATE_LIMIT_ENV,
        }
    )
    env.pop("AWS_SESSION_TOKEN", None)
    return env


@contextlib.contextmanager
def local_server(
    *, startup_timeout: float = 60.0, snapshot_interval: float | None = 3600.0
) -> Iterator[Server]:
    """Start the local server on a free port in a temporary state dir; SIGINT it at the end."""
    with tempfile.TemporaryDirectory(prefix="vg-bench-http-") as tmp:
        port = free_port()
        state_dir = Path(tmp) / "state"
        log_path = Path(tmp) / "server.log"
        cmd = [sys.executable, "-m", "chalicelib.local", "--host", HOST, "--port", str(port),
               "--state-dir", str(state_dir), "--quiet"]
        if snapshot_interval is not None:
            cmd += ["--snapshot-interval", str(snapshot_interval)]
        started = time.perf_counter()
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                cmd, cwd=ROOT, env=_child_env(), stdout=log_file, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, preexec_fn=_default_sigint,
            )
        server: Server | None = None
        try:
            url = f"http://{HOST}:{port}"
            _wait_healthy(process, url, log_path, startup_timeout)
            state = json.loads((state_dir / "local.json").read_text())
            server = Server(url, state, process, log_path, time.perf_counter() - started)
            yield server
        finally:
            _stop(process)


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with _session() as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the local server exited with {process.returncode}:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            try:
                if session.get(f"{url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"the local server did not answer /health within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (the server's Ctrl-C path: snapshot, stop moto) and wait; escalate if stuck."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _token(session: requests.Session, url: str, creds: dict[str, str]) -> str:
    reply = session.post(
        f"{url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], creds["client_secret"]),
        timeout=30,
    )
    if reply.status_code != 200:
        raise RuntimeError(f"/oauth/token answered {reply.status_code}: {reply.text[:500]}")
    return str(reply.json()["access_token"])


def _issuer(url: str, agent_token: str, receiving: str) -> tuple[requests.Session, Callable[[], str]]:
    session = _session()
    headers = {"Authorization": f"Bearer {agent_token}", "Content-Type": "application/json"}
    body = json.dumps({"receiving_tenant_id": receiving, "action": "stock.write"})

    def issue() -> str:
        reply = session.post(f"{url}/delegations/request", data=body, headers=headers, timeout=60)
        if reply.status_code != 201:
            raise RuntimeError(f"issuance answered {reply.status_code}: {reply.text[:500]}")
        return str(reply.json()["access_token"])

    return session, issue


def _growth(rep: Repetition) -> dict[str, float]:
    tenth = max(1, rep.ops // 10)
    return {
        "first_tenth_p50_us": percentile(sorted(rep.latencies_us[:tenth]), 50),
        "last_tenth_p50_us": percentile(sorted(rep.latencies_us[-tenth:]), 50),
    }


def bench_http(
    *,
    repeats: int,
    max_requests: int,
    max_seconds: float,
    threads: int,
    verify_requests: int,
    verify_seconds: float,
    warmup: int = 5,
    snapshot_interval: float | None = 3600.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with local_server(snapshot_interval=snapshot_interval) as server:
        url, state = server.url, server.state
        log(f"  (d) local server up at {url} in {server.startup_s:.1f} s")
        out["server_startup_s"] = round(server.startup_s, 3)
        med, nat = state["tenants"]["medicore"], state["tenants"]["natsupply"]
        with _session() as session:
            agent_token = _token(session, url, med["agent"])
            admin_token = _token(session, url, nat["admin"])
        receiving = nat["tenant_id"]
        issued = 0
        try:
            # Sequential and concurrent repetitions alternate, so that both see the tables
            # (which grow with every issuance, and moto's cost with them) at similar sizes.
            seq_session, issue = _issuer(url, agent_token, receiving)
            sessions: list[requests.Session] = [seq_session]

            def make_op() -> Callable[[], str]:
                s, op = _issuer(url, agent_token, receiving)
                sessions.append(s)
                return op

            for _ in range(warmup):
                token = issue()
            issued += warmup
            seq: list[Repetition] = []
            conc: list[Repetition] = []
            for i in range(repeats):
                rep = run_loop(issue, max_ops=max_requests, max_seconds=max_seconds, min_ops=5)
                seq.append(rep)
                issued += rep.ops
                log(f"  (d) sequential {i + 1}/{repeats}: {rep.ops} issuances, "
                    f"{rep.ops_per_s:.1f} req/s, p50 {rep.p(50) / 1000:.1f} ms")
                rep = run_concurrent(make_op, threads=threads, max_ops=max_requests, max_seconds=max_seconds)
                conc.append(rep)
                issued += rep.ops
                log(f"  (d) {threads} threads {i + 1}/{repeats}: {rep.ops} issuances, "
                    f"{rep.ops_per_s:.1f} req/s, p50 {rep.p(50) / 1000:.1f} ms")
            for s in sessions:
                s.close()
            out["issuance_sequential"] = summarise(seq)
            out["issuance_sequential"]["growth"] = [_growth(r) for r in seq]
            out["issuance_concurrent"] = summarise(conc)
            out["issuance_concurrent"]["threads"] = threads

            # verification as the receiving tenant's admin
            if verify_requests > 0:
                with _session() as vsession:
                    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
                    body = json.dumps({"token": token})

                    def verify() -> None:
                        reply = vsession.post(
                            f"{url}/delegations/verify", data=body, headers=headers, timeout=60
                        )
                        if reply.status_code != 200 or not reply.json().get("active"):
                            raise RuntimeError(f"verify answered {reply.status_code}: {reply.text[:500]}")

                    for _ in range(3):
                        verify()
                    ver = []
                    for i in range(repeats):
                        rep = run_loop(verify, max_ops=verify_requests, max_seconds=verify_seconds, min_ops=5)
                        ver.append(rep)
                        log(f"  (e) HTTP verify {i + 1}/{repeats}: {rep.ops} calls, "
                            f"{rep.ops_per_s:.1f} req/s, p50 {rep.p(50) / 1000:.1f} ms")
                out["verify"] = summarise(ver)
        except Exception as exc:
            raise RuntimeError(f"{exc}\n--- server log (tail) ---\n{server.log_tail()}") from exc
        out["delegations_issued_total"] = issued
    return out
