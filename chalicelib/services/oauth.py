"""OAuth 2.0 token endpoint grants (RFC 6749), one class per grant with a registry."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from chalicelib.auth.authenticator import ClientSecretClaim, api_token_claims, principal_of
from chalicelib.auth.scope import system_scope
from chalicelib.auth.secrets import SecretHasher
from chalicelib.config import Settings
from chalicelib.domain import audit
from chalicelib.domain.ciba import GRANT_TYPE
from chalicelib.domain.delegation import API_TOKEN_TYP
from chalicelib.domain.principal import Role
from chalicelib.errors import (
    InvalidRequest,
    ServiceUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit
from chalicelib.services.gate import RequestGate
from chalicelib.services.stepup import StepUpService
from chalicelib.store.agents import AgentRepository
from chalicelib.store.credentials import CredentialRepository
from chalicelib.store.db import Database
from chalicelib.tokens import Signer, SigningUnavailable, encode_jwt, token_fingerprint

GateOpener = Callable[[bool], RequestGate]  # charge the client's budget?


class Grant(Protocol):
    GRANT_TYPE: str

    def __call__(self, call: Call, form: Mapping[str, str], open_gate: GateOpener) -> dict[str, Any]: ...


class ClientCredentialsGrant:
    """RFC 6749 §4.4: an access token for VaultGuard's own API, for the client itself.

    Two round trips: the batched read (credential, tenant, budgets) and one transaction
    (the `token.issued` event, the budget charge, an agent's `last_used_at`, and a legacy
    secret hash rewritten)."""

    GRANT_TYPE = "client_credentials"

    def __init__(
        self,
        settings: Settings,
        db: Database,
        credentials: CredentialRepository,
        hasher: SecretHasher,
        signer: Callable[[], Signer],
        auditor: AuditService,
        agents: AgentRepository | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._credentials = credentials
        self._agents = agents or AgentRepository()
        self._hasher = hasher
        self._signer = signer
        self._auditor = auditor

    def __call__(self, call: Call, form: Mapping[str, str], open_gate: GateOpener) -> dict[str, Any]:
        if form.get("scope"):
            raise InvalidRequest("VaultGuard API tokens take no scope; request delegations instead.")
        gate = open_gate(True)
        gate.read()
        claim = gate.claim
        assert isinstance(claim, ClientSecretClaim) and claim.credential is not None
        cred = claim.credential
        jkt = gate.dpop_binding()  # RFC 9449 §5: a proof with the request binds the token to its key
        claims = api_token_claims(
            cred,
            issuer=self._settings.issuer,
            audience=self._settings.api_audience,
            now=call.epoch,
            ttl=self._settings.access_token_ttl,
            jti=secrets.token_urlsafe(16),
            jkt=jkt,
        )
        try:
            token = encode_jwt(self._signer(), claims, typ=API_TOKEN_TYP)
        except SigningUnavailable as exc:
            raise ServiceUnavailable() from exc
        tx = self._db.transaction()
        if claim.secret and self._hasher.needs_rehash(cred.secret_hash):  # not a key-only client
            self._credentials.rehash(tx, cred, self._hasher.hash(claim.secret))
        if cred.tenant_id and cred.role == Role.AGENT:
            self._agents.record_use(tx, system_scope(cred.tenant_id), cred.subject, call.timestamp)
        if cred.tenant_id:
            self._auditor.record(
                tx,
                Call(principal_of(cred), call.request_id, call.now),
                audit.TOKEN_ISSUED,
                (system_scope(cred.tenant_id),),
                token_sha256=token_fingerprint(token),
                detail={
                    "token_type": "api_access",
                    "client_id": cred.client_id,
                    **({"dpop_jkt": jkt} if jkt else {}),
                },
            )
        commit(tx)
        return {
            "access_token": token,
            "token_type": "DPoP" if jkt else "Bearer",
            "expires_in": self._settings.access_token_ttl,
        }


class CibaGrant:
    """OpenID CIBA Core §10.1: the agent polls with its auth_req_id (poll mode). Polls are
    not charged to the client's budget: `slow_down` governs them (§11)."""

    GRANT_TYPE = GRANT_TYPE

    def __init__(self, stepup: Callable[[], StepUpService]) -> None:
        self._stepup = stepup

    def __call__(self, call: Call, form: Mapping[str, str], open_gate: GateOpener) -> dict[str, Any]:
        """Two round trips: the client's credential read with the polled records, one write."""
        gate = open_gate(False)
        auth_req_id = form.get("auth_req_id") or ""
        stepup = self._stepup()
        snapshot = gate.read(stepup.poll_keys(gate.claim.tenant_id, auth_req_id))
        principal = gate.principal
        if principal.role is not Role.AGENT:
            raise UnauthorizedClient("Only agents use the CIBA grant.")
        if not auth_req_id:
            raise InvalidRequest("auth_req_id is required.")
        return stepup.poll(Call(principal, call.request_id, call.now, gate), auth_req_id, snapshot)


TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
CONNECTION_RESOURCE = "urn:vaultguard:connection:"


class InvalidTarget(InvalidRequest):
    """RFC 8693 §2.2.2: no token for the `resource` named (unknown, another tenant's, deleted
    or not allowed to this agent: the same answer for all)."""

    error = "invalid_target"
    description = "No token can be issued for the requested resource."


class TokenExchangeGrant:
    """RFC 8693 §2.1: the vault's exchange (services/vault_exchange.py) in the token
    endpoint's form. `subject_token` is the agent's VaultGuard access token (§3
    `urn:ietf:params:oauth:token-type:access_token`), verified as a bearer token is;
    `resource` names the connection (`urn:vaultguard:connection:<id>`), `scope` narrows it.
    The same two round trips as `POST /vault/exchange` on a cached token."""

    GRANT_TYPE = TOKEN_EXCHANGE

    def __init__(self, vault_exchange: Callable[[], Any], federated: Callable[[], Any] | None = None) -> None:
        self._exchange = vault_exchange
        self._federated = federated  # services/federation.py: a trusted issuer's JWT

    def __call__(self, call: Call, form: Mapping[str, str], open_gate: GateOpener) -> dict[str, Any]:
        from chalicelib.domain.federation import JWT_TOKEN_TYPE
        from chalicelib.domain.vault import CONNECTION_ID, parse_scope
        from chalicelib.errors import Forbidden, NotFound

        if form.get("subject_token_type") == JWT_TOKEN_TYPE and self._federated is not None:
            from chalicelib.services.federation import federated_exchange

            return federated_exchange(self._federated(), call, form, open_gate(True))

        if form.get("subject_token_type") != ACCESS_TOKEN_TYPE:
            raise InvalidRequest(f"subject_token_type must be {ACCESS_TOKEN_TYPE}.")
        if not form.get("subject_token"):
            raise InvalidRequest("subject_token is required.")
        if form.get("actor_token") or form.get("actor_token_type"):
            raise InvalidRequest("actor_token is not supported.")
        if form.get("requested_token_type") not in (None, "", ACCESS_TOKEN_TYPE):
            raise InvalidRequest(f"requested_token_type must be {ACCESS_TOKEN_TYPE}.")
        resource = form.get("resource") or ""
        connection_id = resource.removeprefix(CONNECTION_RESOURCE)
        if not resource.startswith(CONNECTION_RESOURCE) or not CONNECTION_ID.fullmatch(connection_id):
            raise InvalidTarget("resource must be urn:vaultguard:connection:<connection id>.")
        scopes = list(parse_scope(form.get("scope")) or ()) or None
        gate = open_gate(True)
        principal = gate.claim.principal  # type: ignore[attr-defined]  # confirmed by the read
        if principal.role is not Role.AGENT:
            raise UnauthorizedClient("Only agents exchange for vault tokens.")
        try:
            answer = dict(
                self._exchange().exchange(
                    Call(principal, call.request_id, call.now, gate), connection_id, scopes
                )
            )
        except (NotFound, Forbidden):
            raise InvalidTarget() from None
        answer["issued_token_type"] = ACCESS_TOKEN_TYPE
        return answer


class TokenEndpoint:
    """`POST /oauth/token`: dispatches on `grant_type` to a registered grant."""

    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}

    def register(self, grant: Grant) -> None:
        self._grants[grant.GRANT_TYPE] = grant

    def __call__(self, call: Call, form: Mapping[str, str], open_gate: GateOpener) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise InvalidRequest("grant_type is required.")
        grant = self._grants.get(grant_type)
        if grant is None:
            raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported.")
        return grant(call, form, open_gate)
