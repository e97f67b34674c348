"""Federated agents at the token endpoint: a trusted external issuer's JWT exchanged for a
VaultGuard API token as the agent whose public `client_id` the request sends and whose
credential is federated with that JWT's (issuer, subject).

Two ways in, one use case: the JWT bearer grant (RFC 7523 §2.1, `assertion`; `client_id` as
§3.1 allows) and token exchange (RFC 8693 §2.1, `subject_token` of type
`urn:ietf:params:oauth:token-type:jwt`, with `client_id`). Two round trips, as every
`/oauth/token` request: one batched read (the agent's credential, its tenant and the budget
counters, all in the tenant's partition but the source's counter) and one transaction (the
`token.issued` event, the agent's `last_used_at`, the budget charge, the `jti`'s single use,
and the conditions that the agent's credential and tenant are still active).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.auth.authenticator import api_token_claims
from chalicelib.auth.federated import REFUSAL, FederatedClaim, FederatedFailure, tenant_of
from chalicelib.auth.scope import system_scope
from chalicelib.config import Settings
from chalicelib.domain import audit
from chalicelib.domain.delegation import API_TOKEN_TYP
from chalicelib.domain.federation import JWT_BEARER, JWT_TOKEN_TYPE
from chalicelib.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    ServiceUnavailable,
)
from chalicelib.services.audit import AuditService
from chalicelib.services.auth_failures import FailedAuthentications
from chalicelib.services.call import Call, commit
from chalicelib.services.gate import RequestGate
from chalicelib.services.ratelimit import RateLimiter
from chalicelib.store.agents import AgentRepository
from chalicelib.store.db import Database
from chalicelib.store.reads import BatchReader, Snapshot
from chalicelib.tokens import Signer, SigningUnavailable, encode_jwt, token_fingerprint
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
        self._failures = FailedAuthentications(db, limiter, auditor)

    # -- the gate ------------------------------------------------------------------------------
    def gate(
        self, token: str, client_id: str | None, *, source: str, request_id: str, now: int
    ) -> RequestGate:
        """The request's gate: the credential `client_id` names, the source's failure budget
        and the client's token and failure budgets, read in one round trip."""
        tenant_id = tenant_of(client_id)
        named = client_id if tenant_id else None
        limiter = self._limiter
        charge = limiter.client_charge_for(tenant_id, named, write=True, now=now) if named else None
        failures = limiter.client_failure_charge(tenant_id, named, now) if named else None
        by_source = limiter.source_failure_charge(source, now)
        issuer = self._settings.issuer
        claim = FederatedClaim(
            token=token,
            client_id=named,
            source=source,
            request_id=request_id,
            now=now,
            audiences=(issuer, f"{issuer}/oauth/token"),
            remote_keys=self._remote_keys,
            failure_check=self._failed,
            source_check=lambda src, snapshot: limiter.check_source(src, snapshot, int(time.time())),
            failure_keys=[c.key for c in (by_source, failures) if c is not None],
        )
        return RequestGate(self._reader, limiter, claim, [charge], now)

    def _failed(self, failure: FederatedFailure, snapshot: Snapshot) -> None:
        """Count a failed federated token as a failed client authentication of the agent (per
        source and per agent, audited in the agent's tenant's log, 429 past its budget). A
        client id that is no federated agent's is counted per source only, as an unknown
        client is."""
        cred = failure.credential
        if cred is not None and cred.tenant_id is None:
            cred = None  # federated agents always belong to a tenant
        detail = {"agent_id": cred.subject, "issuer": cred.federated_issuer} if cred is not None else {}
        self._failures.count(
            failure.source, failure.request_id, cred, snapshot, "invalid_federated_token", detail
        )

    # -- the token -----------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self._settings

    def issue(self, call: Call, gate: RequestGate, grant_type: str) -> dict[str, Any]:
        """The API token of the agent the request's `client_id` names (checked by the read)."""
        gate.read()
        principal = gate.principal
        claim = gate.claim
        assert isinstance(claim, FederatedClaim) and claim.credential is not None
        cred = claim.credential
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
        assert principal.tenant_id is not None
        scope = system_scope(principal.tenant_id)
        tx = self._db.transaction()
        self._agents.record_use(tx, scope, principal.subject, call.timestamp)
        self._auditor.record(
            tx,
            Call(principal, call.request_id, call.now),
            audit.TOKEN_ISSUED,
            (scope,),
            token_sha256=token_fingerprint(token),
            detail={
                "token_type": "api_access",
                "client_id": cred.client_id,
                "grant_type": grant_type,
                "issuer": cred.federated_issuer,
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
    """RFC 7523 §2.1: `assertion` is the trusted issuer's JWT and `client_id` (§3.1, no client
    authentication) the agent's; the answer an API token for that agent when it is federated
    with the JWT's issuer and subject (§3: iss, sub, aud, exp checked against that identity)."""

    GRANT_TYPE = JWT_BEARER

    def __init__(self, tokens: Callable[[], FederatedTokens]) -> None:
        self._tokens = tokens

    def __call__(
        self, call: Call, form: Mapping[str, str], open_gate: Callable[[bool], RequestGate]
    ) -> dict[str, Any]:
        _no_client_authentication(form)
        if not form.get("assertion"):
            raise InvalidRequest("assertion is required.")
        return self._tokens().issue(call, open_gate(True), JWT_BEARER)


def federated_exchange(
    tokens: FederatedTokens, call: Call, form: Mapping[str, str], gate: RequestGate
) -> dict[str, Any]:
    """RFC 8693 §2.1 with `subject_token_type` `urn:ietf:params:oauth:token-type:jwt` and the
    agent's `client_id`: the trusted issuer's JWT for a VaultGuard API token (`issued_token_type`
    access_token)."""
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
    answer = tokens.issue(call, gate, JWT_TOKEN_TYPE)
    return {**answer, "issued_token_type": ACCESS_TOKEN_TYPE}
