"""Client credentials (`CRED#<client_id>`), and the one tenant-less lookup: authentication.

Every credential record (platform operator, tenant admin, agent) has the same shape; the
sparse `client_id-index` maps a presented client id to its partition. The base-table item
is then read consistently, so a rotated or disabled secret stops working at once.
"""

from __future__ import annotations

from pynamodb.expressions.update import Action

from chalicelib.domain.federation import FederatedIdentity
from chalicelib.domain.principal import Role, TenantScope
from chalicelib.store.db import WriteTransaction, store_errors
from chalicelib.store.models import PLATFORM_PK, CredentialModel, tenant_pk


def _sk(client_id: str) -> str:
    return f"CRED#{client_id}"


class CredentialRepository:
    def add(
        self,
        tx: WriteTransaction,
        scope: TenantScope | None,
        *,
        client_id: str,
        role: Role,
        subject: str,
        secret_hash: str,
        now: str,
        auth_method: str | None = None,
        jwks: str | None = None,
        jwks_uri: str | None = None,
        federated: FederatedIdentity | None = None,
    ) -> CredentialModel:
        """Add a credential in the scope's tenant (None: the platform operator's partition);
        a federated agent's carries its (issuer, subject, audience), which its client id finds."""
        cred = CredentialModel(
            pk=tenant_pk(scope.tenant_id) if scope else PLATFORM_PK,
            sk=_sk(client_id),
            client_id=client_id,
            tenant_id=scope.tenant_id if scope else None,
            role=role.value,
            subject=subject,
            secret_hash=secret_hash,
            status="ACTIVE",
            cred_version=1,
            created_at=now,
            auth_method=auth_method,
            jwks=jwks,
            jwks_uri=jwks_uri,
            federated_issuer=federated.issuer if federated else None,
            federated_subject=federated.subject if federated else None,
            federated_audience=federated.audience if federated else None,
        )
        tx.create(cred)
        return cred

    @store_errors
    def get(self, scope: TenantScope, client_id: str) -> CredentialModel | None:
        try:
            return CredentialModel.get(tenant_pk(scope.tenant_id), _sk(client_id), consistent_read=True)
        except CredentialModel.DoesNotExist:
            return None

    def rotate(self, tx: WriteTransaction, cred: CredentialModel, secret_hash: str) -> None:
        tx.update(
            cred,
            [CredentialModel.secret_hash.set(secret_hash), CredentialModel.cred_version.add(1)],
            CredentialModel.cred_version == cred.cred_version,
        )

    def replace_keys(
        self,
        tx: WriteTransaction,
        cred: CredentialModel,
        jwks: str | None,
        jwks_uri: str | None = None,
        *,
        key_only: tuple[str, str] | None = None,
    ) -> None:
        """New public keys for a key-only client, registered (`jwks`) or published at
        `jwks_uri`; tokens minted before stop working, as on a secret rotation. `key_only`
        (auth method, hash matching no secret): a secret-based client moves to keys, and its
        secret stops working in the same write."""
        actions: list[Action] = [
            CredentialModel.jwks.set(jwks) if jwks else CredentialModel.jwks.remove(),
            CredentialModel.jwks_uri.set(jwks_uri) if jwks_uri else CredentialModel.jwks_uri.remove(),
            CredentialModel.cred_version.add(1),
        ]
        if key_only is not None:
            method, no_secret = key_only
            actions += [CredentialModel.auth_method.set(method), CredentialModel.secret_hash.set(no_secret)]
        tx.update(cred, actions, CredentialModel.cred_version == cred.cred_version)

    def rehash(self, tx: WriteTransaction, cred: CredentialModel, secret_hash: str) -> None:
        """Rewrite a hash of an older form (same secret, same version: tokens stay valid);
        only if the hash is still the one just checked (a rotation meanwhile wins)."""
        tx.update(
            cred,
            [CredentialModel.secret_hash.set(secret_hash)],
            CredentialModel.secret_hash == cred.secret_hash,
            versioned=False,
        )

    def disable(self, tx: WriteTransaction, cred: CredentialModel) -> None:
        tx.update(
            cred,
            [CredentialModel.status.set("DISABLED"), CredentialModel.cred_version.add(1)],
            CredentialModel.cred_version == cred.cred_version,
        )

    def disable_unread(self, tx: WriteTransaction, scope: TenantScope, client_id: str) -> None:
        """`disable` without reading the credential first (an agent's, whose own record
        guards the race): whatever its version, which moves on all the same."""
        cred = CredentialModel(pk=tenant_pk(scope.tenant_id), sk=_sk(client_id))
        tx.update(
            cred,
            [CredentialModel.status.set("DISABLED"), CredentialModel.cred_version.add(1)],
            CredentialModel.pk.exists(),
            versioned=False,
        )


class AuthenticationLookup:
    """Tenant-less reads used only to authenticate a caller (the token has no tenant yet)."""

    @store_errors
    def by_client_id(self, client_id: str) -> CredentialModel | None:
        keys = list(CredentialModel.client_id_index.query(client_id, limit=2))
        if len(keys) != 1:
            return None
        try:
            return CredentialModel.get(keys[0].pk, keys[0].sk, consistent_read=True)
        except CredentialModel.DoesNotExist:
            return None
