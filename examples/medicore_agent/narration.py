"""What the agent says while it works: `say(speaker, line)`, speakers padded to one column.

`NarratingClient` is the SDK's `VaultGuardClient` reporting each answer VaultGuard gives
(ALLOW, STEP_UP and its auth_req_id, the approval, the revocation after use, a vault token's
scope and lifetime) so that a transcript shows the protocol; it changes nothing about what the
client does. It never says a token; it keeps only the SHA-256 of each vault access token it saw
(`vault_token_digests`), so that a test can prove none reached the transcript."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from vaultguard import Delegation, PendingDelegation, VaultGuardClient, VaultToken

Say = Callable[[str, str], None]


class Transcript:
    """Thread-safe timestamped lines (the scripted approver speaks from its own thread)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self.lines: list[str] = []

    def say(self, speaker: str, line: str) -> None:
        text = f"[{time.monotonic() - self._start:5.1f}s] {speaker:<16} {line}"
        with self._lock:
            self.lines.append(text)
            print(text, file=self._out, flush=True)

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)


def print_line(speaker: str, line: str) -> None:
    print(f"{speaker:<16} {line}", flush=True)


class NarratingClient(VaultGuardClient):
    def __init__(self, *args: Any, say: Say = print_line, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._say = say
        self.vault_token_digests: set[tuple[int, str]] = set()  # (length, sha256 hex)

    def request_delegation(self, *args: Any, **kwargs: Any) -> Delegation | PendingDelegation:
        outcome = super().request_delegation(*args, **kwargs)
        if isinstance(outcome, PendingDelegation):
            self._say(
                "vaultguard",
                f"STEP_UP -> 202, delegation {outcome.delegation_id}, auth_req_id {outcome.auth_req_id} "
                f"(a NatSupply approver must decide within {outcome.expires_in} s)",
            )
        else:
            self._say("vaultguard", f"ALLOW -> 201, delegation {outcome.delegation_id}")
        return outcome

    def poll_delegation(self, pending: PendingDelegation, timeout: float | None = None) -> Delegation:
        self._say("agent", f"polling for auth_req_id {pending.auth_req_id} every {pending.interval} s (CIBA)")
        delegation = super().poll_delegation(pending, timeout)
        self._say("vaultguard", f"approved -> 200, token for delegation {delegation.delegation_id}")
        return delegation

    def revoke(self, delegation_id: str, reason: str | None = None) -> dict[str, Any]:
        result = super().revoke(delegation_id, reason)
        self._say("vaultguard", f"delegation {delegation_id} revoked after use")
        return result

    def vault_token(self, connection_id: str, scopes: Any = None) -> VaultToken:
        vault = super().vault_token(connection_id, scopes)
        digest = hashlib.sha256(vault.access_token.encode()).hexdigest()
        self.vault_token_digests.add((len(vault.access_token), digest))
        self._say(
            "vaultguard",
            f"vault -> 200, {vault.provider} access token for {vault.connection_id} "
            f"(scope {' '.join(vault.scope)}, expires in {vault.expires_in} s; "
            "the refresh token stays in the vault)",
        )
        return vault
