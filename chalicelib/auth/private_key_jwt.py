"""`private_key_jwt` client authentication (OpenID Connect Core §9, RFC 7523 §2.2): the
client proves itself with a JWT signed by a key it registered, instead of a secret.

The claim names the same items as a client secret's (credential, tenant, failure budgets),
so it costs no read of its own; the assertion is checked against the credential's keys when
the request's read brings them. Its `jti` is recorded in the transaction the request commits
anyway (`chalicelib.store.assertions`), which a replay aborts: no round trip of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from chalicelib.auth.authenticator import ClientSecretClaim, FailedAttempt, principal_of
from chalicelib.domain.principal import Principal
from chalicelib.errors import InvalidClient, ServiceUnavailable
from chalicelib.observability import logger
from chalicelib.services.ratelimit import defer_write
from chalicelib.store.assertions import AssertionReplayRepository
from chalicelib.store.models import CredentialModel
from chalicelib.store.reads import Snapshot
from chalicelib.tokens.remote_jwks import KeysUnavailable, RemoteKeys
from chalicelib.tokens.rfc7523 import PRIVATE_KEY_JWT, AssertionRejected, registered_keys, verify_assertion


@dataclass
class PrivateKeyJwtClaim(ClientSecretClaim):
    """A client assertion for `client_id`; `secret` stays empty (a key-only client has none,
    and a secret-based client cannot authenticate this way: no downgrade either way)."""

    assertion: str = ""
    audiences: tuple[str, ...] = ()
    now: int = 0
    replays: AssertionReplayRepository = field(default_factory=AssertionReplayRepository)
    defer: Callable[..., None] = defer_write
    remote_keys: Callable[[], RemoteKeys] | None = None  # for keys published at a jwks_uri

    def confirm(self, snapshot: Snapshot) -> Principal:
        self.source_check(self.source, snapshot)
        cred = snapshot.get(CredentialModel, self.cred_key)
        if cred is None or cred.auth_method != PRIVATE_KEY_JWT or not (cred.jwks or cred.jwks_uri):
            self._fail(cred, snapshot, "no key-registered client")
        assert cred is not None
        if cred.jwks:
            keys = registered_keys(cred.jwks)
        elif self.remote_keys is None:
            raise ServiceUnavailable()
        else:
            keys = self.remote_keys().source(str(cred.jwks_uri))
        try:
            verified = verify_assertion(
                self.assertion, keys, client_id=self.client_id, audiences=self.audiences, now=self.now
            )
        except AssertionRejected as exc:
            self._fail(cred, snapshot, exc.reason)
        except KeysUnavailable as exc:  # we could not check it: not the client's failure
            logger.warning("jwks_uri of %s unavailable: %s", self.client_id, exc.reason)
            raise ServiceUnavailable() from None
        if cred.status != "ACTIVE" or not self._tenant_active(snapshot):
            raise InvalidClient()
        pk, client_id, replays, now = cred.pk, cred.client_id, self.replays, self.now
        self.defer(lambda tx: replays.record(tx, pk, client_id, verified.jti, verified.exp, now))
        self.credential = cred
        return principal_of(cred)

    def _tenant_active(self, snapshot: Snapshot) -> bool:
        from chalicelib.auth.authenticator import _active_tenant

        return _active_tenant(snapshot, self.tenant_key)

    def _fail(self, cred: CredentialModel | None, snapshot: Snapshot, reason: str) -> NoReturn:
        logger.info("client assertion rejected: %s", reason)
        self.failure_check(FailedAttempt(self.client_id, self.source, cred, self.request_id), snapshot)
        raise InvalidClient()
