"""A request's authentication and budgets, folded into its first batched read.

The API layer builds a gate from the request's claim (a verified bearer token, or a client
id and secret) and its budget charges. The first `read` fetches the claim's items (credential,
tenant), the budget counters and whatever the use case needs, in one `BatchGetItem`, then
confirms the claim and checks the budgets before returning anything. Routes whose use case
names its items up front (a delegation decision, verification, the token endpoint) thereby
authenticate for free; for every other route the API layer calls `read()` at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from chalicelib.domain.principal import Principal
from chalicelib.errors import VaultGuardError
from chalicelib.services.ratelimit import RateLimiter, defer
from chalicelib.store.ratelimits import Charge
from chalicelib.store.reads import BatchReader, Key, Snapshot
from chalicelib.tokens.dpop import DPoPProof


class Claim(Protocol):
    @property
    def tenant_id(self) -> str | None: ...

    def keys(self) -> list[Key]: ...

    def confirm(self, snapshot: Snapshot) -> Principal: ...


class RequestGate:
    def __init__(
        self,
        reader: BatchReader,
        limiter: RateLimiter,
        claim: Claim,
        charges: Iterable[Charge | None],
        now: int,
    ) -> None:
        self._reader = reader
        self._limiter = limiter
        self._claim = claim
        self._charges = [c for c in charges if c is not None]
        self._now = now
        self._principal: Principal | None = None
        self._expected: tuple[Principal, VaultGuardError] | None = None
        self.dpop: DPoPProof | None = None  # a client-authenticated request's verified DPoP proof
        self._dpop_recorded = False

    def expect(self, principal: Principal, refusal: VaultGuardError) -> Principal:
        """Let the use case act as `principal` before the read confirms the caller; if the
        confirmed caller is someone else, the read raises `refusal` instead of answering."""
        self._expected = (principal, refusal)
        return principal

    @property
    def confirmed(self) -> bool:
        return self._principal is not None

    @property
    def principal(self) -> Principal:
        """The confirmed caller (only after the first read)."""
        if self._principal is None:
            raise RuntimeError("the request's claim was not confirmed before use")
        return self._principal

    @property
    def claim(self) -> Claim:
        return self._claim

    def dpop_binding(self) -> str | None:
        """The thumbprint of the key the request's DPoP proof proves (RFC 9449), to bind what
        the request obtains to it; None without a proof. Using the proof records its jti in
        the request's writes (a bearer claim's proof is recorded when the claim is confirmed)."""
        bearer_proof: DPoPProof | None = getattr(self._claim, "dpop", None)
        if bearer_proof is not None:
            return bearer_proof.jkt
        if self.dpop is None:
            return None
        if not self._dpop_recorded:
            from chalicelib.auth.authenticator import record_dpop_jti

            credential = getattr(self._claim, "credential", None)
            if credential is None:
                raise RuntimeError("the request's claim was not confirmed before its DPoP proof was used")
            record_dpop_jti(credential.pk, credential.client_id, self.dpop)
            self._dpop_recorded = True
        return self.dpop.jkt

    def read(self, keys: Iterable[Key] = (), charges: Iterable[Charge | None] = ()) -> Snapshot:
        """The items at `keys` (one round trip); the first call also authenticates the
        caller and checks its budgets, together with any extra `charges` of the use case."""
        if self._principal is not None:
            extra = [c for c in charges if c is not None]
            snapshot = self._reader.read([*keys, *(c.key for c in extra)])
            self._limiter.check(extra, snapshot, self._now)
            defer(extra)
            return snapshot
        every = self._charges + [c for c in charges if c is not None]
        snapshot = self._reader.read([*self._claim.keys(), *(c.key for c in every), *keys])
        principal = self._claim.confirm(snapshot)
        if self._expected is not None and self._expected[0] != principal:
            raise self._expected[1]
        self._limiter.check(every, snapshot, self._now)
        defer(every)
        self._principal = principal
        return snapshot
