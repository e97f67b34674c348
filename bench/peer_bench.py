"""(f) VaultGuard beside a peer measured in the same run with the same load generator:
node-oidc-provider's `client_credentials` grant issuing RS256 JWT access tokens.

Both servers run on 127.0.0.1 at the same time: VaultGuard's local server (as in (d):
`python -m chalicelib.local`, rate limits raised) and the peer (bench/oidc_peer, installed
with `npm ci` on first use). Each repetition measures, with 1 and with 8 closed-loop clients,
`POST /token` on the peer, `POST /oauth/token` on VaultGuard (both client_credentials with
client_secret_basic) and `POST /delegations/request` (ALLOW) on VaultGuard. The report gives
medians over repetitions and the ratios VaultGuard / peer.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from bench import load
from bench._timing import Repetition
from bench.http_bench import local_server

PEER_DIR = Path(__file__).resolve().parent / "oidc_peer"
CLIENTS = (1, 8)
FORM = "application/x-www-form-urlencoded"
# The peer and the VaultGuard token endpoint are fast: a count cap of 5 x --requests per client
# keeps their repetitions long enough to mean something (the time cap still bounds them).
COUNT_FACTOR = 5

Log = Callable[[str], None]


# -- the peer ---------------------------------------------------------------------------------------


def ensure_peer_installed(log: Log) -> str:
    """`npm ci` in bench/oidc_peer unless the locked oidc-provider is already installed;
    returns its version."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        raise RuntimeError("(f) needs Node.js and npm on PATH (the peer is node-oidc-provider)")
    lock = json.loads((PEER_DIR / "package-lock.json").read_text())
    wanted = str(lock["packages"]["node_modules/oidc-provider"]["version"])
    installed_manifest = PEER_DIR / "node_modules" / "oidc-provider" / "package.json"
    installed = None
    if installed_manifest.exists():
        installed = json.loads(installed_manifest.read_text()).get("version")
    if installed != wanted:
        log(f"  (f) npm ci in bench/oidc_peer (oidc-provider {wanted}) ...")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=PEER_DIR, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm ci failed ({done.returncode}):\n{(done.stderr or done.stdout)[-2000:]}")
    return wanted


