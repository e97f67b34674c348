"""`python -m examples.demo` (`make demo`): MediCore's agent does three things at NatSupply and
reads MediCore's connected calendar.

Uses the VaultGuard of `make run` when it answers on /health (credentials from its
local.json), else starts one itself (`python -m chalicelib.local` on a free port with a
temporary state directory). Then it starts NatSupply's LMIS on a free port and runs the agent:

  stock.write         ALLOW   -> JWT issued -> stock updated
  requisition.submit  STEP_UP -> auth_req_id -> polling -> approved -> requisition submitted
  admin.access        BLOCK   -> 403 -> cannot proceed
  calendar.readonly   vault   -> access token for the connection -> calendar read

then two scenes (examples/no_secrets.py): a stolen copy of a delegation token, replayed without
the agent's key, is refused by NatSupply's API; a delegation MediCore revokes is refused there
within 5 s, offline (status list), with no call to VaultGuard per request. The agent is
MediCore's key-only agent: it signs in with private_key_jwt (its key in the state directory)
and its API token and delegations are DPoP-bound to a key it makes at start; it holds no
secret at all.

The step-up is approved by a scripted NatSupply admin after a few seconds (listing its
inbound PENDING delegations and approving the one with the agent's requisition reference), or
with `--interactive` by a human (`make approve ID=...`). The calendar is the local-google
connection a MediCore admin made in the dashboard (Connections -> Connect, calendar.readonly,
allow the agent): the demo looks its id up with MediCore's admin client and gives it to the
agent as configuration. Without one, a scripted MediCore admin connects it through the real
sign-in and consent pages, or with `--interactive` the demo waits for a human to. Everything it
started is stopped with SIGINT at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from examples import local_state
from examples.calendar_connection import (
    CALENDAR_SCOPE,
    PROVIDER,
    ConnectError,
    MediCoreAdmin,
    connect_calendar,
)
from examples.medicore_agent.agent import new_reference, plan, run
from examples.medicore_agent.calendar import CalendarTools
from examples.medicore_agent.config import (
    CALENDAR_CONNECTION_ENV,
    CALENDAR_URL_ENV,
    calendar_events_url,
    key_agent,
    load_config,
)
from examples.medicore_agent.narration import NarratingClient, Say, Transcript
from examples.medicore_agent.tools import NatSupplyTools, Toolbox, ToolResult
from examples.no_secrets import NoSecretsScenes, Scenes, summary_lines

PROJECT_DIR = Path(__file__).resolve().parents[1]
EXPECTED = {
    "update_stock": "DONE",
    "submit_requisition": "DONE",
    "open_admin": "BLOCKED",
    "read_calendar": "DONE",
}
CHAINS = {
    ("update_stock", "DONE"): "ALLOW   -> JWT issued -> stock updated",
    ("submit_requisition", "DONE"): "STEP_UP -> auth_req_id -> polling -> approved -> requisition submitted",
    ("open_admin", "BLOCKED"): "BLOCK   -> 403 -> cannot proceed",
    ("read_calendar", "DONE"): "vault   -> calendar.readonly token -> calendar read",
    (
        "read_calendar",
        "NEEDS_REAUTH",
    ): "vault   -> 409 needs reauthorization -> a MediCore admin must reconnect",
}
HTTP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Service:
    """A subprocess the demo started, with its output in a log file."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited early (code {self.process.returncode}):\n{self.log()}"
                )
            if healthy(self.url):
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} did not answer on {self.url}/health within {timeout:g} s:\n{self.log()}"
        )

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGINT (Ctrl-C, so VaultGuard saves its data), then wait; SIGTERM and at last SIGKILL
        only if it hangs."""
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            if self.process.poll() is not None:
                break
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


def _child_setup() -> None:
    """A shell starting the demo in the background leaves SIGINT ignored, and children inherit
    that; put it back so that our SIGINT stops them cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(name: str, args: Sequence[str], url: str, log_path: Path, env: Mapping[str, str]) -> Service:
    """Start `python <args>` in its own session: a Ctrl-C at the terminal reaches the demo only,
    which then stops its children one by one."""
    log = log_path.open("wb")
    try:
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=PROJECT_DIR,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_child_setup,
        )
    finally:
        log.close()  # the child has its own copy
    return Service(name, url, process, log_path)


