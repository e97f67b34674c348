"""The token vault's use cases for admins: which providers the tenant can use (and its own
OAuth client for one), starting a connection, and reading, changing and deleting
connections. The browser's return from the provider is `services/vault_callback.py`.

Round trips: every request reads what it needs with the caller's credential in one batch
(the tenant's provider settings, the connection, the agents it names), then commits one
transaction with its audit event. Provider calls (discovery, revocation) happen between.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from chalicelib.auth.oidc import new_pkce_pair
from chalicelib.auth.scope import own_scope
from chalicelib.auth.secrets import SecretHasher
from chalicelib.config import Settings
from chalicelib.crypto import DecryptionFailed, EncryptionUnavailable, Encryptor
from chalicelib.domain import audit
from chalicelib.domain import vault as rules
from chalicelib.domain.principal import TenantScope
from chalicelib.domain.vault import Reason, Status
from chalicelib.errors import InvalidRequest, NotFound, ServiceUnavailable
from chalicelib.observability import logger
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit, iso
from chalicelib.store.connections import ConnectionRepository, connection_key, provider_key
from chalicelib.store.db import Database
from chalicelib.store.keys import agent_key
from chalicelib.store.models import AgentModel, ConnectionModel, VaultProviderModel
from chalicelib.store.reads import BatchReader, Key, Snapshot
from chalicelib.vault import auth0, providers
from chalicelib.vault.client import (
    RESERVED_PARAMS,
    Endpoints,
    OAuthClient,
    ProviderClient,
    ProviderError,
    ProviderTransient,
)

CALLBACK_PATH = "/vault/callback"


class InvalidScope(InvalidRequest):
    error = "invalid_scope"
    description = "A requested scope is not offered by the provider."


def encrypt(encryptor: Encryptor, plaintext: str, context: dict[str, str]) -> str:
    try:
        return encryptor.encrypt(plaintext.encode(), context)
    except EncryptionUnavailable as exc:
        raise ServiceUnavailable() from exc


def decrypt(encryptor: Encryptor, blob: str, context: dict[str, str]) -> str:
    try:
        return encryptor.decrypt(blob, context).decode()
    except (EncryptionUnavailable, DecryptionFailed) as exc:
        raise ServiceUnavailable() from exc


def connection_view(c: ConnectionModel, now: float | None = None) -> dict[str, Any]:
    """What an admin sees of a connection: never a token, a ciphertext or a client secret.
    A connect abandoned at the provider shows as `failed` (`connect_expired`) once its state
    has expired, whatever the stored record still says."""
    requested = list(c.requested_scopes or [])
    granted = list(c.granted_scopes or [])
    started = datetime.fromisoformat(c.created_at).timestamp()
    status, reason = rules.shown_status(
        c.status, c.status_reason, started, time.time() if now is None else now
    )
    connected = status not in (Status.PENDING, Status.FAILED, Status.SUPERSEDED)
    account = {"sub": c.account_sub, "email": c.account_email} if c.account_sub else None
    return {
        "connection_id": c.connection_id,
        "provider": c.provider,
        "label": c.label,
        "status": status,
        "status_reason": reason,
        "client": c.client_source,
        "provider_account": account,
        "requested_scopes": requested,
        "granted_scopes": granted,
        "missing_scopes": rules.missing_scopes(requested, granted) if connected else [],
        "allowed_scopes": list(c.allowed_scopes or []),
        "agent_ids": list(c.agent_ids or []),
        "created_at": c.created_at,
        "created_by": c.created_by,
        "connected_at": c.connected_at,
        "connected_by": c.connected_by,
        "updated_at": c.updated_at,
        "last_refresh_at": c.last_refresh_at,
        "last_used_at": c.last_used_at,
        "superseded_by": c.superseded_by,
        "deleted_at": c.deleted_at,
    }


class VaultSupport:
    """What the admin use cases and the callback share: the tenant's provider settings,
    turned into a usable client, and the provider's endpoints."""

    def __init__(
        self, settings: Settings, encryptor: Encryptor, provider_client: Callable[[], ProviderClient]
    ) -> None:
        self.settings = settings
        self.encryptor = encryptor
        self._provider_client = provider_client

    @property
    def http(self) -> ProviderClient:
        return self._provider_client()

    def tenant_provider(
        self, scope: TenantScope, item: VaultProviderModel | None
    ) -> providers.TenantProvider | None:
        if item is None:
            return None
        secret = decrypt(
            self.encryptor,
            item.client_secret_ciphertext,
            rules.client_secret_context(scope.tenant_id, item.provider),
        )
        return providers.TenantProvider(
            client_id=item.client_id,
            client_secret=secret,
            issuer=item.issuer,
            authorization_endpoint=item.authorization_endpoint,
            token_endpoint=item.token_endpoint,
            revocation_endpoint=item.revocation_endpoint,
            scopes=tuple(item.scopes or ()),
            authorize_params=dict(item.authorize_params.as_dict() if item.authorize_params else {}),
        )

    def client_for(
        self, scope: TenantScope, provider: str, source: str, client_id: str, item: VaultProviderModel | None
    ) -> OAuthClient | None:
        """The OAuth client a connection was made with, if it is still the one configured."""
        if source == "tenant":
            own = self.tenant_provider(scope, item)
            return (
                OAuthClient(own.client_id, own.client_secret, post_credentials=provider == providers.AUTH0)
                if own and own.client_id == client_id
                else None
            )
        platform = providers.platform_client(self.settings, provider)
        return platform if platform is not None and platform.client_id == client_id else None


