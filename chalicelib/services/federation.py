"""Federated agents at the token endpoint: a trusted external issuer's JWT exchanged for a
VaultGuard API token as the agent its (issuer, subject) is mapped to.

Two ways in, one use case: the JWT bearer grant (RFC 7523 §2.1, `assertion`) and token
exchange (RFC 8693 §2.1, `subject_token` of type `urn:ietf:params:oauth:token-type:jwt`).
Two round trips, as every `/oauth/token` request: one batched read (the identity record and
the budget counters) and one transaction (the `token.issued` event, the agent's
`last_used_at`, the budget charge, the `jti`'s single use, and the conditions that the agent's
credential and tenant are still active).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.auth.authenticator import api_token_claims
from chalicelib.auth.federated import REFUSAL, FederatedClaim, FederatedFailure
from chalicelib.auth.scope import system_scope
from chalicelib.config import Settings
from chalicelib.domain import audit
from chalicelib.domain.delegation import API_TOKEN_TYP
from chalicelib.domain.federation import JWT_BEARER, JWT_TOKEN_TYPE
from chalicelib.domain.principal import Role
from chalicelib.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    RateLimited,
    ServiceUnavailable,
)
from chalicelib.observability import logger
from chalicelib.services.audit import AuditService
from chalicelib.services.auth_failures import MAX_SOURCES, audited
from chalicelib.services.call import Call, commit, iso
from chalicelib.services.gate import RequestGate
from chalicelib.services.ratelimit import FAILURE_WINDOW, RateLimiter
from chalicelib.store.agents import AgentRepository
from chalicelib.store.db import ConditionFailed, Database, StoreError
from chalicelib.store.keys import federated_key
from chalicelib.store.models import CredentialModel, RateCounterModel
from chalicelib.store.ratelimits import count_in
from chalicelib.store.reads import BatchReader, Snapshot
from chalicelib.tokens import Signer, SigningUnavailable, encode_jwt, token_fingerprint
from chalicelib.tokens.federated import unverified_identity
from chalicelib.tokens.remote_jwks import RemoteKeys

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
CLIENT_AUTH_PARAMS = ("client_secret", "client_assertion", "client_assertion_type")


class FederatedTokens:
    """Builds the gate of a federated token request and issues the API token."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        reader: BatchReader,
        limiter: RateLimiter,
        auditor: AuditService,
        signer: Callable[[], Signer],
        remote_keys: Callable[[], RemoteKeys],
        agents: AgentRepository | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._reader = reader
        self._limiter = limiter
        self._auditor = auditor
        self._signer = signer
        self._remote_keys = remote_keys
        self._agents = agents or AgentRepository()

    # -- the gate ------------------------------------------------------------------------------
    def gate(self, token: str, *, source: str, request_id: str, now: int) -> RequestGate:
        """The request's gate: the identity record the token names, the source's failure
        budget and the identity's token and failure budgets, read in one round trip."""
        named = unverified_identity(token)
        key = federated_key(named.issuer, named.subject) if named else None
        charge, failures = self._limiter.identity_charges(key.pk, now) if key else (None, None)
        by_source = self._limiter.source_failure_charge(source, now)
        issuer = self._settings.issuer
        claim = FederatedClaim(
            token=token,
            identity_key=key,
            source=source,
            request_id=request_id,
            now=now,
            audiences=(issuer, f"{issuer}/oauth/token"),
            remote_keys=self._remote_keys,
            failure_check=self._failed,
            source_check=lambda src, snapshot: self._limiter.check_source(src, snapshot, int(time.time())),
            failure_keys=[c.key for c in (by_source, failures) if c is not None],
        )
        return RequestGate(self._reader, self._limiter, claim, [charge], now)

    def _failed(self, failure: FederatedFailure, snapshot: Snapshot) -> None:
        """Count a failed federated token per source and per identity; audit it in the mapped
        tenant's log at the 1st, 10th, 100th... failure of a window; 429 past the identity's
        failure budget (a right token keeps working: only failures are counted)."""
        now = int(time.time())
        tx = self._db.transaction()
        by_source = self._limiter.source_failure_charge(failure.source, now)
        if by_source is not None:
            count_in(tx, by_source)
        item = failure.identity
        over: int | None = None
        if item is not None:
            _, by_identity = self._limiter.identity_charges(item.pk, now)
            if by_identity is not None:
                counter = snapshot.get(RateCounterModel, by_identity.key)
                seen = set(counter.sources or ()) if counter is not None else set()
                failures = by_identity.spent(snapshot) + 1
                if failures > by_identity.limit:
                    over = by_identity.retry_after(now)
                note = failure.source if failure.source not in seen and len(seen) < MAX_SOURCES else None
                count_in(tx, by_identity, source=note)
                if audited(failures):
                    self._auditor.record(
                        tx,
                        Call(None, failure.request_id, now),
                        audit.AUTH_FAILED,
                        (system_scope(item.tenant_id),),
                        detail={
                            "client_id": item.client_id,
                            "agent_id": item.agent_id,
                            "reason": "invalid_federated_token",
                            "issuer": item.issuer,
                            "failures": failures,
                            "window_start": iso(by_identity.window_end - FAILURE_WINDOW),
                            "sources": sorted(seen | {failure.source}),
                        },
                    )
        try:
            if len(tx):
                tx.commit()
        except (StoreError, ConditionFailed) as exc:
            logger.warning("could not record a failed federated token: %s", exc)
        if over is not None:
            raise RateLimited(over)

    # -- the token -----------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self._settings

    def issue(self, call: Call, gate: RequestGate, grant_type: str, client_id: str | None) -> dict[str, Any]:
        """The API token; a `client_id` sent beside the JWT (RFC 6749 §3.2.1) must be the
        mapped agent's."""
        gate.read()
        principal = gate.principal
        if client_id is not None and client_id != principal.client_id:
            raise InvalidGrant(REFUSAL)
        claim = gate.claim
        assert isinstance(claim, FederatedClaim) and claim.identity is not None
        item = claim.identity
        cred = CredentialModel(
            client_id=item.client_id,
            tenant_id=item.tenant_id,
            role=Role.AGENT.value,
            subject=item.agent_id,
            cred_version=item.cred_version,
        )
        claims = api_token_claims(
            cred,
            issuer=self._settings.issuer,
            audience=self._settings.api_audience,
            now=call.epoch,
            ttl=self._settings.access_token_ttl,
            jti=secrets.token_urlsafe(16),
        )
        try:
            token = encode_jwt(self._signer(), claims, typ=API_TOKEN_TYP)
        except SigningUnavailable as exc:
            raise ServiceUnavailable() from exc
        scope = system_scope(item.tenant_id)
        tx = self._db.transaction()
        self._agents.record_use(tx, scope, item.agent_id, call.timestamp)
        self._auditor.record(
            tx,
            Call(principal, call.request_id, call.now),
            audit.TOKEN_ISSUED,
            (scope,),
            token_sha256=token_fingerprint(token),
            detail={
                "token_type": "api_access",
                "client_id": item.client_id,
                "grant_type": grant_type,
                "issuer": item.issuer,
            },
        )
        try:
            commit(tx, InvalidGrant(REFUSAL))  # the agent or its tenant disabled meanwhile
        except InvalidClient:  # the token's jti was used before
            raise InvalidGrant(REFUSAL) from None
        return {"access_token": token, "token_type": "Bearer", "expires_in": self._settings.access_token_ttl}