class Approver(threading.Thread):
    """A NatSupply admin who watches the inbound PENDING queue for the agent's requisition and,
    `delay` seconds after it appears, approves it (or, with approve=False, tells a human how)."""

    def __init__(
        self,
        api_url: str,
        credentials: tuple[str, str],
        reference: str,
        say: Say,
        *,
        delay: float = 3.0,
        approve: bool = True,
        hint: str = "",
    ) -> None:
        super().__init__(name="natsupply-approver", daemon=True)
        self._api = api_url
        self._credentials = credentials
        self._reference = reference
        self._say = say
        self._delay = delay
        self._approve = approve
        self._hint = hint
        self._dashboard = f"{api_url}/dashboard/"
        self._done = threading.Event()
        self.approved: str | None = None
        self.error: str | None = None

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=10)

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self._api, timeout=HTTP_TIMEOUT) as http:
                self._watch(http)
        except Exception as exc:  # a thread must report, not die silently
            self.error = f"{type(exc).__name__}: {exc}"
            self._say("natsupply-admin", f"gave up: {self.error}")

    def _token(self, http: httpx.Client) -> str:
        reply = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=self._credentials)
        reply.raise_for_status()
        return str(reply.json()["access_token"])

    def _watch(self, http: httpx.Client) -> None:
        headers = {"Authorization": f"Bearer {self._token(http)}"}
        params = {"direction": "inbound", "status": "PENDING"}
        while not self._done.wait(0.5):
            reply = http.get("/delegations", params=params, headers=headers)
            reply.raise_for_status()
            mine = [
                d
                for d in reply.json().get("delegations") or []
                if d.get("binding_message") == self._reference and d.get("action") == "requisition.submit"
            ]
            if mine:
                break
        else:
            return
        pending = mine[0]
        who = pending.get("requesting_tenant_name") or pending.get("requesting_tenant_id")
        self._say(
            "natsupply-admin",
            f"pending: {who} asks for {pending['action']} ({self._reference}), "
            f"delegation {pending['delegation_id']}",
        )
        if not self._approve:
            self._say(
                "natsupply-admin",
                f"waiting for a human: approve it in the dashboard's queue ({self._dashboard}, signed in "
                f"as approver@natsupply.example) or run {self._hint}make approve ID={pending['auth_req_id']}",
            )
            return
        self._say("natsupply-admin", f"reviewing... approving in {self._delay:g} s")
        if self._done.wait(self._delay):
            return
        reply = http.post(f"/delegations/{pending['delegation_id']}/approve", headers=headers, json={})
        reply.raise_for_status()
        self.approved = str(pending["delegation_id"])
        self._say("natsupply-admin", f"approved {self.approved} -> status {reply.json().get('status')}")


@dataclass
class DemoResult:
    results: list[ToolResult]
    activity: list[dict[str, Any]]
    transcript: str
    vault_token_digests: set[tuple[int, str]]  # (length, sha256) of each vault token the agent got
    scenes: Scenes | None = None  # the stolen token and the revocation
    vaultguard_calls: dict[str, int] | None = None  # NatSupply's calls to VaultGuard, by path

    @property
    def outcomes(self) -> dict[str, str]:
        return {r.tool: r.outcome for r in self.results}

    @property
    def ok(self) -> bool:
        return self.outcomes == EXPECTED and self.scenes is not None and self.scenes.ok


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--api-url", help="VaultGuard to use (default: make run's, from local.json)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="make run's state dir (default $VAULTGUARD_STATE_DIR or .vaultguard); with --own-stack, "
        "where the fresh VaultGuard keeps its state (kept afterwards; default a temporary directory)",
    )
    parser.add_argument("--own-stack", action="store_true", help="always start a fresh VaultGuard")
    parser.add_argument(
        "--interactive", action="store_true", help="a human approves the step-up (make approve)"
    )
    parser.add_argument("--approve-after", type=float, default=3.0, help="seconds the scripted admin waits")
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=300.0,
        help="with --interactive, seconds to wait for MediCore's admin to connect the calendar",
    )
    parser.add_argument("--offline", action="store_true", help="offline planner even with ANTHROPIC_API_KEY")
    return parser.parse_args(argv)


