"""Federated agent authentication: the caller presents a trusted external issuer's JWT
(`chalicelib/tokens/federated.py`) instead of a VaultGuard credential, and names the agent by
its public `client_id` without authenticating it (RFC 7523 §3.1, RFC 8693 §2.1; the JWT is
the proof).

The client id names its tenant, so the request reads that agent's credential (with its
tenant and the failure counters) in its one batched read, like client authentication; the
credential holds the federated (issuer, subject, audience), and the JWT must be that issuer's
about that subject. Nothing is global: the same (issuer, subject) may be federated with
agents of several tenants, each reached only by its own client id, and no registration or
refusal tells one tenant about another's. A missing or unknown client id, a client that is not
federated with the token's (issuer, subject), a bad JWT, a disabled agent or tenant: one
`invalid_grant`. The credential's and tenant's state are required again, with the `jti`'s
single use, by conditions in the transaction that issues the token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from chalicelib.domain import ids
from chalicelib.domain.federation import FEDERATED
from chalicelib.domain.principal import Principal, Role
from chalicelib.errors import InvalidGrant, ServiceUnavailable
from chalicelib.observability import logger
from chalicelib.services.ratelimit import defer_write
from chalicelib.store.assertions import AssertionReplayRepository
from chalicelib.store.db import WriteTransaction
from chalicelib.store.keys import TENANT_SK, credential_key, tenant_key
from chalicelib.store.models import CredentialModel, TenantModel, tenant_pk
from chalicelib.store.reads import Key, Snapshot
from chalicelib.tokens.federated import verify_federated
from chalicelib.tokens.remote_jwks import KeysUnavailable, RemoteKeys
from chalicelib.tokens.rfc7523 import AssertionRejected

FEDERATED_STATE_LABEL = "federated_agent_state"
REFUSAL = "The token is not from a trusted issuer for a registered agent."


def tenant_of(client_id: str | None) -> str | None:
    """The tenant a federated agent's client id names; None for anything else (no client id,
    an id of the older form or the platform's: no federated agent has one)."""
    home = ids.tenant_of_client_id(client_id) if client_id else None
    return home[0] if home else None


@dataclass(frozen=True)
class FederatedFailure:
    """A federated token that did not authenticate: for the failure budgets and audit."""

    source: str
    credential: CredentialModel | None  # the federated agent's credential, when there is one
    reason: str
    request_id: str


@dataclass
class FederatedClaim:
    token: str
    client_id: str | None  # as sent; the tenant is the one it names
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
    credential: CredentialModel | None = None

    @property
    def tenant_id(self) -> str | None:
        return tenant_of(self.client_id)

    @property
    def cred_key(self) -> Key | None:
        tenant_id = self.tenant_id
        return credential_key(tenant_id, self.client_id) if tenant_id and self.client_id else None

    def keys(self) -> list[Key]:
        tenant_id, cred = self.tenant_id, self.cred_key
        return [*self.failure_keys, *([cred, tenant_key(tenant_id)] if cred and tenant_id else [])]

    def confirm(self, snapshot: Snapshot) -> Principal:
        self.source_check(self.source, snapshot)
        key, tenant_id = self.cred_key, self.tenant_id
        cred = snapshot.get(CredentialModel, key) if key else None
        federated = cred is not None and cred.auth_method == FEDERATED
        if not federated or not (cred and cred.federated_issuer and cred.federated_subject):
            self._fail(None, snapshot, "no federated agent with this client_id")
        assert key and tenant_id and cred and cred.federated_issuer and cred.federated_subject
        issuer, subject = cred.federated_issuer, cred.federated_subject
        audiences = (cred.federated_audience,) if cred.federated_audience else self.audiences
        try:
            remote = self.remote_keys()
            keys = remote.source(remote.jwks_uri(issuer))
            verified = verify_federated(
                self.token, keys, issuer=issuer, subject=subject, audiences=audiences, now=self.now
            )
        except AssertionRejected as exc:
            self._fail(cred, snapshot, exc.reason)
        except KeysUnavailable as exc:  # we could not check it: not the caller's failure
            logger.warning("keys of trusted issuer %s unavailable: %s", issuer, exc.reason)
            raise ServiceUnavailable() from None
        tenant = snapshot.get(TenantModel, tenant_key(tenant_id))
        if cred.status != "ACTIVE" or tenant is None or tenant.status != "ACTIVE":
            raise InvalidGrant(REFUSAL)  # as an unknown client: nothing said about its state
        self.credential = cred
        client_id, version = cred.client_id, cred.cred_version
        jti, exp, now, replays = verified.jti, verified.exp, self.now, self.replays

        def conditions(tx: WriteTransaction) -> None:
            tx.check(
                CredentialModel(pk=key.pk, sk=key.sk),
                (CredentialModel.status == "ACTIVE") & (CredentialModel.cred_version == version),
                label=FEDERATED_STATE_LABEL,
            )
            tx.check(
                TenantModel(pk=tenant_pk(tenant_id), sk=TENANT_SK),
                TenantModel.status == "ACTIVE",
                label=FEDERATED_STATE_LABEL,
            )
            if jti is not None:  # single use until it expires (RFC 7523 §3 rule 7)
                replays.record(tx, tenant_pk(tenant_id), client_id, f"fed:{jti}", exp, now)

        self.defer(conditions)
        return Principal(role=Role.AGENT, subject=cred.subject, client_id=client_id, tenant_id=tenant_id)

    def _fail(self, cred: CredentialModel | None, snapshot: Snapshot, reason: str) -> NoReturn:
        logger.info("federated token rejected: %s", reason)
        self.failure_check(FederatedFailure(self.source, cred, reason, self.request_id), snapshot)
        raise InvalidGrant(REFUSAL)
