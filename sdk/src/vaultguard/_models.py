"""What the client hands back: an issued delegation, a step-up still waiting for a human, or a
provider access token from the vault."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Delegation:
    """An issued delegation: `access_token` is the signed RS256 token for the receiving API.

    The token is left out of `repr()` (and so out of logs and tracebacks that print the object);
    read `access_token` where you send it."""

    delegation_id: str
    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    expires_at: datetime
    scope: str

    @property
    def authorization_header(self) -> str:
        """`"Bearer <token>"`, the value of the receiving API's Authorization header."""
        return f"{self.token_type} {self.access_token}"


@dataclass(frozen=True)
class PendingDelegation:
    """A step-up waiting for an approver of the receiving tenant (CIBA poll mode).

    `created` is a `time.monotonic()` reading taken when the server answered: with
    `expires_in` it bounds polling, whatever the wall clock does."""

    delegation_id: str
    auth_req_id: str
    expires_in: int
    interval: int
    created: float = field(default_factory=time.monotonic)

    @property
    def deadline(self) -> float:
        """The monotonic time after which the server no longer answers with a token."""
        return self.created + self.expires_in


@dataclass(frozen=True)
class VaultToken:
    """A short-lived provider access token (e.g. Google's) from the tenant's vault connection.

    Never a refresh token. `access_token` is left out of `repr()` and `str()`; `expires_in` is
    the seconds left when the object was handed out, `expires_at` the absolute time (UTC)."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    expires_at: datetime
    scope: list[str] = field(hash=False)
    connection_id: str
    provider: str

    @property
    def authorization_header(self) -> str:
        """`"Bearer <token>"`, the value of the provider API's Authorization header."""
        return f"{self.token_type} {self.access_token}"