def run_demo(argv: Sequence[str] | None = None, out: TextIO | None = None) -> DemoResult:
    args = _parse_args(argv)
    transcript = Transcript(out)
    say = transcript.say
    workdir = Path(tempfile.mkdtemp(prefix="vaultguard-demo-"))
    services: list[Service] = []
    try:
        api_url, state_dir = _vaultguard(args, workdir, services, say)
        env = {
            **os.environ,
            local_state.API_URL_ENV: api_url,
            local_state.STATE_DIR_ENV: str(state_dir),
        }
        port = free_port()
        natsupply = start(
            "NatSupply API",
            ["-m", "examples.natsupply_api", "--port", str(port)],
            f"http://127.0.0.1:{port}",
            workdir / "natsupply.log",
            env,
        )
        services.append(natsupply)
        natsupply.wait_healthy(30)
        say("demo", f"NatSupply LMIS on {natsupply.url} (python -m examples.natsupply_api)")
        own_stack = any(service.name == "VaultGuard" for service in services)
        return _run_agent(args, env, state_dir, natsupply, transcript, own_stack)
    finally:
        for service in reversed(services):
            code = service.stop()
            say("demo", f"stopped {service.name} (exit {code})")
        shutil.rmtree(workdir, ignore_errors=True)


def _vaultguard(
    args: argparse.Namespace, workdir: Path, services: list[Service], say: Say
) -> tuple[str, Path]:
    """make run's VaultGuard if it is up, else one of our own: (api_url, state_dir)."""
    if not args.own_stack:
        state_dir = args.state_dir or local_state.state_dir()
        try:
            state: dict[str, Any] | None = local_state.load_state(state_dir)
        except local_state.ConfigurationError:
            state = None
        api_url = (args.api_url or local_state.api_url(state)).rstrip("/")
        if state is not None and healthy(api_url):
            say("demo", f"using the running VaultGuard at {api_url} (make run; {state_dir / 'local.json'})")
            return api_url, state_dir.resolve()
    port = free_port()
    state_dir = args.state_dir.resolve() if args.own_stack and args.state_dir else workdir / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTGUARD_")}
    say("demo", "no VaultGuard running: starting python -m chalicelib.local (takes a few seconds)")
    server = start(
        "VaultGuard",
        ["-m", "chalicelib.local", "--port", str(port), "--state-dir", str(state_dir), "--quiet"],
        f"http://127.0.0.1:{port}",
        workdir / "vaultguard.log",
        env,
    )
    services.append(server)
    server.wait_healthy(120)
    say("demo", f"VaultGuard on {server.url} (state in {state_dir})")
    return server.url, state_dir


def _run_agent(
    args: argparse.Namespace,
    env: Mapping[str, str],
    state_dir: Path,
    natsupply: Service,
    transcript: Transcript,
    own_stack: bool,
) -> DemoResult:
    say = transcript.say
    state = local_state.load_state(state_dir)
    admin = local_state.tenant(state, "natsupply")["admin"]
    config = load_config(env, state_dir, natsupply.url)
    reference = new_reference()
    medicore = local_state.tenant(state, "medicore")
    say(
        "demo",
        f"MediCore ({medicore['tenant_id']}, agent {config.agent_id or config.client_id}) works with "
        f"NatSupply ({config.natsupply_tenant_id})",
    )
    # The agent's only calendar configuration: a connection id and the calendar API's URL.
    calendar_env = {CALENDAR_CONNECTION_ENV: _calendar_connection(args, config.api_url, state, say) or ""}
    calendar_env[CALENDAR_URL_ENV] = calendar_events_url(state) or env.get(CALENDAR_URL_ENV) or ""
    env = {**env, **calendar_env}
    config = load_config(env, state_dir, natsupply.url)
    hint = f"VAULTGUARD_STATE_DIR={state_dir} " if own_stack else ""
    approver = Approver(
        config.api_url,
        (str(admin["client_id"]), str(admin["client_secret"])),
        reference,
        say,
        delay=args.approve_after,
        approve=not args.interactive,
        hint=hint,
    )
    approver.start()
    client = NarratingClient(config.api_url, config.client_id, **config.sign_in(), dpop=True, say=say)
    _say_sign_in(config.key_file is not None, client, say)
    tools = NatSupplyTools(client, config.natsupply_tenant_id, config.natsupply_api_url, say=say)
    calendar = CalendarTools(client, config.calendar_connection_id, config.calendar_events_url, say=say)
    medicore_admin = medicore["admin"]
    try:
        results = run(Toolbox(tools, calendar), plan(reference), say, offline=args.offline, environ=env)
        scenes = NoSecretsScenes(
            client,
            config.natsupply_tenant_id,
            natsupply.url,
            (str(medicore_admin["client_id"]), str(medicore_admin["client_secret"])),
            say,
        ).run()
    finally:
        approver.stop()
        calendar.close()
        tools.close()
        client.close()
    reported = httpx.get(f"{natsupply.url}/activity", timeout=HTTP_TIMEOUT).json()
    activity, calls = reported["activity"], reported.get("vaultguard_calls") or {}
    _summary(results, activity, say)
    for line in summary_lines(scenes):
        say("demo", line)
    digests = set(client.vault_token_digests)
    return DemoResult(results, activity, transcript.text(), digests, scenes, dict(calls))