@dataclass
class Peer:
    token_endpoint: str
    client_id: str
    client_secret: str
    ready: dict[str, Any]
    log_path: Path
    startup_s: float

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def peer_server(*, startup_timeout: float = 30.0) -> Iterator[Peer]:
    """Start bench/oidc_peer/server.js on a free 127.0.0.1 port; stop it at the end."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH")
    secret = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "NODE_OPTIONS")}
    env.update({"PEER_CLIENT_ID": "bench-client", "PEER_CLIENT_SECRET": secret, "NODE_ENV": "production"})
    with tempfile.TemporaryDirectory(prefix="vg-bench-peer-") as tmp:
        log_path = Path(tmp) / "peer.log"
        started = time.perf_counter()
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                [node, "server.js", "0"], cwd=PEER_DIR, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=log_file,
            )
        try:
            ready = _ready_line(process, log_path, startup_timeout)
            yield Peer(ready["token_endpoint"], ready["client_id"], secret, ready, log_path,
                       time.perf_counter() - started)
        finally:
            _stop(process)


def _ready_line(process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> dict[str, Any]:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readable, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            break
        line = process.stdout.readline()
        if not line:  # the process closed stdout: it exited
            process.wait(timeout=5)
            raise RuntimeError(f"the peer exited with {process.returncode}:\n"
                               + log_path.read_text(errors="replace")[-3000:])
        with contextlib.suppress(ValueError):
            ready = json.loads(line)
            if isinstance(ready, dict) and ready.get("ready"):
                if not str(ready.get("url", "")).startswith("http://127.0.0.1:"):
                    raise RuntimeError(f"the peer listens elsewhere than 127.0.0.1: {ready}")
                return ready
    raise RuntimeError(f"the peer printed no ready line within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
    if process.stdout is not None:
        process.stdout.close()


# -- requests ---------------------------------------------------------------------------------------


def _basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: form-encode both parts, then HTTP Basic."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def token_request(endpoint: str, client_id: str, secret: str) -> load.Request:
    headers = {"Authorization": _basic(client_id, secret), "Content-Type": FORM}
    body = "grant_type=client_credentials"

    def call(session: requests.Session) -> str:
        reply = session.post(endpoint, data=body, headers=headers, timeout=60)
        if reply.status_code != 200:
            raise RuntimeError(f"{endpoint} answered {reply.status_code}: {reply.text[:500]}")
        token = str(reply.json()["access_token"])
        if token.count(".") != 2:
            raise RuntimeError(f"{endpoint} issued a token that is not a JWS: {token[:40]}...")
        return token

    return call


def delegation_request(url: str, agent_token: str, receiving_tenant_id: str) -> load.Request:
    headers = {"Authorization": f"Bearer {agent_token}", "Content-Type": "application/json"}
    body = json.dumps({"receiving_tenant_id": receiving_tenant_id, "action": "stock.write"})

    def call(session: requests.Session) -> str:
        reply = session.post(f"{url}/delegations/request", data=body, headers=headers, timeout=60)
        if reply.status_code != 201:
            raise RuntimeError(f"issuance answered {reply.status_code}: {reply.text[:500]}")
        return str(reply.json()["access_token"])

    return call


def _jws_header(token: str) -> dict[str, Any]:
    head = token.split(".", 1)[0]
    return dict(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))))


# -- the section ------------------------------------------------------------------------------------

ROWS = (  # key, label
    ("peer_token", "node-oidc-provider POST /token (client_credentials)"),
    ("vg_token", "VaultGuard POST /oauth/token (client_credentials)"),
    ("vg_delegation", "VaultGuard POST /delegations/request (ALLOW)"),
)


def bench_peer(
    *,
    repeats: int,
    max_requests_per_client: int,
    max_seconds: float,
    snapshot_interval: float | None = 3600.0,
    count_dynamodb_calls: bool = True,
    log: Log = print,
) -> dict[str, Any]:
    version = ensure_peer_installed(log)
    out: dict[str, Any] = {"clients": list(CLIENTS), "max_requests_per_client": max_requests_per_client,
                           "max_seconds": max_seconds}
    reps: dict[str, list[Repetition]] = {f"{key}_{n}": [] for key, _ in ROWS for n in CLIENTS}
    with local_server(snapshot_interval=snapshot_interval) as server, peer_server() as peer:
        if peer.ready.get("oidc_provider") != version:
            running = peer.ready.get("oidc_provider")
            raise RuntimeError(f"the peer runs oidc-provider {running}, the lock says {version}")
        log(f"  (f) VaultGuard up at {server.url} in {server.startup_s:.1f} s; node-oidc-provider "
            f"{version} (Node {peer.ready.get('node')}) at {peer.ready['url']} in {peer.startup_s:.1f} s")
        med, nat = server.state["tenants"]["medicore"], server.state["tenants"]["natsupply"]
        requests_by_row: dict[str, load.Request] = {
            "peer_token": token_request(peer.token_endpoint, peer.client_id, peer.client_secret),
            "vg_token": token_request(f"{server.url}/oauth/token", med["agent"]["client_id"],
                                      med["agent"]["client_secret"]),
        }
        try:
            with load.new_session() as session:
                peer_token = requests_by_row["peer_token"](session)
                agent_token = requests_by_row["vg_token"](session)
            requests_by_row["vg_delegation"] = delegation_request(server.url, agent_token, nat["tenant_id"])
            out["tokens"] = {
                "peer": {"header": _jws_header(peer_token), "bytes": len(peer_token)},
                "vaultguard_api": {"header": _jws_header(agent_token), "bytes": len(agent_token)},
            }
            for i in range(repeats):
                # Alternate who goes first, so that neither always runs right after the other's burst.
                token_order = ("peer_token", "vg_token") if i % 2 == 0 else ("vg_token", "peer_token")
                for clients in CLIENTS:
                    for key in (*token_order, "vg_delegation"):
                        rep = load.closed_loop(requests_by_row[key], clients=clients,
                                               max_requests_per_client=max_requests_per_client,
                                               max_seconds=max_seconds)
                        reps[f"{key}_{clients}"].append(rep)
                        log(f"  (f) {i + 1}/{repeats} {key:<13} {clients} client(s): {rep.ops:>5} requests, "
                            f"{rep.ops_per_s:7.1f} req/s, p50 {rep.p(50) / 1000:6.1f} ms, "
                            f"p95 {rep.p(95) / 1000:6.1f} ms")
        except Exception as exc:
            raise RuntimeError(f"{exc}\n--- VaultGuard log (tail) ---\n{server.log_tail()}"
                               f"\n--- peer log (tail) ---\n{peer.log_tail()}") from exc
    out["peer"] = {"oidc_provider": version, "node": peer.ready.get("node"),
                   "resource": peer.ready.get("resource")}
    out["rows"] = {name: load.summary(r, int(name.rsplit("_", 1)[1])) for name, r in reps.items() if r}
    out["ratios"] = _ratios(out["rows"])
    if count_dynamodb_calls:
        try:
            out["dynamodb_calls"] = dynamodb_calls_per_request()
        except Exception as exc:  # noqa: BLE001 - optional figure; the timings stand without it
            out["dynamodb_calls_error"] = f"{type(exc).__name__}: {exc}"
    return out


def _ratios(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """VaultGuard / peer for p50, p95 and req/s, per VaultGuard row and client count."""
    out: dict[str, dict[str, float]] = {}
    for key in ("vg_token", "vg_delegation"):
        for n in CLIENTS:
            vg, peer = rows.get(f"{key}_{n}"), rows.get(f"peer_token_{n}")
            if not vg or not peer:
                continue
            out[f"{key}_{n}"] = {m: vg[m] / peer[m] for m in ("p50_us", "p95_us", "ops_per_s") if peer[m]}
    return out


def dynamodb_calls_per_request() -> dict[str, list[str]]:
    """The DynamoDB operations of one agent token and one ALLOW issuance, counted in-process
    over moto after a warm-up call (the HTTP server runs the same code)."""
    from bench.inprocess_bench import dynamodb_calls, moto_world
    from chalicelib.services import container as container_module
    from chalicelib.services.bootstrap import create_platform_client

    def form(client_id: str, secret: str) -> str:
        return f"grant_type=client_credentials&client_id={quote(client_id, safe='')}" \
               f"&client_secret={quote(secret, safe='')}"

    # The app prints its EMF metrics and log lines to stdout: keep them out of the report.
    with open(os.devnull, "w") as sink, _logs_to(sink), contextlib.redirect_stdout(sink), \
            moto_world() as world:

        def ok(status_body: tuple[int, Any]) -> Any:
            status, body = status_body
            if status not in (200, 201):
                raise RuntimeError(f"setup call answered {status}: {body}")
            return body

        platform_id, platform_secret = create_platform_client(container_module.get_container())
        platform = ok(world.call("POST", "/oauth/token", form=form(platform_id, platform_secret)))
        tenant = ok(world.call("POST", "/tenants", platform["access_token"], {"name": "Bench Peer"}))
        admin = ok(world.call("POST", "/oauth/token",
                              form=form(tenant["admin"]["client_id"], tenant["admin"]["client_secret"])))
        agent = ok(world.call("POST", "/agents", admin["access_token"], {"name": "bench peer agent"}))
        agent_form = form(agent["client_id"], agent["client_secret"])
        ok(world.call("POST", "/oauth/token", form=agent_form))
        with dynamodb_calls() as token_calls:
            ok(world.call("POST", "/oauth/token", form=agent_form))
        world.issue()
        with dynamodb_calls() as issue_calls:
            world.issue()
    return {"token": token_calls, "delegation": issue_calls}


@contextlib.contextmanager
def _logs_to(sink: Any) -> Iterator[None]:
    """Point the app logger's stream handlers (which captured sys.stdout when they were
    built, so redirect_stdout misses them) at `sink` for the block."""
    from chalicelib.observability import logger as app_logger

    names = {"vaultguard", getattr(app_logger, "name", "vaultguard")}
    handlers = [h for name in names for h in logging.getLogger(name).handlers
                if isinstance(h, logging.StreamHandler)]
    saved = [h.setStream(sink) for h in handlers]
    try:
        yield
    finally:
        for handler, stream in zip(handlers, saved, strict=True):
            if stream is not None:
                handler.setStream(stream)


# -- report -----------------------------------------------------------------------------------------


def _t(us: float | None) -> str:
    if us is None:
        return "-"
    return f"{us:,.0f} µs" if us < 1000 else f"{us / 1000:,.1f} ms"


def _x(r: float | None) -> str:
    if r is None or r <= 0:
        return "-"
    if r < 0.1:
        return f"1/{1 / r:,.0f}"
    return f"{r:,.1f}x" if r >= 10 else f"{r:,.2f}x"


def report(out: dict[str, Any]) -> str:
    peer = out.get("peer", {})
    rows = out.get("rows", {})
    lines = [f"(f) VaultGuard beside node-oidc-provider {peer.get('oidc_provider')} (Node "
             f"{peer.get('node')}): same closed-loop client, both on 127.0.0.1, medians over repetitions"]
    width = max(len(label) for _, label in ROWS)
    head = (f"  {'endpoint':<{width}}  {'clients':>7}  {'req/s':>8}  {'p50':>10}  {'p95':>10}  "
            f"{'reps':>4}  {'reqs':>6}")
    lines += [head, "  " + "-" * (len(head) - 2)]
    for n in CLIENTS:
        for key, label in ROWS:
            s = rows.get(f"{key}_{n}")
            if s:
                lines.append(f"  {label:<{width}}  {n:>7}  {s['ops_per_s']:>8,.1f}  {_t(s['p50_us']):>10}  "
                             f"{_t(s['p95_us']):>10}  {s['repetitions']:>4}  {s['ops_total']:>6}")
    ratios = out.get("ratios", {})
    if ratios:
        lines.append("  VaultGuard / peer (p50, p95: above 1 = VaultGuard slower; "
                     "req/s: below 1 = VaultGuard serves fewer)")
        names = {"vg_token": "/oauth/token vs peer /token",
                 "vg_delegation": "/delegations/request vs peer /token"}
        for name, r in ratios.items():
            key, n = name.rsplit("_", 1)
            lines.append(f"    {names[key]:<36} {n} client(s):  p50 {_x(r.get('p50_us')):>7}  "
                         f"p95 {_x(r.get('p95_us')):>7}  req/s {_x(r.get('ops_per_s')):>7}")
    calls = out.get("dynamodb_calls")
    if calls:
        lines.append("  DynamoDB calls per VaultGuard request (counted in-process; none on the peer, which "
                     "keeps nothing for JWT access tokens):")
        for what, ops in calls.items():
            lines.append(f"    {what:<10} {len(ops)}: {', '.join(ops)}")
    elif out.get("dynamodb_calls_error"):
        lines.append(f"  (DynamoDB call count unavailable: {out['dynamodb_calls_error']})")
    return "\n".join(lines)


def section(args: Any, results: dict[str, Any], errors: dict[str, str], log: Log) -> str:
    """Run (f) for `python -m bench`; store into `results["peer"]` or `errors["peer"]`;
    return the report text."""
    log("(f) VaultGuard beside node-oidc-provider over HTTP ...")
    try:
        results["peer"] = bench_peer(
            repeats=args.repeats,
            max_requests_per_client=args.requests * COUNT_FACTOR,
            max_seconds=args.request_seconds,
            snapshot_interval=args.snapshot_interval or None,
            log=log,
        )
    except Exception as exc:  # noqa: BLE001 - report, keep going with the other sections
        errors["peer"] = f"{type(exc).__name__}: {exc}"
        log(f"    peer benchmark failed: {errors['peer']}")
        return ""
    return report(results["peer"])

