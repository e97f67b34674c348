"""Agent records: `T#<tenant>/AGENT#<id>`."""

from __future__ import annotations

from pynamodb.expressions.update import Action

from chalicelib.domain.federation import FederatedIdentity
from chalicelib.domain.principal import TenantScope
from chalicelib.store.db import WriteTransaction, store_errors
from chalicelib.store.models import AgentModel, tenant_pk


def _sk(agent_id: str) -> str:
    return f"AGENT#{agent_id}"


class AgentRepository:
    def add(
        self,
        tx: WriteTransaction,
        scope: TenantScope,
        *,
        agent_id: str,
        name: str,
        description: str | None,
        client_id: str,
        now: str,
        auth_method: str | None = None,
        jwks_uri: str | None = None,
        federated: FederatedIdentity | None = None,
    ) -> AgentModel:
        agent = AgentModel(
            pk=tenant_pk(scope.tenant_id),
            sk=_sk(agent_id),
            agent_id=agent_id,
            name=name,
            description=description,
            client_id=client_id,
            status="ACTIVE",
            created_at=now,
            auth_method=auth_method,
            jwks_uri=jwks_uri,
            federated_issuer=federated.issuer if federated else None,
            federated_subject=federated.subject if federated else None,
            federated_audience=federated.audience if federated else None,
        )
        tx.create(agent)
        return agent

    @store_errors
    def get(self, scope: TenantScope, agent_id: str) -> AgentModel | None:
        try:
            return AgentModel.get(tenant_pk(scope.tenant_id), _sk(agent_id), consistent_read=True)
        except AgentModel.DoesNotExist:
            return None

    @store_errors
    def list_all(self, scope: TenantScope, limit: int = 1000) -> list[AgentModel]:
        return list(
            AgentModel.query(tenant_pk(scope.tenant_id), AgentModel.sk.startswith("AGENT#"), limit=limit)
        )

    def record_use(self, tx: WriteTransaction, scope: TenantScope, agent_id: str, now: str) -> None:
        """Note the agent's last access token inside the issuing transaction (no extra round
        trip); only on an existing agent, never creating a partial record."""
        agent = AgentModel(pk=tenant_pk(scope.tenant_id), sk=_sk(agent_id))
        tx.update(agent, [AgentModel.last_used_at.set(now)], AgentModel.agent_id.exists(), versioned=False)

    def mark_rotated(self, tx: WriteTransaction, agent: AgentModel, now: str) -> None:
        tx.update(agent, [AgentModel.secret_rotated_at.set(now)], AgentModel.status == "ACTIVE")

    def mark_keys_rotated(
        self,
        tx: WriteTransaction,
        agent: AgentModel,
        now: str,
        jwks_uri: str | None = None,
        auth_method: str | None = None,
    ) -> None:
        """Keys replaced: registered ones (`jwks_uri` None) or published at `jwks_uri`;
        `auth_method`: a secret-based agent moved to keys."""
        actions: list[Action] = [
            AgentModel.keys_rotated_at.set(now),
            AgentModel.jwks_uri.set(jwks_uri) if jwks_uri else AgentModel.jwks_uri.remove(),
        ]
        if auth_method is not None:
            actions.append(AgentModel.auth_method.set(auth_method))
        tx.update(agent, actions, AgentModel.status == "ACTIVE")

    def disable(self, tx: WriteTransaction, agent: AgentModel, now: str) -> None:
        tx.update(
            agent,
            [AgentModel.status.set("DISABLED"), AgentModel.disabled_at.set(now)],
            AgentModel.status == "ACTIVE",
        )