def _say_sign_in(keyed: bool, client: NarratingClient, say: Say) -> None:
    how = (
        "private_key_jwt (a client assertion signed by its key; no client secret exists for it)"
        if keyed
        else "its client secret"
    )
    jkt = client.dpop_key.thumbprint[:12] if client.dpop_key is not None else "?"
    say("agent", f"signs in with {how}; DPoP key {jkt}... made at start binds its API token and delegations")


def _calendar_connection(
    args: argparse.Namespace, api_url: str, state: Mapping[str, Any], say: Say
) -> str | None:
    """The operator step: the id of MediCore's local-google connection that allows its agent
    calendar.readonly, found with MediCore's admin client (or made, or waited for); None if
    there is none, and the calendar task then says so."""
    medicore = local_state.tenant(state, "medicore")
    agent = key_agent(state)  # the agent the demo runs
    agent_id = str(agent["agent_id"])
    admin_client = medicore["admin"]
    admin = MediCoreAdmin(api_url, (str(admin_client["client_id"]), str(admin_client["client_secret"])))
    person = (state.get("users") or {}).get("medicore_admin") or {}
    try:
        found, stale = admin.calendar_connections(agent_id)
        for connection in stale if found is None else []:
            say(
                "demo",
                f"{connection['connection_id']} needs reauthorization: a MediCore admin can reconnect it "
                "in the dashboard (Connections -> Reconnect)",
            )
        if found is None and args.interactive:
            say(
                "demo",
                f"no calendar connected: sign in to {api_url}/dashboard/ as {person.get('email')} "
                f'(password in {local_state.STATE_FILE} under "users"), Connections -> Connect {PROVIDER} '
                f"with {CALENDAR_SCOPE}, allow {agent.get('name') or agent_id}; "
                f"waiting up to {args.connect_timeout:g} s",
            )
            found = admin.wait_for_calendar(agent_id, args.connect_timeout)
        elif found is None and person and calendar_events_url(state):
            say(
                "demo",
                f"no calendar connected: MediCore's admin connects {PROVIDER} now, by script "
                "(make demo INTERACTIVE=1 waits for you to do it in the dashboard instead)",
            )
            return connect_calendar(api_url, person, agent_id, say)
    except (ConnectError, httpx.HTTPError) as exc:
        say("demo", f"could not connect MediCore's calendar: {exc}")
        return None
    finally:
        admin.close()
    if found is None:
        say("demo", "no calendar connected for MediCore's agent: the calendar task will say so")
        return None
    account = (found.get("provider_account") or {}).get("email")
    about = ", ".join(
        str(part) for part in (found["provider"], found.get("label"), account, found["status"]) if part
    )
    say(
        "demo",
        f"MediCore's calendar: connection {found['connection_id']} ({about}) allows its agent "
        f"-> {CALENDAR_CONNECTION_ENV}",
    )
    return str(found["connection_id"])


def _summary(results: list[ToolResult], activity: list[dict[str, Any]], say: Say) -> None:
    say("demo", "summary:")
    for result in results:
        chain = CHAINS.get((result.tool, result.outcome), f"{result.outcome}: {result.text}")
        say("demo", f"  {result.tool:<19} {chain}")
    counts = {
        action: sum(1 for a in activity if a["action"] == action)
        for action in ("stock.write", "requisition.submit", "admin.access")
    }
    say(
        "demo",
        f"NatSupply's LMIS recorded {counts['stock.write']} stock update(s), "
        f"{counts['requisition.submit']} requisition(s), {counts['admin.access']} admin access(es)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        result = run_demo(argv)
    except (RuntimeError, local_state.ConfigurationError, httpx.HTTPError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
