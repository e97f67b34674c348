"""`GET /vault/callback`: the browser back from the provider finishes a connection.

Checks, in order: a session of an admin person (the state is looked up in that session's
tenant partition only, so another tenant's session, an approver's or none fails exactly like
an unknown state); the state (known, unused, unexpired, for a pending connection); the
provider's `error`; RFC 9207 `iss` against the expected issuer (required when the provider
advertises it); the code exchange with the PKCE verifier; the ID token (signature by the
provider's JWKS, `iss`, `aud` = our client id, `nonce`) when the provider is an OpenID
Provider. Then the refresh token and the access token are stored encrypted, bound to
{tenant_id, connection_id, purpose}, and the connection becomes `active`.

Reconnecting: when the provider account (provider, issuer, sub) already has a live
connection in the tenant, that connection gets the new grant and keeps its id; its old
refresh token is revoked at the provider (RFC 7009), unless the provider's revocation would
end the new grant too (Google, same OAuth client); the attempt's pending connection becomes
`superseded`. The account pointer (`VACCOUNT#`) changes in the same transaction.

Round trips: the session with the state, connection and provider settings (one batch), the
account's live connection (one query, after a successful exchange), one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from chalicelib.auth.scope import own_scope
from chalicelib.auth.secrets import SecretHasher
from chalicelib.config import Settings
from chalicelib.domain import audit
from chalicelib.domain import vault as rules
from chalicelib.domain import vault_refresh as refresh_rules
from chalicelib.domain.principal import Role, TenantScope
from chalicelib.domain.vault import Reason, Status
from chalicelib.errors import Conflict
from chalicelib.observability import logger
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit
from chalicelib.services.gate import RequestGate
from chalicelib.services.vault import VaultSupport, decrypt, encrypt
from chalicelib.store.connections import (
    ConnectionRepository,
    account_hash,
    connection_key,
    provider_key,
    state_key,
)
from chalicelib.store.db import Database
from chalicelib.store.models import ConnectionModel, VaultProviderModel, VaultStateModel
from chalicelib.vault import auth0
from chalicelib.vault.client import (
    Endpoints,
    GrantDead,
    OAuthClient,
    ProviderClient,
    ProviderError,
    ProviderTransient,
    TokenSet,
)

DASHBOARD_PAGE = "/dashboard/connections"
INVALID_STATE = "invalid_state"


@dataclass(frozen=True)
class CallbackQuery:
    code: str | None
    state: str | None
    iss: str | None
    error: str | None


class _Failed(Exception):
    """The callback cannot finish this connection (the state was valid): `reason`."""

    def __init__(self, reason: Reason, detail: str | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.detail = detail


class VaultCallback:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        connections: ConnectionRepository,
        auditor: AuditService,
        hasher: SecretHasher,
        support: VaultSupport,
    ) -> None:
        self._settings = settings
        self._db = db
        self._connections = connections
        self._auditor = auditor
        self._hasher = hasher
        self._support = support

    def page(self, **query: str) -> str:
        """The dashboard's connections page, with `connected=<id>` or `error=<code>`."""
        return f"{self._settings.public_url}{DASHBOARD_PAGE}?{urlencode(query)}"

    def finish(self, gate: RequestGate, request_id: str, now: float, query: CallbackQuery) -> str:
        """Where to send the browser. Raises NotSignedIn when the session is not valid (the
        caller answers it like a bad state)."""
        parsed = rules.parse_state(query.state)
        tenant_id = gate.claim.tenant_id
        if parsed is None or tenant_id is None or query.state is None:
            gate.read()
            return self.page(error=INVALID_STATE)
        provider, connection_id = parsed
        skey = state_key(tenant_id, self._hasher.fingerprint(query.state))
        ckey, pkey = connection_key(tenant_id, connection_id), provider_key(tenant_id, provider)
        snapshot = gate.read([skey, ckey, pkey])
        principal = gate.principal
        state = snapshot.get(VaultStateModel, skey)
        connection = snapshot.get(ConnectionModel, ckey)
        if (
            principal.role is not Role.ADMIN
            or principal.tenant_id != tenant_id
            or state is None
            or now >= int(state.expires_at)
            or state.connection_id != connection_id
            or state.provider != provider
            or connection is None
            or connection.status != Status.PENDING
        ):
            return self.page(error=INVALID_STATE)
        call = Call(principal, request_id, now, gate)
        scope = own_scope(principal)
        item = snapshot.get(VaultProviderModel, pkey)
        try:
            return self._complete(call, scope, state, connection, item, query)
        except _Failed as failed:
            return self._fail(call, scope, state, connection, failed)

    # -- the way through -------------------------------------------------------------------------
    def _complete(
        self,
        call: Call,
        scope: TenantScope,
        state: VaultStateModel,
        pending: ConnectionModel,
        item: VaultProviderModel | None,
        query: CallbackQuery,
    ) -> str:
        http = self._support.http
        if query.error:
            raise _Failed(Reason.ACCESS_DENIED if query.error == "access_denied" else Reason.TOKEN_ERROR)
        problem = http.response_issuer_problem(state.issuer, query.iss, required=bool(state.iss_required))
        if problem is not None:
            raise _Failed(Reason(problem))
        if not query.code:
            raise _Failed(Reason.NO_CODE)
        client = self._support.client_for(scope, state.provider, state.client_source, state.client_id, item)
        if client is None:
            raise _Failed(Reason.TOKEN_ERROR, "the provider's OAuth client changed meanwhile")
        endpoints = Endpoints(
            authorization_endpoint="",
            token_endpoint=state.token_endpoint,
            issuer=state.issuer,
            revocation_endpoint=state.revocation_endpoint,
            jwks_uri=state.jwks_uri,
            iss_parameter_supported=bool(state.iss_required),
        )
        context = rules.connection_context(scope.tenant_id, pending.connection_id, rules.PKCE_VERIFIER)
        verifier = decrypt(self._support.encryptor, state.verifier_ciphertext, context)
        tokens = self._exchange(http, endpoints, client, state, query.code, verifier)
        sub, email = None, None
        if state.nonce is not None:
            if tokens.id_token is None:
                raise _Failed(Reason.ID_TOKEN_INVALID, "no id_token in the token response")
            try:
                claims = http.validate_id_token(endpoints, client, tokens.id_token, nonce=state.nonce)
            except ProviderTransient as exc:
                raise _Failed(Reason.PROVIDER_UNAVAILABLE, exc.reason) from None
            except ProviderError as exc:
                raise _Failed(Reason.ID_TOKEN_INVALID, exc.reason) from None
            sub, email = claims.subject, claims.email
        try:  # Auth0 Token Vault: the provider's token from the vault (chalicelib/vault/auth0.py)
            tokens = auth0.connect_tokens(
                http, state.provider, item, endpoints, client, tokens, pending.auth0_connection
            )
        except ProviderError as exc:
            self._revoke_quietly(http, endpoints, client, tokens.refresh_token, pending)
            why = Reason.PROVIDER_UNAVAILABLE if isinstance(exc, ProviderTransient) else Reason.TOKEN_ERROR
            raise _Failed(why, exc.reason) from None
        account = account_hash(state.provider, state.issuer, sub) if sub else None
        existing = self._connections.live_of_account(scope, account) if account else None
        if existing is not None and existing.connection_id == pending.connection_id:
            existing = None
        try:
            if existing is None:
                return self._connected(call, scope, state, pending, tokens, account, sub, email)
            return self._reconnected(
                call, scope, state, pending, existing, tokens, client, endpoints, sub, email
            )
        except Conflict:
            self._revoke_quietly(http, endpoints, client, tokens.refresh_token, pending)
            return self.page(error="conflict")

    def _exchange(
        self,
        http: ProviderClient,
        endpoints: Endpoints,
        client: OAuthClient,
        state: VaultStateModel,
        code: str,
        verifier: str,
    ) -> TokenSet:
        try:
            tokens = http.exchange_code(
                endpoints, client, code=code, redirect_uri=state.redirect_uri, code_verifier=verifier
            )
        except ProviderTransient as exc:
            raise _Failed(Reason.PROVIDER_UNAVAILABLE, exc.reason) from None
        except GrantDead as exc:
            raise _Failed(Reason.INVALID_GRANT, exc.reason) from None
        except ProviderError as exc:
            raise _Failed(Reason.TOKEN_ERROR, exc.reason) from None
        if tokens.refresh_token is None:
            raise _Failed(Reason.NO_REFRESH_TOKEN)
        return tokens

    def _store_grant(
        self,
        call: Call,
        target: ConnectionModel,
        state: VaultStateModel,
        tokens: TokenSet,
        requested: list[str],
    ) -> None:
        """Put the new grant on `target` (its ciphertexts bound to its own id)."""
        tenant_id, cid = call.principal.tenant_id if call.principal else "", target.connection_id
        assert tenant_id and tokens.refresh_token is not None
        encryptor = self._support.encryptor
        expires_at = call.epoch + tokens.expires_in if tokens.expires_in else None
        issued = {"access_token": tokens.access_token, "expires_at": expires_at, "issued_at": call.epoch}
        cache = json.dumps(issued)
        target.refresh_token_ciphertext = encrypt(
            encryptor, tokens.refresh_token, rules.connection_context(tenant_id, cid, rules.REFRESH_TOKEN)
        )
        target.access_token_ciphertext = encrypt(
            encryptor, cache, rules.connection_context(tenant_id, cid, rules.ACCESS_TOKEN)
        )
        target.access_token_expires_at = expires_at
        target.scoped_tokens_ciphertext = None  # down-scoped tokens of the old grant (reconnect)
        granted = list(tokens.scope) if tokens.scope is not None else requested
        target.granted_scopes = granted
        allowed = target.allowed_scopes or requested
        target.allowed_scopes = [s for s in allowed if s in granted]
        target.client_source, target.client_id = state.client_source, state.client_id
        target.token_endpoint, target.revocation_endpoint = state.token_endpoint, state.revocation_endpoint
        target.issuer = state.issuer
        target.status_reason = None
        target.connected_at = target.updated_at = target.last_refresh_at = call.timestamp
        due = call.epoch + refresh_rules.IDLE_REFRESH_SECONDS  # the idle-refresh job's next turn
        target.refresh_bucket, target.refresh_due_at = refresh_rules.refresh_bucket(due), due
        target.connected_by = call.actor.id

    def _connected(
        self,
        call: Call,
        scope: TenantScope,
        state: VaultStateModel,
        pending: ConnectionModel,
        tokens: TokenSet,
        account: str | None,
        sub: str | None,
        email: str | None,
    ) -> str:
        requested = list(pending.requested_scopes or [])
        self._store_grant(call, pending, state, tokens, requested)
        pending.status = rules.transition(pending.status, Status.ACTIVE).value
        pending.account_sub, pending.account_email, pending.account_key = sub, email, account
        tx = self._db.transaction()
        self._connections.save(tx, scope, pending, Status.PENDING.value)
        self._connections.consume_state(tx, scope, state)
        if account is not None:
            self._connections.bind_account(
                tx, scope, account, pending.connection_id, pending.provider, call.timestamp, previous=None
            )
        detail = {
            "connection_id": pending.connection_id,
            "provider": pending.provider,
            "granted_scopes": list(pending.granted_scopes or []),
            "missing_scopes": rules.missing_scopes(requested, pending.granted_scopes or []),
        }
        self._auditor.record(tx, call, audit.VAULT_CONNECTED, (scope,), detail=detail)
        commit(tx)
        return self.page(connected=pending.connection_id)

    def _reconnected(
        self,
        call: Call,
        scope: TenantScope,
        state: VaultStateModel,
        pending: ConnectionModel,
        existing: ConnectionModel,
        tokens: TokenSet,
        client: OAuthClient,
        endpoints: Endpoints,
        sub: str | None,
        email: str | None,
    ) -> str:
        old_blob, old_client = existing.refresh_token_ciphertext, existing.client_id
        previous = existing.status
        requested = list(existing.requested_scopes or pending.requested_scopes or [])
        self._store_grant(call, existing, state, tokens, list(pending.requested_scopes or requested))
        existing.requested_scopes = list(pending.requested_scopes or requested)
        existing.auth0_connection = pending.auth0_connection  # the new grant's Auth0 connection
        existing.status = rules.transition(previous, Status.ACTIVE).value
        existing.account_sub, existing.account_email = sub, email
        pending.status = rules.transition(pending.status, Status.SUPERSEDED).value
        pending.status_reason = Reason.RECONNECTED.value
        pending.superseded_by = existing.connection_id
        pending.updated_at = call.timestamp
        revocation = "nothing_to_revoke"
        if old_blob:
            if state.revocation_ends_grant and old_client == client.client_id:
                revocation = "skipped_same_grant"  # Google: revoking it would end the new grant too
            else:
                context = rules.connection_context(
                    scope.tenant_id, existing.connection_id, rules.REFRESH_TOKEN
                )
                old = decrypt(self._support.encryptor, old_blob, context)
                revocation = self._revoke_quietly(self._support.http, endpoints, client, old, existing)
        tx = self._db.transaction()
        self._connections.save(tx, scope, existing, previous)
        self._connections.save(tx, scope, pending, Status.PENDING.value)
        self._connections.consume_state(tx, scope, state)
        assert existing.account_key is not None
        self._connections.bind_account(
            tx,
            scope,
            existing.account_key,
            existing.connection_id,
            existing.provider,
            call.timestamp,
            previous=existing.connection_id,
        )
        detail = {
            "connection_id": existing.connection_id,
            "superseded_connection_id": pending.connection_id,
            "provider": existing.provider,
            "previous_status": previous,
            "granted_scopes": list(existing.granted_scopes or []),
            "old_refresh_token": revocation,
        }
        self._auditor.record(tx, call, audit.VAULT_RECONNECTED, (scope,), detail=detail)
        commit(tx)
        return self.page(connected=existing.connection_id)

    def _revoke_quietly(
        self,
        http: ProviderClient,
        endpoints: Endpoints,
        client: OAuthClient,
        token: str | None,
        connection: ConnectionModel,
    ) -> str:
        if not token:
            return "nothing_to_revoke"
        if not endpoints.revocation_endpoint:
            return "not_supported"
        try:
            http.revoke(endpoints, client, token)
        except ProviderError as exc:
            logger.warning(
                "vault revocation failed",
                extra={"connection_id": connection.connection_id, "reason": exc.reason},
            )
            return "failed"
        return "revoked"

    # -- the way out when it failed -------------------------------------------------------------
    def _fail(
        self,
        call: Call,
        scope: TenantScope,
        state: VaultStateModel,
        pending: ConnectionModel,
        failed: _Failed,
    ) -> str:
        logger.warning(
            "vault connect failed",
            extra={
                "connection_id": pending.connection_id,
                "reason": failed.reason.value,
                "detail": failed.detail,
            },
        )
        pending.status = rules.transition(pending.status, Status.FAILED).value
        pending.status_reason = failed.reason.value
        pending.updated_at = call.timestamp
        tx = self._db.transaction()
        self._connections.save(tx, scope, pending, Status.PENDING.value)
        self._connections.consume_state(tx, scope, state)
        detail: dict[str, Any] = {
            "connection_id": pending.connection_id,
            "provider": pending.provider,
            "reason": failed.reason.value,
        }
        self._auditor.record(tx, call, audit.VAULT_CONNECT_FAILED, (scope,), detail=detail)
        try:
            commit(tx)
        except Conflict:
            return self.page(error=INVALID_STATE)  # used meanwhile by another callback
        return self.page(error=failed.reason.value)
