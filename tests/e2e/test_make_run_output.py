"""What `make run` prints and leaves on disk: commands that work as printed from the
repository root (with a state dir of one's own too), no client secret in its output, and a
state dir that only its owner can read."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import PROJECT_DIR, free_port

TIMEOUT = 30
LEGACY_OBJECT = Path("s3") / "vaultguard-audit-local" / "legacy" / "note.txt"


@dataclass
class Run:
    """`python -m chalicelib.local` as `make run` starts it (request logs on), with its
    standard output and standard error kept apart."""

    url: str
    state_dir: Path
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.state_dir / "local.json").read_text()))

    def output(self) -> str:
        return self.stdout_path.read_text() + self.stderr_path.read_text()


def clean_env() -> dict[str, str]:
    """The developer's environment without any VAULTGUARD_* setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VAULTGUARD_")}


def start(state_dir: Path, logs: Path) -> Run:
    port = free_port()
    stdout_path, stderr_path = logs / f"stdout-{port}.log", logs / f"stderr-{port}.log"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local", "--port", str(port), "--state-dir", str(state_dir)],
            cwd=PROJECT_DIR,
            env=clean_env(),
            stdout=out,
            stderr=err,
        )
    run = Run(f"http://127.0.0.1:{port}", state_dir, process, stdout_path, stderr_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{run.output()}")
        try:
            if requests.get(f"{run.url}/health", timeout=5).status_code == 200 and "Serving on" in (
                stdout_path.read_text()
            ):
                return run
        except requests.RequestException:  # not listening yet, or busy starting
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not become healthy:\n{run.output()}")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("make-run")
    state_dir = root / "my state"  # not the default, and a space to quote
    # A state dir left by an older version: its bucket copy was world-readable.
    legacy = state_dir / LEGACY_OBJECT
    legacy.parent.mkdir(parents=True)
    legacy.write_text("from an older version")
    for path in (state_dir, *state_dir.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    started = start(state_dir, root)
    yield started
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait(timeout=30)


def stop(run: Run) -> None:
    """Ctrl-C, as a user would: the last audit export and snapshot are written on the way out."""
    if run.process.poll() is None:
        run.process.send_signal(signal.SIGINT)
        assert run.process.wait(timeout=60) == 0, run.output()


def banner_block(run: Run, first: str, last: str) -> str:
    """The printed lines from the one starting with `first` to the one containing `last`."""
    lines = run.stdout_path.read_text().splitlines()
    begin = next(i for i, line in enumerate(lines) if line.strip().startswith(first))
    end = next(i for i in range(begin, len(lines)) if last in lines[i])
    return "\n".join(line.strip() for line in lines[begin : end + 1])


def shell(command: str) -> subprocess.CompletedProcess[str]:
    """A command pasted into a shell at the repository root."""
    return subprocess.run(
        ["bash", "-c", command],
        cwd=PROJECT_DIR,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )


def agent_token(run: Run) -> str:
    agent = run.state["tenants"]["medicore"]["agent"]
    reply = requests.post(
        f"{run.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(agent["client_id"], agent["client_secret"]),
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def request_delegation(run: Run, token: str, action: str, **extra: str) -> requests.Response:
    natsupply = run.state["tenants"]["natsupply"]["tenant_id"]
    return requests.post(
        f"{run.url}/delegations/request",
        json={"receiving_tenant_id": natsupply, "action": action, **extra},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


def client_secrets(state: dict[str, Any]) -> list[str]:
    secrets = [state["platform"]["client_secret"]]
    for tenant in state["tenants"].values():
        secrets += [tenant["admin"]["client_secret"], tenant["agent"]["client_secret"]]
    return secrets


@pytest.mark.skipif(shutil.which("curl") is None, reason="the banner's commands use curl")
def test_the_banners_try_it_commands_work_as_printed(run: Run) -> None:
    printed = run.stdout_path.read_text()
    assert f"Credentials  {run.state_dir / 'local.json'}" in printed
    pasted = shell(banner_block(run, "S=", '"action": "stock.write"'))
    assert pasted.returncode == 0, pasted.stderr
    body = json.loads(pasted.stdout)
    assert body["decision"] == "ALLOW" and body["access_token"], body


@pytest.mark.skipif(shutil.which("make") is None, reason="the banner prints make commands")
def test_the_banners_make_commands_find_this_state_dir(run: Run) -> None:
    started = request_delegation(run, agent_token(run), "requisition.submit", binding_message="REQ-BANNER")
    assert started.status_code == 202, started.text

    pending = shell(banner_block(run, "make pending", "make pending"))
    assert pending.returncode == 0, pending.stdout + pending.stderr
    assert "REQ-BANNER" in pending.stdout
    # The queue's hint is a command that works from here, for this state dir as well.
    hints = re.findall(r"`(make (?:approve|reject) [^`]+)`", pending.stdout)
    state_dir = f"VAULTGUARD_STATE_DIR='{run.state_dir}'"
    assert hints == [f"make approve ID=<ID> {state_dir}", f"make reject ID=<ID> REASON=... {state_dir}"]

    approve = banner_block(run, "make approve", "make approve")
    approved = shell(approve.replace("<auth_req_id or delegation_id>", started.json()["auth_req_id"]))
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert f"Approved {started.json()['delegation_id']}" in approved.stdout


def test_no_client_secret_in_the_output_and_the_state_dir_is_owner_only(run: Run) -> None:
    # Exercise what logs: token requests (basic and post), the three outcomes, a bad secret.
    token = agent_token(run)
    for action in ("stock.write", "requisition.submit", "admin.access"):
        assert request_delegation(run, token, action).status_code in (201, 202, 403)
    admin = run.state["tenants"]["natsupply"]["admin"]
    assert (
        requests.post(
            f"{run.url}/oauth/token",
            data={"grant_type": "client_credentials", **admin},
            timeout=TIMEOUT,
        ).status_code
        == 200
    )
    wrong = requests.post(
        f"{run.url}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": admin["client_id"], "client_secret": "nope"},
        timeout=TIMEOUT,
    )
    assert wrong.status_code == 401
    stop(run)

    output = run.output()
    assert "Serving on" in output and "Bye." in output  # the output is really there
    for secret in client_secrets(run.state):
        assert secret not in output

    audit_objects = list((run.state_dir / "s3").rglob("*.jsonl.gz"))
    assert audit_objects, "the audit bucket copy is empty"
    assert {"local.json", "signing-key.pem", "dynamodb-snapshot.json"} <= {
        p.name for p in run.state_dir.iterdir()
    }
    loose = []
    for path in (run.state_dir, *run.state_dir.rglob("*")):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode != (0o700 if path.is_dir() else 0o600):
            loose.append(f"{oct(mode)} {path.relative_to(run.state_dir.parent)}")
    assert loose == []
    assert (run.state_dir / LEGACY_OBJECT).read_text() == "from an older version"  # tightened, kept
