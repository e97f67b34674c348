"""Federated agent authentication: the caller presents a trusted external issuer's JWT
(`chalicelib/tokens/federated.py`) instead of a VaultGuard credential.

The tenant comes only from the identity record that the token's (issuer, subject) leads to
(`chalicelib/store/federation.py`), never from the request. The claim names that one item
(with the failure counters), so the request's batched read brings it; the JWT is then
checked against that issuer's keys. The agent's credential and its tenant are not read:
their state is required by conditions in the transaction that issues the token (status
ACTIVE, the credential at the version the record was bound to), together with the `jti`'s
single use, so a disabled agent or tenant aborts it exactly as an unknown identity is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from chalicelib.domain.principal import Principal, Role
from chalicelib.errors import InvalidGrant, ServiceUnavailable
from chalicelib.observability import logger
from chalicelib.services.ratelimit import defer_write
from chalicelib.store.assertions import AssertionReplayRepository
from chalicelib.store.db import WriteTransaction
from chalicelib.store.keys import TENANT_SK, credential_key
from chalicelib.store.models import CredentialModel, FederatedIdentityModel, TenantModel, tenant_pk
from chalicelib.store.reads import Key, Snapshot
from chalicelib.tokens.federated import verify_federated
from chalicelib.tokens.remote_jwks import KeysUnavailable, RemoteKeys
from chalicelib.tokens.rfc7523 import AssertionRejected

FEDERATED_STATE_LABEL = "federated_agent_state"
REFUSAL = "The token is not from a trusted issuer for a registered agent."


@dataclass(frozen=True)
class FederatedFailure:
    """A federated token that did not authenticate: for the failure budgets and audit."""

    source: str
    identity: FederatedIdentityModel | None  # the record it leads to, when there is one
    reason: str
    request_id: str


@dataclass
class FederatedClaim:
    token: str
    identity_key: Key | None  # None: the token names no issuer and subject
    source: str
    request_id: str
    now: int
    audiences: tuple[str, ...]  # VaultGuard's issuer and token endpoint
    remote_keys: Callable[[], RemoteKeys]
    failure_check: Callable[[FederatedFailure, Snapshot], None]
    source_check: Callable[[str, Snapshot], None]
    failure_keys: list[Key] = field(default_factory=list)
    replays: AssertionReplayRepository = field(default_factory=AssertionReplayRepository)
    defer: Callable[..., None] = defer_write
    identity: FederatedIdentityModel | None = None

    @property
    def tenant_id(self) -> str | None:
        return self.identity.tenant_id if self.identity else None  # known after the read only

    def keys(self) -> list[Key]:
        return [*self.failure_keys, *([self.identity_key] if self.identity_key else [])]

    def confirm(self, snapshot: Snapshot) -> Principal:
        self.source_check(self.source, snapshot)
        item = snapshot.get(FederatedIdentityModel, self.identity_key)
        if item is None:
            self._fail(None, snapshot, "no agent mapped to this issuer and subject")
        assert item is not None
        audiences = (item.audience,) if item.audience else self.audiences
        try:
            remote = self.remote_keys()
            keys = remote.source(remote.jwks_uri(item.issuer))
            verified = verify_federated(
                self.token, keys, issuer=item.issuer, subject=item.subject, audiences=audiences, now=self.now
            )
        except AssertionRejected as exc:
            self._fail(item, snapshot, exc.reason)
        except KeysUnavailable as exc:  # we could not check it: not the caller's failure
            logger.warning("keys of trusted issuer %s unavailable: %s", item.issuer, exc.reason)
            raise ServiceUnavailable() from None
        self.identity = item
        jti, exp, now, replays = verified.jti, verified.exp, self.now, self.replays

        def conditions(tx: WriteTransaction) -> None:
            cred = credential_key(item.tenant_id, item.client_id)
            tx.check(
                CredentialModel(pk=cred.pk, sk=cred.sk),
                (CredentialModel.status == "ACTIVE") & (CredentialModel.cred_version == item.cred_version),
                label=FEDERATED_STATE_LABEL,
            )
            tx.check(
                TenantModel(pk=tenant_pk(item.tenant_id), sk=TENANT_SK),
                TenantModel.status == "ACTIVE",
                label=FEDERATED_STATE_LABEL,
            )
            if jti is not None:  # single use until it expires (RFC 7523 §3 rule 7)
                replays.record(tx, tenant_pk(item.tenant_id), item.client_id, f"fed:{jti}", exp, now)

        self.defer(conditions)
        return Principal(
            role=Role.AGENT, subject=item.agent_id, client_id=item.client_id, tenant_id=item.tenant_id
        )

    def _fail(self, item: FederatedIdentityModel | None, snapshot: Snapshot, reason: str) -> NoReturn:
        logger.info("federated token rejected: %s", reason)
        self.failure_check(FederatedFailure(self.source, item, reason, self.request_id), snapshot)
        raise InvalidGrant(REFUSAL)
