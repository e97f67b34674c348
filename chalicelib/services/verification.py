"""Token verification for receiving tenants (`/delegations/verify`, RFC 7662 introspection)
and RFC 7009 revocation: signature and claims first, then the registry."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chalicelib.auth.scope import own_scope
from chalicelib.domain import ids
from chalicelib.domain.delegation import DELEGATION_TOKEN_TYP
from chalicelib.errors import Conflict, NotFound
from chalicelib.services.call import Call
from chalicelib.services.revocation import RevocationService
from chalicelib.store import scoped_credentials
from chalicelib.store.keys import delegation_key, tenant_key
from chalicelib.store.models import TenantModel
from chalicelib.store.reads import BatchReader
from chalicelib.store.tenants import TenantRepository
from chalicelib.tokens import TokenRejected, TokenVerifier, token_fingerprint

INACTIVE: dict[str, Any] = {"active": False}
DELEGATION_CLAIMS = ("nbf", "scope", "client_id", "tenant_id", "receiving_tenant_id", "act")
INTROSPECTION_CLAIMS = (
    "iss",
    "sub",
    "aud",
    "client_id",
    "iat",
    "nbf",
    "exp",
    "jti",
    "scope",
    "tenant_id",
    "receiving_tenant_id",
    "act",
)


class VerificationService:
    def __init__(
        self,
        tenants: TenantRepository,
        revocation: RevocationService,
        verifier: Callable[[], TokenVerifier],
        reader: BatchReader,
    ) -> None:
        self._tenants = tenants
        self._revocation = revocation
        self._verifier = verifier
        self._reader = reader

    def verify(self, call: Call, token: str) -> dict[str, Any]:
        """`active: true` and the claims only for a principal of the token's receiving tenant
        and only while the delegation is ACTIVE; `{"active": false}` for anything else.

        One read (the caller's tenant for its audience, the delegation the token names, its
        requesting tenant; through the request's gate also the caller's credential) and one
        write (the `delegation.verified` events). Without a principal, the call's gate names
        the caller's tenant (a client id and secret) and its read confirms who it is."""
        if call.principal is not None:
            tenant_id = own_scope(call.principal).tenant_id
        else:
            assert call.gate is not None and call.gate.claim.tenant_id is not None
            tenant_id = call.gate.claim.tenant_id
        hint = _unverified_claims(token)
        jti, requester = hint.get("jti"), hint.get("tenant_id")
        own = tenant_key(tenant_id)
        keys = [own]
        if isinstance(jti, str) and ids.DELEGATION_ID.fullmatch(jti):
            keys.append(delegation_key(tenant_id, jti))
        if isinstance(requester, str) and ids.TENANT_ID.fullmatch(requester):
            scoped_credentials.add_counterpart(requester)  # its tenant record: read, and audited
            keys.append(tenant_key(requester))
        snapshot = call.read(self._reader, keys)
        if call.principal is None:
            assert call.gate is not None
            principal = call.gate.principal
            call = replace(call, principal=principal)
            if own_scope(principal).tenant_id != tenant_id:
                return dict(INACTIVE)
        tenant = snapshot.get(TenantModel, own)
        if tenant is None:
            return dict(INACTIVE)
        try:
            claims = self._verifier().verify(
                token, typ=DELEGATION_TOKEN_TYP, audience=tenant.audience, required_claims=DELEGATION_CLAIMS
            )
        except TokenRejected:
            return dict(INACTIVE)
        record = self._revocation.active_record(call, claims, token, snapshot)
        if record is None:
            return dict(INACTIVE)
        self._revocation.record_use(call, record, token)
        out: dict[str, Any] = {"active": True, "token_type": "Bearer"}
        out.update({name: claims[name] for name in INTROSPECTION_CLAIMS if name in claims})
        out["delegation_id"] = record.delegation_id
        out["status"] = "ACTIVE"
        return out

    def revoke_token(self, call: Call, token: str) -> None:
        """RFC 7009 §2.2: answer 200 whatever the token was; revoke it only when the caller
        may revoke that delegation (an admin of either side or its requesting agent)."""
        assert call.principal is not None
        hint = _unverified_claims(token)
        jti = hint.get("jti")
        if not isinstance(jti, str):
            return
        try:
            # Both sides in one read, at the tenants the token names (checked by the signature).
            record, ref = self._revocation.token_pair(
                call, jti, hint.get("receiving_tenant_id"), hint.get("tenant_id")
            )
            self._verifier().verify(
                token, typ=DELEGATION_TOKEN_TYP, audience=record.audience, required_claims=DELEGATION_CLAIMS
            )
        except (NotFound, TokenRejected):
            return
        if record.token_sha256 != token_fingerprint(token):
            return
        try:
            self._revocation.revoke_pair(call, record, ref)
        except (NotFound, Conflict):
            return


def _unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a token not yet verified, used only to name the items to read; every
    decision is taken on the verified claims."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, TypeError, AttributeError, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}