def _no_client_authentication(form: Mapping[str, str]) -> None:
    if any(name in form for name in CLIENT_AUTH_PARAMS):
        raise InvalidRequest(
            "A federated agent authenticates with the issuer's JWT only (no client secret or assertion)."
        )
    if form.get("scope"):
        raise InvalidRequest("VaultGuard API tokens take no scope; request delegations instead.")


class JwtBearerGrant:
    """RFC 7523 §2.1: `assertion` is the trusted issuer's JWT; the answer an API token for the
    agent it is mapped to (§3: iss, sub, aud, exp checked against that identity)."""

    GRANT_TYPE = JWT_BEARER

    def __init__(self, tokens: Callable[[], FederatedTokens]) -> None:
        self._tokens = tokens

    def __call__(
        self, call: Call, form: Mapping[str, str], open_gate: Callable[[bool], RequestGate]
    ) -> dict[str, Any]:
        _no_client_authentication(form)
        if not form.get("assertion"):
            raise InvalidRequest("assertion is required.")
        return self._tokens().issue(call, open_gate(True), JWT_BEARER, form.get("client_id"))


def federated_exchange(
    tokens: FederatedTokens, call: Call, form: Mapping[str, str], gate: RequestGate
) -> dict[str, Any]:
    """RFC 8693 §2.1 with `subject_token_type` `urn:ietf:params:oauth:token-type:jwt`: the
    trusted issuer's JWT for a VaultGuard API token (`issued_token_type` access_token)."""
    _no_client_authentication(form)
    if form.get("actor_token") or form.get("actor_token_type"):
        raise InvalidRequest("actor_token is not supported.")
    if form.get("requested_token_type") not in (None, "", ACCESS_TOKEN_TYPE):
        raise InvalidRequest(f"requested_token_type must be {ACCESS_TOKEN_TYPE}.")
    settings = tokens.settings
    if form.get("resource") not in (None, "", settings.issuer) or form.get("audience") not in (
        None,
        "",
        settings.api_audience,
    ):
        raise InvalidRequest(
            "A federated exchange issues VaultGuard API tokens only (no resource or other audience)."
        )
    if not form.get("subject_token"):
        raise InvalidRequest("subject_token is required.")
    answer = tokens.issue(call, gate, JWT_TOKEN_TYPE, form.get("client_id"))
    return {**answer, "issued_token_type": ACCESS_TOKEN_TYPE}
