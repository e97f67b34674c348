"""The agent registry of one tenant: create, list, rotate a secret, disable."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.auth.scope import own_scope
from chalicelib.auth.secrets import SecretHasher
from chalicelib.config import Settings
from chalicelib.domain import audit, ids
from chalicelib.domain.federation import FEDERATED, FederatedIdentity, url_problem
from chalicelib.domain.principal import Role, TenantScope
from chalicelib.errors import Conflict, InvalidRequest, NotFound
from chalicelib.observability import logger
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit
from chalicelib.store.agents import AgentRepository
from chalicelib.store.credentials import CredentialRepository
from chalicelib.store.db import Database, WriteTransaction
from chalicelib.store.keys import agent_key
from chalicelib.store.models import AgentModel, CredentialModel
from chalicelib.store.reads import BatchReader
from chalicelib.tokens.remote_jwks import KeysUnavailable, RemoteKeys
from chalicelib.tokens.rfc7523 import PRIVATE_KEY_JWT

NO_SECRET = "none"  # a key-only agent's credential: matches no secret (SecretHasher.verify)


def agent_view(agent: AgentModel) -> dict[str, Any]:
    federated = _federated_of(agent)
    method = "none" if federated else agent.auth_method or "client_secret_basic"
    return {
        "agent_id": agent.agent_id,
        "name": agent.name,
        "description": agent.description,
        "client_id": agent.client_id,
        "status": agent.status,
        "created_at": agent.created_at,
        "secret_rotated_at": agent.secret_rotated_at,
        "disabled_at": agent.disabled_at,
        "last_used_at": agent.last_used_at,
        "token_endpoint_auth_method": method,
        "keys_rotated_at": agent.keys_rotated_at,
        "jwks_uri": agent.jwks_uri,
        "federated": federated.view() if federated else None,
    }


def _federated_of(agent: AgentModel) -> FederatedIdentity | None:
    if agent.auth_method != FEDERATED or not agent.federated_issuer or not agent.federated_subject:
        return None
    return FederatedIdentity(agent.federated_issuer, agent.federated_subject, agent.federated_audience)


class AgentService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        agents: AgentRepository,
        credentials: CredentialRepository,
        auditor: AuditService,
        revoke_agent_delegations: Callable[[Call, TenantScope, str, WriteTransaction], int],
        hasher: SecretHasher,
        reader: BatchReader,
        remote_keys: Callable[[], RemoteKeys] | None = None,
    ) -> None:
        self._reader = reader
        self._remote_keys = remote_keys
        self._settings = settings
        self._hasher = hasher
        self._db = db
        self._agents = agents
        self._credentials = credentials
        self._auditor = auditor
        self._revoke_agent_delegations = revoke_agent_delegations

    def create(
        self,
        call: Call,
        name: str,
        description: str | None,
        jwks: list[dict[str, str]] | None = None,
        *,
        jwks_uri: str | None = None,
        federated: FederatedIdentity | None = None,
    ) -> dict[str, Any]:
        """An agent with a client secret (shown once); or key-only (private_key_jwt) with `jwks`
        (public keys already checked by `parse_jwks`) or keys published at `jwks_uri`; or
        federated: mapped from one subject of a trusted external issuer, no secret or keys."""
        assert call.principal is not None
        if sum(x is not None for x in (jwks, jwks_uri, federated)) > 1:
            raise InvalidRequest("Give at most one of jwks, jwks_uri and federated.")
        if jwks_uri is not None:
            self._check_jwks_uri(jwks_uri)
        if federated is not None:
            self._check_issuer(federated)
        scope = own_scope(call.principal)
        agent_id = ids.new_agent_id()
        keyed = bool(jwks or jwks_uri)
        secret = None if keyed or federated else ids.new_client_secret()
        client_id = ids.new_client_id(scope.tenant_id, agent_id)
        method = PRIVATE_KEY_JWT if keyed else FEDERATED if federated else None
        tx = self._db.transaction()
        agent = self._agents.add(
            tx,
            scope,
            agent_id=agent_id,
            name=name,
            description=description,
            client_id=client_id,
            now=call.timestamp,
            auth_method=method,
            jwks_uri=jwks_uri,
            federated=federated,
        )
        self._credentials.add(
            tx,
            scope,
            client_id=client_id,
            role=Role.AGENT,
            subject=agent_id,
            secret_hash=self._hasher.hash(secret) if secret else NO_SECRET,
            now=call.timestamp,
            auth_method=method,
            jwks=json.dumps(jwks) if jwks else None,
            jwks_uri=jwks_uri,
            federated=federated,
        )
        detail: dict[str, Any] = {"agent_id": agent_id}
        if method:
            detail["token_endpoint_auth_method"] = "none" if federated else method
        if jwks_uri:
            detail["jwks_uri"] = jwks_uri
        if federated is not None:
            detail["federated"] = federated.view()
        self._auditor.record(tx, call, audit.AGENT_CREATED, (scope,), detail=detail)
        commit(tx)
        return {**agent_view(agent), **({"client_secret": secret} if secret else {})}

    def _check_jwks_uri(self, url: str) -> None:
        """https outside the local stage; published keys fetched now (and cached), so that a
        wrong URL is told to the admin rather than to the agent's first token request."""
        problem = url_problem(url, local=self._settings.stage == "local")
        if problem:
            raise InvalidRequest(f"jwks_uri {problem}.")
        if self._remote_keys is None:
            return
        try:
            keys = self._remote_keys().keys(url)
        except KeysUnavailable as exc:
            logger.info("jwks_uri %s refused: %s", url, exc.reason)
            raise InvalidRequest("jwks_uri could not be fetched as a JWK set.") from None
        if not keys:
            raise InvalidRequest(
                "jwks_uri holds no usable public signing key (RS256 >= 2048 bits, ES256 or EdDSA)."
            )

    def _check_issuer(self, identity: FederatedIdentity) -> None:
        """The issuer's URL rule, and its discovery document found now (and cached)."""
        problem = url_problem(identity.issuer, local=self._settings.stage == "local")
        if problem:
            raise InvalidRequest(f"federated.issuer {problem}.")
        if self._remote_keys is None:
            return
        try:
            remote = self._remote_keys()
            keys = remote.keys(remote.jwks_uri(identity.issuer))
        except KeysUnavailable as exc:
            logger.info("issuer %s refused: %s", identity.issuer, exc.reason)
            raise InvalidRequest(
                "federated.issuer: its discovery document (/.well-known/openid-configuration, with "
                "this exact issuer) or its JWK set could not be fetched."
            ) from None
        if not keys:
            raise InvalidRequest("federated.issuer publishes no usable public signing key.")

    def replace_keys(
        self, call: Call, agent_id: str, jwks: list[dict[str, str]] | None, jwks_uri: str | None = None
    ) -> dict[str, Any]:
        """New public keys for a key-only agent, registered (`jwks`) or published (`jwks_uri`);
        assertions signed by the old ones and access tokens minted with them stop working at
        once (`agent.keys_rotated`). A secret-based agent moves to keys: its client secret and
        the tokens minted with it stop working in the same write (`secret_disabled` in the
        event); until then it keeps working with its secret."""
        assert call.principal is not None
        if (jwks is None) == (jwks_uri is None):
            raise InvalidRequest("Give exactly one of jwks and jwks_uri.")
        scope = own_scope(call.principal)
        agent, cred = self._require(call, agent_id)
        if agent.status != "ACTIVE":
            raise Conflict("A disabled agent's keys cannot be replaced.")
        if cred.auth_method == FEDERATED:
            raise Conflict("A federated agent has no keys of its own; its issuer's keys are used.")
        moving = cred.auth_method is None  # a client secret until now
        if jwks_uri is not None:
            self._check_jwks_uri(jwks_uri)
        tx = self._db.transaction()
        key_only = (PRIVATE_KEY_JWT, NO_SECRET) if moving else None
        registered = json.dumps(jwks) if jwks else None
        self._credentials.replace_keys(tx, cred, registered, jwks_uri, key_only=key_only)
        self._agents.mark_keys_rotated(tx, agent, call.timestamp, jwks_uri, key_only[0] if key_only else None)
        detail: dict[str, Any] = {"agent_id": agent_id}
        if moving:
            detail.update(secret_disabled=True, token_endpoint_auth_method=PRIVATE_KEY_JWT)
        if jwks is not None:
            detail["kids"] = [key.get("kid") for key in jwks]
        else:
            detail["jwks_uri"] = jwks_uri
        self._auditor.record(tx, call, audit.AGENT_KEYS_ROTATED, (scope,), detail=detail)
        commit(tx)
        agent.keys_rotated_at, agent.jwks_uri = call.timestamp, jwks_uri
        agent.auth_method = PRIVATE_KEY_JWT
        return agent_view(agent)

    def list(self, call: Call) -> dict[str, Any]:
        assert call.principal is not None
        agents = self._agents.list_all(own_scope(call.principal))
        return {"agents": [agent_view(a) for a in agents]}

    def get(self, call: Call, agent_id: str) -> dict[str, Any]:
        return agent_view(self._require(call, agent_id)[0])

    def rotate_secret(self, call: Call, agent_id: str) -> dict[str, Any]:
        """A new secret, shown once; the old one and tokens minted with it stop working."""
        assert call.principal is not None
        scope = own_scope(call.principal)
        agent, cred = self._require(call, agent_id)
        if agent.status != "ACTIVE":
            raise Conflict("A disabled agent's secret cannot be rotated.")
        if cred.auth_method == PRIVATE_KEY_JWT:
            raise Conflict("A key-only agent has no secret; replace its keys instead.")
        if cred.auth_method == FEDERATED:
            raise Conflict("A federated agent has no secret; it presents its issuer's tokens.")
        secret = ids.new_client_secret()
        tx = self._db.transaction()
        self._credentials.rotate(tx, cred, self._hasher.hash(secret))
        self._agents.mark_rotated(tx, agent, call.timestamp)
        self._auditor.record(tx, call, audit.AGENT_SECRET_ROTATED, (scope,), detail={"agent_id": agent_id})
        commit(tx)
        agent.secret_rotated_at = call.timestamp
        return {**agent_view(agent), "client_secret": secret}

    def disable(self, call: Call, agent_id: str) -> dict[str, Any]:
        """Disable the agent: its credentials, API tokens and live delegations stop at once.
        Three round trips while its live delegations fit in one transaction: the agent (with
        the caller's credential), the tenant's delegation references, one transaction."""
        assert call.principal is not None
        scope = own_scope(call.principal)
        agent = self._read_agent(call, agent_id)
        tx = self._db.transaction()
        active = agent.status == "ACTIVE"
        if active:
            self._agents.disable(tx, agent, call.timestamp)
            self._credentials.disable_unread(tx, scope, agent.client_id)
            self._auditor.record(tx, call, audit.AGENT_DISABLED, (scope,), detail={"agent_id": agent_id})
        revoked = self._revoke_agent_delegations(call, scope, agent_id, tx)  # commits `tx`
        if active:
            agent.status, agent.disabled_at = "DISABLED", call.timestamp
        return {**agent_view(agent), "revoked_delegations": revoked}

    def _read_agent(self, call: Call, agent_id: str) -> AgentModel:
        """The agent, read with the caller's credential (the request's first read)."""
        assert call.principal is not None
        tenant_id = own_scope(call.principal).tenant_id
        key = agent_key(tenant_id, agent_id) if ids.AGENT_ID.fullmatch(agent_id) else None
        agent = call.read(self._reader, [key] if key else []).get(AgentModel, key)
        if agent is None:
            raise NotFound()
        return agent

    def _require(self, call: Call, agent_id: str) -> tuple[AgentModel, CredentialModel]:
        assert call.principal is not None
        agent = self._read_agent(call, agent_id)
        cred = self._credentials.get(own_scope(call.principal), agent.client_id)
        if cred is None:
            raise NotFound()
        return agent, cred
