"""The local identity provider under `make run`: node-oidc-provider (`local-idp/server.mjs`) in
a child process, standing in for Auth0. Local-only; VaultGuard knows it only by its issuer URL.

Given the vault's redirect URI, the same process also plays "local-google" under `/google`
(issuer `<issuer>/google`): the stand-in for Google that the token vault is tested against,
with one confidential client for VaultGuard's vault whose secret it generates on first start
and keeps in `<state_dir>/idp/google/vault-client.json` (see `google_client`).

Its state (sessions, grants, refresh tokens, its RS256 signing key, cookie keys, the subjects
it assigned, its configuration and log) is owner-only under `<state_dir>/idp/`, so people stay
signed in and earlier tokens keep verifying across restarts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from chalicelib.private_files import FILE_MODE, write_private

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "local-idp"
HOST = "127.0.0.1"
LOG_TAIL_LINES = 40
GOOGLE_PATH = "/google"
LOCAL_GOOGLE = "local-google"  # the vault provider preset it backs


class LocalIdentityProviderError(RuntimeError):
    """The local identity provider could not be installed or started (the message says why
    and ends with the tail of its log)."""


class LocalIdentityProvider:
    """node-oidc-provider on http://127.0.0.1:<port>.

    `clients`: node-oidc-provider client metadata, e.g. {"client_id", "client_secret",
    "redirect_uris", "post_logout_redirect_uris"}; `grant_types` defaults to authorization_code
    and refresh_token, `token_endpoint_auth_method` to client_secret_basic; `skip_consent`
    (default True) grants consent without a screen unless the request says prompt=consent.
    `users`: {"email", "password", "name"?, "email_verified"? (True), "sub"?}; without a
    `sub`, one is assigned on first start and kept (by email) in the state directory.
    `vault_redirect_uri` (VaultGuard's `<public url>/vault/callback`) turns local-google on;
    its refresh tokens rotate only with `google_rotate_refresh_tokens`, and its access tokens
    live `google_access_token_ttl` seconds.
    `resource_servers`: {resource indicator: {"scope"?, "audience"?, "ttl"?}}: APIs that clients
    allowed `client_credentials` get RS256 JWT access tokens for (RFC 8707 `resource`, RFC 9068),
    as Auth0 M2M applications do; a federated VaultGuard agent exchanges such a token.
    """

    def __init__(
        self,
        state_dir: Path,
        port: int,
        clients: list[dict[str, Any]],
        users: list[dict[str, Any]],
        *,
        node: str = "node",
        npm: str = "npm",
        timeout: float = 30.0,
        vault_redirect_uri: str | None = None,
        google_rotate_refresh_tokens: bool = False,
        google_access_token_ttl: int = 3600,
        resource_servers: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.port = port
        self.clients = clients
        self.users = users
        self._node = node
        self._npm = npm
        self._timeout = timeout
        self.vault_redirect_uri = vault_redirect_uri
        self.google_rotate_refresh_tokens = google_rotate_refresh_tokens
        self.google_access_token_ttl = google_access_token_ttl
        self.resource_servers = resource_servers or {}
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def idp_dir(self) -> Path:
        return self.state_dir / "idp"

    @property
    def google_issuer(self) -> str | None:
        """local-google's issuer, or None when it is off (no vault redirect URI)."""
        return f"{self.issuer}{GOOGLE_PATH}" if self.vault_redirect_uri else None

    @property
    def google_client_path(self) -> Path:
        return self.idp_dir / "google" / "vault-client.json"

    def google_client(self) -> dict[str, str] | None:
        """VaultGuard's client at local-google, {"client_id", "client_secret"}, once the
        server has started with local-google on."""
        if self.google_issuer is None:
            return None
        try:
            data = json.loads(self.google_client_path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return {"client_id": str(data["client_id"]), "client_secret": str(data["client_secret"])}

    def vault_providers(self) -> dict[str, dict[str, str]]:
        """What local.json lists under "vault_providers": {"local-google": {"issuer",
        "client_id", "client_secret", "redirect_uri"}}, or {} when local-google is off."""
        client = self.google_client()
        if client is None or self.google_issuer is None or self.vault_redirect_uri is None:
            return {}
        return {
            LOCAL_GOOGLE: {"issuer": self.google_issuer, **client, "redirect_uri": self.vault_redirect_uri}
        }

    @property
    def log_path(self) -> Path:
        return self.idp_dir / "server.log"

    def start(self) -> str:
        """Install the npm dependencies if needed, start the server and wait until its
        discovery document answers; returns the issuer URL."""
        if self._process is not None and self._process.poll() is None:
            return self.issuer
        node = shutil.which(self._node)
        if node is None:
            raise LocalIdentityProviderError(
                f"Node.js ({self._node!r}) is not on PATH: the local identity provider needs "
                "Node.js 18 or later (https://nodejs.org)."
            )
        ensure_dependencies(self._npm)
        config = self.idp_dir / "config.json"  # holds client secrets and passwords: 0600
        write_private(config, json.dumps(self._config(), indent=2))
        self._log = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb")
        os.fchmod(self._log.fileno(), FILE_MODE)  # a log left by an older version
        self._process = subprocess.Popen(
            [node, str(PACKAGE_DIR / "server.mjs"), str(config)],
            cwd=PACKAGE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self.issuer

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s); its state stays on disk."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalIdentityProvider:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "issuer": self.issuer,
            "port": self.port,
            "state_dir": str(self.state_dir),
            "clients": self.clients,
            "users": self.users,
            "exit_with_parent": True,
        }
        if self.vault_redirect_uri:
            config["google_redirect_uri"] = self.vault_redirect_uri
            config["google_rotate_refresh_tokens"] = self.google_rotate_refresh_tokens
            config["google_access_token_ttl"] = self.google_access_token_ttl
        if self.resource_servers:
            config["resource_servers"] = self.resource_servers
        return config

    def _wait_until_ready(self) -> None:
        """Ready when this process (not another one on the port) says it listens and the
        discovery document names our issuer."""
        import urllib.request

        assert self._process is not None
        deadline = time.monotonic() + self._timeout
        url = f"{self.issuer}/.well-known/openid-configuration"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LocalIdentityProviderError(
                    f"the local identity provider exited ({self._process.returncode}):\n{self.log_tail()}"
                )
            if b"listening on" in self.log_path.read_bytes():
                with contextlib.suppress(OSError, ValueError):
                    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                        if json.load(response).get("issuer") == self.issuer:
                            return
            time.sleep(0.1)
        raise LocalIdentityProviderError(
            f"the local identity provider did not answer {url} within {self._timeout:.0f} s:\n"
            f"{self.log_tail()}"
        )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def ensure_dependencies(npm: str = "npm") -> None:
    """`npm ci` into local-idp/ when node_modules is missing or older than package-lock.json
    (a fresh clone, or a changed pin). One installer at a time across processes."""
    lock_path = PACKAGE_DIR / ".install.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _dependencies_stale():
            return
        npm_path = shutil.which(npm)
        if npm_path is None:
            raise LocalIdentityProviderError(
                f"npm ({npm!r}) is not on PATH: it installs the local identity provider's "
                "dependencies (it comes with Node.js)."
            )
        result = subprocess.run(
            [npm_path, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=PACKAGE_DIR,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:])
            raise LocalIdentityProviderError(f"`npm ci` in {PACKAGE_DIR} failed:\n{tail}")


def _dependencies_stale() -> bool:
    installed = PACKAGE_DIR / "node_modules" / ".package-lock.json"  # npm writes it last
    try:
        return installed.stat().st_mtime < (PACKAGE_DIR / "package-lock.json").stat().st_mtime
    except FileNotFoundError:
        return True
