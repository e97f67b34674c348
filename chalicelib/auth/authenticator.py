"""Who is calling: a client secret (token endpoint) or a VaultGuard API bearer token.

The tenant of a request comes only from here: from the credential record for a client
secret, or from the verified token (then re-checked against the credential record, so a
disabled agent or rotated secret stops its tokens at once).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from chalicelib.auth.secrets import burn_time, verify_secret
from chalicelib.config import Settings
from chalicelib.domain.delegation import API_TOKEN_TYP
from chalicelib.domain.principal import Principal, Role
from chalicelib.errors import InvalidClient, InvalidRequest, InvalidToken, ServiceUnavailable
from chalicelib.observability import logger
from chalicelib.store.credentials import AuthenticationLookup
from chalicelib.store.db import StoreError
from chalicelib.store.models import CredentialModel
from chalicelib.tokens import TokenRejected, TokenVerifier

API_TOKEN_CLAIMS = ("client_id", "role", "cv")
MAX_CLIENT_ID = 128
MAX_SECRET = 256


def principal_of(cred: CredentialModel) -> Principal:
    return Principal(
        role=Role(cred.role), subject=cred.subject, client_id=cred.client_id, tenant_id=cred.tenant_id
    )


class Authenticator:
    def __init__(
        self,
        settings: Settings,
        lookup: AuthenticationLookup,
        verifier: Callable[[], TokenVerifier],
        on_failed_secret: Callable[[CredentialModel, str], None] | None = None,
        count_request: Callable[[str | None, str], None] | None = None,
    ) -> None:
        self._settings = settings
        self._lookup = lookup
        self._verifier = verifier
        self._on_failed_secret = on_failed_secret
        self._count_request = count_request or (lambda tenant_id, client_id: None)

    def bearer(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer <API token>` header (RFC 6750)."""
        if not authorization:
            raise InvalidToken("An Authorization: Bearer token is required.")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("The Authorization header must use the Bearer scheme.")
        try:
            claims = self._verifier().verify(
                token.strip(),
                typ=API_TOKEN_TYP,
                audience=self._settings.api_audience,
                required_claims=API_TOKEN_CLAIMS,
            )
        except TokenRejected as exc:
            logger.info("bearer token rejected: %s", exc.reason)
            raise InvalidToken() from None
        tenant_id = claims.get("tenant_id")
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or not (tenant_id is None or isinstance(tenant_id, str)):
            raise InvalidToken()
        try:
            cred = self._lookup.by_token_subject(tenant_id, client_id)
            tenant_ok = tenant_id is None or self._lookup.tenant_status(tenant_id) == "ACTIVE"
        except StoreError as exc:
            logger.warning("credential lookup failed: %s", exc)
            raise ServiceUnavailable() from None
        if (
            cred is None
            or not tenant_ok
            or cred.status != "ACTIVE"
            or cred.cred_version != claims.get("cv")
            or cred.role != claims.get("role")
            or cred.subject != claims.get("sub")
        ):
            raise InvalidToken()
        self._count_request(cred.tenant_id, cred.client_id)
        return principal_of(cred)

    def client(
        self, headers: Mapping[str, str], form: Mapping[str, str], *, request_id: str
    ) -> CredentialModel:
        """Client authentication at the token endpoint (RFC 6749 §2.3.1: basic or post)."""
        client_id, secret = _client_credentials(headers, form)
        try:
            cred = self._lookup.by_client_id(client_id)
            tenant_ok = cred is not None and (
                cred.tenant_id is None or self._lookup.tenant_status(cred.tenant_id) == "ACTIVE"
            )
        except StoreError as exc:
            logger.warning("client lookup failed: %s", exc)
            raise ServiceUnavailable() from None
        if cred is None:
            burn_time(self._settings.scrypt_n)
            raise InvalidClient()
        self._count_request(cred.tenant_id, cred.client_id)
        if not verify_secret(secret, cred.secret_hash):
            if self._on_failed_secret is not None:
                self._on_failed_secret(cred, request_id)
            raise InvalidClient()
        if cred.status != "ACTIVE" or not tenant_ok:
            raise InvalidClient()
        return cred


def _client_credentials(headers: Mapping[str, str], form: Mapping[str, str]) -> tuple[str, str]:
    authorization = headers.get("authorization")
    from_form = "client_secret" in form
    if authorization and authorization.split(" ", 1)[0].lower() == "basic":
        if from_form:
            raise InvalidRequest("Use exactly one client authentication method.")
        try:
            raw = base64.b64decode(authorization.split(" ", 1)[1].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, IndexError):
            raise InvalidClient("Malformed Basic credentials.") from None
        client_id, sep, secret = raw.partition(":")
        if not sep:
            raise InvalidClient("Malformed Basic credentials.")
        client_id, secret = unquote(client_id), unquote(secret)
        if form.get("client_id") not in (None, client_id):
            raise InvalidRequest("client_id does not match the authenticated client.")
    elif from_form:
        client_id, secret = form.get("client_id", ""), form["client_secret"]
    else:
        raise InvalidClient("Client authentication is required.")
    if not client_id or not secret or len(client_id) > MAX_CLIENT_ID or len(secret) > MAX_SECRET:
        raise InvalidClient()
    return client_id, secret


def api_token_claims(
    cred: CredentialModel, *, issuer: str, audience: str, now: int, ttl: int, jti: str
) -> dict[str, Any]:
    """Claims of an access token for VaultGuard's own API (never a delegation token)."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": cred.subject,
        "aud": audience,
        "client_id": cred.client_id,
        "role": cred.role,
        "cv": int(cred.cred_version),
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": jti,
    }
    if cred.tenant_id:
        claims["tenant_id"] = cred.tenant_id
    return claims
