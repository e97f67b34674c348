"""Federated agent identities: `FED#<sha256(issuer, subject)>` / `AGENT` names the one agent
(tenant, agent id, client id) that an external issuer's subject is.

Written in the tenant's own agent-creation transaction (the scope names the tenant), read
without a tenant only by the token endpoint's federated grants (`FederatedClaim`), which is
authentication: the presented JWT names its issuer and subject, not a tenant.
"""

from __future__ import annotations

from chalicelib.domain.principal import TenantScope
from chalicelib.store.db import WriteTransaction
from chalicelib.store.keys import federated_key
from chalicelib.store.models import FederatedIdentityModel


class FederationRepository:
    def bind(
        self,
        tx: WriteTransaction,
        scope: TenantScope,
        *,
        issuer: str,
        subject: str,
        audience: str | None,
        agent_id: str,
        client_id: str,
        now: str,
    ) -> None:
        """Map (issuer, subject) to the scope's agent; the transaction fails when any agent
        of any tenant has it already."""
        key = federated_key(issuer, subject)
        item = FederatedIdentityModel(
            pk=key.pk,
            sk=key.sk,
            issuer=issuer,
            subject=subject,
            audience=audience,
            tenant_id=scope.tenant_id,
            agent_id=agent_id,
            client_id=client_id,
            cred_version=1,
            created_at=now,
        )
        tx.put(item, FederatedIdentityModel.pk.does_not_exist())

    def release(
        self, tx: WriteTransaction, scope: TenantScope, issuer: str, subject: str, agent_id: str
    ) -> None:
        """Forget the mapping of the scope's agent (when it is disabled), never another's."""
        key = federated_key(issuer, subject)
        item = FederatedIdentityModel(pk=key.pk, sk=key.sk)
        mine = (FederatedIdentityModel.tenant_id == scope.tenant_id) & (
            FederatedIdentityModel.agent_id == agent_id
        )
        tx.delete(item, FederatedIdentityModel.pk.does_not_exist() | mine)
