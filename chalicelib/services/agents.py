"""The agent registry of one tenant: create, list, rotate a secret, disable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.auth.scope import own_scope
from chalicelib.auth.secrets import SecretHasher
from chalicelib.config import Settings
from chalicelib.domain import audit, ids
from chalicelib.domain.principal import Role, TenantScope
from chalicelib.errors import Conflict, NotFound
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit
from chalicelib.store.agents import AgentRepository
from chalicelib.store.credentials import CredentialRepository
from chalicelib.store.db import Database
from chalicelib.store.models import AgentModel, CredentialModel


def agent_view(agent: AgentModel) -> dict[str, Any]:
    return {
        "agent_id": agent.agent_id,
        "name": agent.name,
        "description": agent.description,
        "client_id": agent.client_id,
        "status": agent.status,
        "created_at": agent.created_at,
        "secret_rotated_at": agent.secret_rotated_at,
        "disabled_at": agent.disabled_at,
    }


class AgentService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        agents: AgentRepository,
        credentials: CredentialRepository,
        auditor: AuditService,
        revoke_agent_delegations: Callable[[Call, TenantScope, str], int],
        hasher: SecretHasher,
    ) -> None:
        self._settings = settings
        self._hasher = hasher
        self._db = db
        self._agents = agents
        self._credentials = credentials
        self._auditor = auditor
        self._revoke_agent_delegations = revoke_agent_delegations

    def create(self, call: Call, name: str, description: str | None) -> dict[str, Any]:
        assert call.principal is not None
        scope = own_scope(call.principal)
        agent_id, secret = ids.new_agent_id(), ids.new_client_secret()
        client_id = ids.new_client_id(scope.tenant_id)
        tx = self._db.transaction()
        agent = self._agents.add(
            tx,
            scope,
            agent_id=agent_id,
            name=name,
            description=description,
            client_id=client_id,
            now=call.timestamp,
        )
        self._credentials.add(
            tx,
            scope,
            client_id=client_id,
            role=Role.AGENT,
            subject=agent_id,
            secret_hash=self._hasher.hash(secret),
            now=call.timestamp,
        )
        self._auditor.record(tx, call, audit.AGENT_CREATED, (scope,), detail={"agent_id": agent_id})
        commit(tx)
        return {**agent_view(agent), "client_secret": secret}

    def list(self, call: Call) -> dict[str, Any]:
        assert call.principal is not None
        agents = self._agents.list_all(own_scope(call.principal))
        return {"agents": [agent_view(a) for a in agents]}

    def get(self, call: Call, agent_id: str) -> dict[str, Any]:
        assert call.principal is not None
        return agent_view(self._require(own_scope(call.principal), agent_id)[0])

    def rotate_secret(self, call: Call, agent_id: str) -> dict[str, Any]:
        """A new secret, shown once; the old one and tokens minted with it stop working."""
        assert call.principal is not None
        scope = own_scope(call.principal)
        agent, cred = self._require(scope, agent_id)
        if agent.status != "ACTIVE":
            raise Conflict("A disabled agent's secret cannot be rotated.")
        secret = ids.new_client_secret()
        tx = self._db.transaction()
        self._credentials.rotate(tx, cred, self._hasher.hash(secret))
        self._agents.mark_rotated(tx, agent, call.timestamp)
        self._auditor.record(tx, call, audit.AGENT_SECRET_ROTATED, (scope,), detail={"agent_id": agent_id})
        commit(tx)
        agent.secret_rotated_at = call.timestamp
        return {**agent_view(agent), "client_secret": secret}

    def disable(self, call: Call, agent_id: str) -> dict[str, Any]:
        """Disable the agent: its credentials, API tokens and live delegations stop at once."""
        assert call.principal is not None
        scope = own_scope(call.principal)
        agent, cred = self._require(scope, agent_id)
        if agent.status == "ACTIVE":
            tx = self._db.transaction()
            self._agents.disable(tx, agent, call.timestamp)
            self._credentials.disable(tx, cred)
            self._auditor.record(tx, call, audit.AGENT_DISABLED, (scope,), detail={"agent_id": agent_id})
            commit(tx)
            agent.status, agent.disabled_at = "DISABLED", call.timestamp
        revoked = self._revoke_agent_delegations(call, scope, agent_id)
        return {**agent_view(agent), "revoked_delegations": revoked}

    def _require(self, scope: TenantScope, agent_id: str) -> tuple[AgentModel, CredentialModel]:
        if not ids.AGENT_ID.fullmatch(agent_id):
            raise NotFound()
        agent = self._agents.get(scope, agent_id)
        cred = self._credentials.get(scope, agent.client_id) if agent else None
        if agent is None or cred is None:
            raise NotFound()
        return agent, cred