class VaultService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        connections: ConnectionRepository,
        reader: BatchReader,
        auditor: AuditService,
        hasher: SecretHasher,
        support: VaultSupport,
    ) -> None:
        self._settings = settings
        self._db = db
        self._connections = connections
        self._reader = reader
        self._auditor = auditor
        self._hasher = hasher
        self._support = support

    @property
    def redirect_uri(self) -> str:
        return self._settings.public_url + CALLBACK_PATH

    # -- providers -------------------------------------------------------------------------------
    def list_providers(self, call: Call) -> dict[str, Any]:
        scope = self._scope(call)
        keys = {name: provider_key(scope.tenant_id, name) for name in providers.PROVIDERS}
        snapshot = call.read(self._reader, keys.values())
        out = []
        for name, key in keys.items():
            item = snapshot.get(VaultProviderModel, key)
            stored = {"scopes": list(item.scopes or [])} if item is not None else None
            view = providers.offered(self._settings, name, stored)
            if view is not None:
                view["client_id"] = item.client_id if item is not None else None
                out.append(view)
        return {"providers": out}

    def put_provider(self, call: Call, name: str, body: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Set the tenant's own OAuth client (and server, for oidc/oauth2) for a provider."""
        scope = self._scope(call)
        fields = providers_settings(self._settings, name, body)
        key = provider_key(scope.tenant_id, name)
        existing = call.read(self._reader, [key]).get(VaultProviderModel, key)
        blob = encrypt(
            self._support.encryptor, body["client_secret"], rules.client_secret_context(scope.tenant_id, name)
        )
        tx = self._db.transaction()
        item = self._connections.put_provider(
            tx,
            scope,
            provider=name,
            client_secret_ciphertext=blob,
            created_at=existing.created_at if existing is not None else call.timestamp,
            updated_at=call.timestamp,
            **fields,
        )
        detail = {"provider": name, "client_id": item.client_id, "replaced": existing is not None}
        self._auditor.record(tx, call, audit.VAULT_PROVIDER_CONFIGURED, (scope,), detail=detail)
        commit(tx)
        return existing is None, provider_view(item)

    # -- connect ---------------------------------------------------------------------------------
    def connect(
        self,
        call: Call,
        provider: str,
        scopes: Sequence[str] | None,
        label: str | None,
        agent_ids: Sequence[str],
    ) -> dict[str, Any]:
        """A pending connection and the provider's authorization URL (code + PKCE S256,
        state single use for 10 minutes, kept server-side with what the callback checks)."""
        scope = self._scope(call)
        tenant_id = scope.tenant_id
        if provider not in providers.PROVIDERS:
            raise InvalidRequest(f"provider must be one of {', '.join(providers.PROVIDERS)}.")
        pkey = provider_key(tenant_id, provider)
        snapshot = call.read(self._reader, [pkey, *self._agent_keys(tenant_id, agent_ids)])
        self._check_agents(snapshot, tenant_id, agent_ids)
        resolved = self._resolve(scope, provider, snapshot.get(VaultProviderModel, pkey))
        requested = tuple(dict.fromkeys(scopes or resolved.scopes))
        unknown = [s for s in requested if s not in resolved.scopes]
        if unknown:
            raise InvalidScope(f"Not offered by {provider}: {' '.join(unknown)}.")
        asked = list(requested)
        if resolved.expects_id_token and "openid" not in asked:
            asked.insert(0, "openid")
        if resolved.offline_scope and resolved.offline_scope not in asked:
            asked.append(resolved.offline_scope)
        asked, params = auth0.authorization_request(provider, requested, asked, resolved.authorize_params)
        connection_id = rules.new_connection_id()
        state = rules.new_state(provider, connection_id)
        verifier, challenge = new_pkce_pair()
        nonce = secrets.token_urlsafe(24) if resolved.expects_id_token else None
        expires_at = call.epoch + rules.STATE_TTL_SECONDS
        endpoints = resolved.endpoints
        try:
            url = self._support.http.authorization_url(
                endpoints,
                resolved.client,
                redirect_uri=self.redirect_uri,
                scopes=asked,
                state=state,
                code_challenge=challenge,
                nonce=nonce,
                extra=params,
            )
        except ValueError as exc:
            raise InvalidRequest(f"The provider's settings are not usable: {exc}.") from None
        assert call.principal is not None
        connection = self._connections.new_connection(
            scope,
            connection_id,
            provider=provider,
            label=label,
            status=Status.PENDING.value,
            client_source=resolved.client_source,
            client_id=resolved.client.client_id,
            issuer=endpoints.issuer,
            token_endpoint=endpoints.token_endpoint,
            revocation_endpoint=endpoints.revocation_endpoint,
            requested_scopes=list(requested),
            agent_ids=list(dict.fromkeys(agent_ids)),
            created_at=call.timestamp,
            created_by=call.principal.subject,
            auth0_connection=auth0.pinned_connection(provider, resolved.authorize_params),
        )
        verifier_blob = encrypt(
            self._support.encryptor,
            verifier,
            rules.connection_context(tenant_id, connection_id, rules.PKCE_VERIFIER),
        )
        state_item = self._connections.new_state(
            scope,
            self._hasher.fingerprint(state),
            connection_id=connection_id,
            provider=provider,
            started_by=call.principal.subject,
            issuer=endpoints.issuer,
            iss_required=1 if endpoints.iss_parameter_supported else 0,
            redirect_uri=self.redirect_uri,
            verifier_ciphertext=verifier_blob,
            nonce=nonce,
            client_id=resolved.client.client_id,
            client_source=resolved.client_source,
            token_endpoint=endpoints.token_endpoint,
            revocation_endpoint=endpoints.revocation_endpoint,
            jwks_uri=endpoints.jwks_uri,
            revocation_ends_grant=1 if resolved.revocation_ends_grant else 0,
            expires_at=expires_at,
            ttl=expires_at + 86400,
        )
        tx = self._db.transaction()
        self._connections.add_pending(tx, scope, connection, state_item)
        detail = {"connection_id": connection_id, "provider": provider, "scopes": list(requested)}
        self._auditor.record(tx, call, audit.VAULT_CONNECT_STARTED, (scope,), detail=detail)
        commit(tx)
        return {"connection_id": connection_id, "authorize_url": url, "expires_at": iso(expires_at)}

    # -- connections -----------------------------------------------------------------------------
    def list_connections(self, call: Call) -> dict[str, Any]:
        scope = self._scope(call)
        items = self._connections.list_all(scope)
        shown = [c for c in items if c.status not in (Status.DELETED, Status.SUPERSEDED)]
        return {"connections": [connection_view(c, call.epoch) for c in shown]}

    def get(self, call: Call, connection_id: str) -> dict[str, Any]:
        scope = self._scope(call)
        key = self._connection_key(scope, connection_id)
        connection = call.read(self._reader, [key] if key else []).get(ConnectionModel, key)
        if connection is None:
            raise NotFound()
        return connection_view(connection, call.epoch)

    def update(
        self,
        call: Call,
        connection_id: str,
        *,
        label: str | None,
        agent_ids: Sequence[str] | None,
        allowed_scopes: Sequence[str] | None,
    ) -> dict[str, Any]:
        scope = self._scope(call)
        key = self._connection_key(scope, connection_id)
        agents = self._agent_keys(scope.tenant_id, agent_ids or []) if key else []
        snapshot = call.read(self._reader, ([key] if key else []) + agents)
        connection = snapshot.get(ConnectionModel, key)
        if connection is None or Status(connection.status) not in rules.EDITABLE:
            raise NotFound()
        changed = []
        if agent_ids is not None:
            self._check_agents(snapshot, scope.tenant_id, agent_ids)
            connection.agent_ids = list(dict.fromkeys(agent_ids))
            changed.append("agent_ids")
        if allowed_scopes is not None:
            granted = connection.granted_scopes or connection.requested_scopes or []
            outside = rules.missing_scopes(allowed_scopes, granted)
            if outside:
                raise InvalidScope(f"Not granted to this connection: {' '.join(outside)}.")
            problem = auth0.narrowing_problem(connection.provider, allowed_scopes, granted)
            if problem is not None:
                raise InvalidRequest(problem)
            connection.allowed_scopes = list(dict.fromkeys(allowed_scopes))
            changed.append("allowed_scopes")
        if label is not None:
            connection.label = label
            changed.append("label")
        if not changed:
            return connection_view(connection, call.epoch)
        connection.updated_at = call.timestamp
        tx = self._db.transaction()
        self._connections.save(tx, scope, connection, connection.status)
        detail = {"connection_id": connection_id, "changed": changed}
        if agent_ids is not None:
            detail["agent_ids"] = list(connection.agent_ids or [])
        if allowed_scopes is not None:
            detail["allowed_scopes"] = list(connection.allowed_scopes or [])
        self._auditor.record(tx, call, audit.VAULT_UPDATED, (scope,), detail=detail)
        commit(tx)
        return connection_view(connection, call.epoch)

    def delete(self, call: Call, connection_id: str) -> dict[str, Any]:
        """Revoke the refresh token at the provider (RFC 7009, best effort, the outcome
        audited), then destroy the encrypted material; the record stays as a tombstone."""
        scope = self._scope(call)
        tenant_id = scope.tenant_id
        key = self._connection_key(scope, connection_id)
        pkeys = [provider_key(tenant_id, name) for name in providers.PROVIDERS] if key else []
        snapshot = call.read(self._reader, ([key] if key else []) + pkeys)
        connection = snapshot.get(ConnectionModel, key)
        if connection is None or not rules.can_transition(connection.status, Status.DELETED):
            raise NotFound()
        outcome = self._revoke_at_provider(scope, connection, snapshot)
        previous = connection.status
        account = connection.account_key
        connection.status = rules.transition(previous, Status.DELETED).value
        connection.status_reason = Reason.REVOKED_BY_ADMIN.value
        connection.refresh_token_ciphertext = None
        connection.access_token_ciphertext = None
        connection.access_token_expires_at = None
        connection.deleted_at = connection.updated_at = call.timestamp
        connection.deleted_by = call.actor.id
        tx = self._db.transaction()
        self._connections.save(tx, scope, connection, previous)
        if account and previous != Status.PENDING:
            self._connections.unbind_account(tx, scope, account, connection_id)
        detail = {
            "connection_id": connection_id,
            "provider": connection.provider,
            "provider_revocation": outcome,
        }
        self._auditor.record(tx, call, audit.VAULT_DISCONNECTED, (scope,), detail=detail)
        commit(tx, NotFound())
        return {"connection_id": connection_id, "status": connection.status, "provider_revocation": outcome}

    # -- helpers ---------------------------------------------------------------------------------
    def _revoke_at_provider(self, scope: TenantScope, connection: ConnectionModel, snapshot: Snapshot) -> str:
        """`revoked`, `nothing_to_revoke`, `not_supported` or `failed` (logged with why)."""
        blob = connection.refresh_token_ciphertext
        if not blob:
            return "nothing_to_revoke"
        if not connection.revocation_endpoint or not connection.token_endpoint:
            return "not_supported"
        item = snapshot.get(VaultProviderModel, provider_key(scope.tenant_id, connection.provider))
        client = self._support.client_for(
            scope, connection.provider, connection.client_source, connection.client_id, item
        )
        if client is None:
            logger.warning("vault revocation skipped: the OAuth client changed", extra=_log(connection))
            return "failed"
        context = rules.connection_context(scope.tenant_id, connection.connection_id, rules.REFRESH_TOKEN)
        token = decrypt(self._support.encryptor, blob, context)
        endpoints = Endpoints(
            "", connection.token_endpoint, revocation_endpoint=connection.revocation_endpoint
        )
        try:
            self._support.http.revoke(endpoints, client, token)
        except ProviderError as exc:
            logger.warning("vault revocation failed", extra={**_log(connection), "reason": exc.reason})
            return "failed"
        return "revoked"

    def _resolve(self, scope: TenantScope, name: str, item: VaultProviderModel | None) -> providers.Resolved:
        try:
            return providers.resolve(
                self._settings, self._support.http, name, self._support.tenant_provider(scope, item)
            )
        except providers.ProviderUnavailable:
            raise InvalidRequest(f"The provider {name} is not available to this tenant.") from None
        except ProviderTransient as exc:
            logger.warning("vault provider discovery failed", extra={"provider": name, "reason": exc.reason})
            raise ServiceUnavailable("The provider could not be reached. Try again later.") from None

    @staticmethod
    def _scope(call: Call) -> TenantScope:
        assert call.principal is not None
        return own_scope(call.principal)

    @staticmethod
    def _connection_key(scope: TenantScope, connection_id: str) -> Key | None:
        return (
            connection_key(scope.tenant_id, connection_id)
            if rules.CONNECTION_ID.fullmatch(connection_id)
            else None
        )

    @staticmethod
    def _agent_keys(tenant_id: str, agent_ids: Sequence[str]) -> list[Key]:
        return [agent_key(tenant_id, a) for a in dict.fromkeys(agent_ids)]

    @staticmethod
    def _check_agents(snapshot: Snapshot, tenant_id: str, agent_ids: Sequence[str]) -> None:
        for agent_id in agent_ids:
            agent = snapshot.get(AgentModel, agent_key(tenant_id, agent_id))
            if agent is None or agent.status != "ACTIVE":
                raise InvalidRequest("agent_ids must name active agents of this tenant.")


def _log(connection: ConnectionModel) -> dict[str, str]:
    return {"connection_id": connection.connection_id, "provider": connection.provider}


def provider_view(item: VaultProviderModel) -> dict[str, Any]:
    """A tenant's provider settings as shown back: never the client secret."""
    return {
        "provider": item.provider,
        "client": "tenant",
        "client_id": item.client_id,
        "issuer": item.issuer,
        "authorization_endpoint": item.authorization_endpoint,
        "token_endpoint": item.token_endpoint,
        "revocation_endpoint": item.revocation_endpoint,
        "scopes": list(item.scopes or []),
        "authorize_params": dict(item.authorize_params.as_dict() if item.authorize_params else {}),
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def providers_settings(settings: Settings, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The stored fields of `PUT /vault/providers/{name}` (secret aside), checked per kind."""
    from chalicelib.domain.webhooks import check_url

    if name not in providers.PROVIDERS:
        raise NotFound()
    if name == providers.AUTH0:
        return auth0.settings_fields(settings, body)
    if name == providers.LOCAL_GOOGLE and providers.preset(settings, name) is None:
        raise NotFound()
    urls = ("issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint")
    given = {u: body.get(u) for u in urls if body.get(u) is not None}
    preset = providers.preset(settings, name)
    if preset is not None:
        if given or body.get("authorize_params"):
            raise InvalidRequest(f"The {name} preset takes only client_id, client_secret and scopes.")
        outside = [s for s in body.get("scopes") or () if s not in preset.scopes]
        if outside:
            raise InvalidScope(f"Not offered by {name}: {' '.join(outside)}.")
    elif name == providers.OIDC:
        if set(given) != {"issuer"}:
            raise InvalidRequest(
                "An oidc provider is given by its issuer only (endpoints come from discovery)."
            )
    elif not {"authorization_endpoint", "token_endpoint"} <= set(given):
        raise InvalidRequest("An oauth2 provider needs authorization_endpoint and token_endpoint.")
    if preset is None and not body.get("scopes"):
        raise InvalidRequest("scopes is required for this provider.")
    for field_name, value in given.items():
        try:
            check_url(value, require_https=settings.stage != "local")
        except ValueError as exc:
            raise InvalidRequest(f"{field_name}: {exc}") from None
    params = dict(body.get("authorize_params") or {})
    reserved = sorted(set(params) & RESERVED_PARAMS)
    if reserved:
        raise InvalidRequest(f"authorize_params may not set {', '.join(reserved)}.")
    return {
        "client_id": body["client_id"],
        "scopes": list(dict.fromkeys(body.get("scopes") or ())) or None,
        "authorize_params": params or None,
        **{u: given.get(u) for u in urls},
    }
