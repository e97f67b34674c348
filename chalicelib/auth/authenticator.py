"""Who is calling: a client secret (token endpoint) or a VaultGuard API bearer token.

Authentication is split in two so that it costs no round trip of its own: a *claim* is what
the request presents, checked as far as possible without the store (a bearer token's
signature and claims; a client id's form), and names the items that confirm it (credential,
tenant). The request's one batched read fetches those items together with its own, and the
claim is confirmed against them before anything is acted upon (`chalicelib.auth.gate`).

The tenant of a request comes only from here: from the verified token, or from the client
id (which names its tenant) and the credential record it leads to.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from chalicelib.auth.secrets import SecretHasher
from chalicelib.config import Settings
from chalicelib.domain import ids
from chalicelib.domain.delegation import API_TOKEN_TYP
from chalicelib.domain.principal import AMR_VALUES, Principal, Role, amr_of
from chalicelib.errors import DPoPChallenge, InvalidClient, InvalidDPoPProof, InvalidRequest, InvalidToken
from chalicelib.observability import logger
from chalicelib.store.credentials import AuthenticationLookup
from chalicelib.store.keys import credential_key, tenant_key
from chalicelib.store.models import CredentialModel, TenantModel
from chalicelib.store.reads import Key, Snapshot
from chalicelib.tokens import TokenRejected, TokenVerifier
from chalicelib.tokens.dpop import ALGORITHMS as DPOP_ALGORITHMS
from chalicelib.tokens.dpop import DPoPProof, DPoPRejected, verify_proof

API_TOKEN_CLAIMS = ("client_id", "role", "cv")
MAX_CLIENT_ID = 128
MAX_SECRET = 256


def principal_of(cred: CredentialModel) -> Principal:
    return Principal(
        role=Role(cred.role),
        subject=cred.subject,
        client_id=cred.client_id,
        tenant_id=cred.tenant_id,
        auth_method=amr_of(cred.auth_method),
    )


def _active_tenant(snapshot: Snapshot, key: Key | None) -> bool:
    if key is None:  # the platform operator has no tenant
        return True
    tenant = snapshot.get(TenantModel, key)
    return tenant is not None and tenant.status == "ACTIVE"


@dataclass(frozen=True)
class BearerClaim:
    """A VaultGuard API token whose signature and claims check out; the credential it names
    must still be active, at the same version, for the token to count (rotation and disable
    take effect at once)."""

    principal: Principal
    cred_version: Any
    cred_key: Key
    tenant_key: Key | None
    dpop: DPoPProof | None = None  # the request's verified DPoP proof, if it sent one

    @property
    def tenant_id(self) -> str | None:
        return self.principal.tenant_id

    def keys(self) -> list[Key]:
        return [self.cred_key] + ([self.tenant_key] if self.tenant_key else [])

    def confirm(self, snapshot: Snapshot) -> Principal:
        cred = snapshot.get(CredentialModel, self.cred_key)
        if (
            cred is None
            or not _active_tenant(snapshot, self.tenant_key)
            or cred.status != "ACTIVE"
            or cred.cred_version != self.cred_version
            or cred.role != self.principal.role.value
            or cred.subject != self.principal.subject
            or cred.tenant_id != self.principal.tenant_id
        ):
            raise InvalidToken()
        if self.dpop is not None:
            record_dpop_jti(cred.pk, cred.client_id, self.dpop)
        return self.principal


def record_dpop_jti(pk: str, client_id: str, proof: DPoPProof) -> None:
    """Accept the proof's jti once (RFC 9449 §11.1): recorded in the transaction the request
    commits anyway (`store/dpop_proofs.py`), which a replay aborts."""
    from chalicelib.services.ratelimit import defer_write
    from chalicelib.store.dpop_proofs import DPoPProofRepository

    now, repository = int(time.time()), DPoPProofRepository()
    defer_write(lambda tx: repository.record(tx, pk, client_id, proof.jkt, proof.jti, proof.expires, now))


@dataclass(frozen=True)
class DPoPEvidence:
    """A request's `DPoP` header and what its proof must match (RFC 9449 §4.3)."""

    proof: str | None
    method: str
    url: str
    now: float

    def verify(self, access_token: str | None = None) -> DPoPProof:
        return verify_proof(
            self.proof, method=self.method, url=self.url, now=self.now, access_token=access_token
        )


DPOP_ALGS = " ".join(DPOP_ALGORITHMS)


def _dpop_refusal(description: str, error: str = "invalid_dpop_proof") -> DPoPChallenge:
    return DPoPChallenge(description, error=error, algs=DPOP_ALGS)


@dataclass(frozen=True)
class FailedAttempt:
    """A client authentication that failed: for the failure budgets and the aggregated audit."""

    client_id: str
    source: str
    credential: CredentialModel | None
    request_id: str


@dataclass
class ClientSecretClaim:
    """`client_id` + `client_secret` (RFC 6749 §2.3.1). The client id names its tenant, so the
    credential's key is known before any read; ids of the older form are resolved through the
    client-id index first (one extra read, for clients created before that change)."""

    client_id: str
    secret: str
    source: str
    request_id: str
    cred_key: Key | None
    tenant_id: str | None
    hasher: SecretHasher
    failure_check: Callable[[FailedAttempt, Snapshot], None]
    source_check: Callable[[str, Snapshot], None]
    failure_keys: list[Key] = field(default_factory=list)  # the failure counters to read
    credential: CredentialModel | None = None

    @property
    def tenant_key(self) -> Key | None:
        return tenant_key(self.tenant_id) if self.tenant_id else None

    @property
    def presumed_agent(self) -> Principal | None:
        """The agent this client id names, if it is an agent's: lets a use case name the
        agent's items before the read that confirms it (the read must then agree)."""
        agent_id = ids.agent_of_client_id(self.client_id)
        if agent_id is None or self.tenant_id is None:
            return None
        return Principal(
            role=Role.AGENT, subject=agent_id, client_id=self.client_id, tenant_id=self.tenant_id
        )

    def keys(self) -> list[Key]:
        keys = list(self.failure_keys)
        if self.cred_key is not None:
            keys.append(self.cred_key)
            if self.tenant_key is not None:
                keys.append(self.tenant_key)
        return keys

    def confirm(self, snapshot: Snapshot) -> Principal:
        self.source_check(self.source, snapshot)  # a source over its failure budget: 429
        cred = snapshot.get(CredentialModel, self.cred_key)
        if cred is None:
            self.hasher.burn()
            self.failure_check(FailedAttempt(self.client_id, self.source, None, self.request_id), snapshot)
            raise InvalidClient()
        if cred.auth_method is not None or not self.hasher.verify(self.secret, cred.secret_hash):
            # a key-only client (private_key_jwt) has no secret to present: no downgrade
            self.failure_check(FailedAttempt(self.client_id, self.source, cred, self.request_id), snapshot)
            raise InvalidClient()
        if cred.status != "ACTIVE" or not _active_tenant(snapshot, self.tenant_key):
            raise InvalidClient()
        self.credential = cred
        return principal_of(cred)


class Authenticator:
    def __init__(
        self,
        settings: Settings,
        lookup: AuthenticationLookup,
        verifier: Callable[[], TokenVerifier],
        hasher: SecretHasher,
        failure_check: Callable[[FailedAttempt, Snapshot], None] | None = None,
        source_check: Callable[[str, Snapshot], None] | None = None,
        failure_keys: Callable[[str, str | None, str], list[Key]] | None = None,
        remote_keys: Callable[[], Any] | None = None,
    ) -> None:
        self._settings = settings
        self._lookup = lookup
        self._verifier = verifier
        self.hasher = hasher
        self._failure_check = failure_check or (lambda attempt, snapshot: None)
        self._source_check = source_check or (lambda source, snapshot: None)
        self._failure_keys = failure_keys or (lambda source, tenant_id, client_id: [])
        self._remote_keys = remote_keys  # keys published at agents' jwks_uri (tokens/remote_jwks.py)

    def bearer(self, authorization: str | None, dpop: DPoPEvidence | None = None) -> BearerClaim:
        """The claim of an `Authorization: Bearer <API token>` header (RFC 6750), or of
        `Authorization: DPoP <bound API token>` with its proof (RFC 9449 §7): signature,
        issuer, audience, type, expiry and the proof checked here; the credential (and the
        proof's jti) by the caller's read and transaction.

        A DPoP-bound token sent as Bearer is refused. A proof sent along a plain Bearer token
        is checked too (it binds what the request obtains, such as a delegation)."""
        if not authorization:
            raise InvalidToken("An Authorization: Bearer token is required.")
        scheme, _, token = authorization.strip().partition(" ")
        scheme, token = scheme.lower(), token.strip()
        if scheme not in ("bearer", "dpop") or not token:
            raise InvalidToken("The Authorization header must use the Bearer or DPoP scheme.")
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
        proof = self._proof(scheme, token, claims.get("cnf"), dpop)
        tenant_id, client_id = claims.get("tenant_id"), claims.get("client_id")
        role, subject = claims.get("role"), claims.get("sub")
        if (
            not isinstance(client_id, str)
            or not isinstance(subject, str)
            or not (tenant_id is None or (isinstance(tenant_id, str) and ids.TENANT_ID.fullmatch(tenant_id)))
            or role not in {r.value for r in Role}
            or (role == Role.PLATFORM.value) != (tenant_id is None)
        ):
            raise InvalidToken()
        amr = claims.get("amr")  # how the token was obtained; absent on tokens older than it
        method = amr[0] if isinstance(amr, list) and len(amr) == 1 and amr[0] in AMR_VALUES else None
        principal = Principal(
            role=Role(role), subject=subject, client_id=client_id, tenant_id=tenant_id, auth_method=method
        )
        return BearerClaim(
            principal=principal,
            cred_version=claims.get("cv"),
            cred_key=credential_key(tenant_id, client_id),
            tenant_key=tenant_key(tenant_id) if tenant_id else None,
            dpop=proof,
        )

    @staticmethod
    def _proof(scheme: str, token: str, cnf: Any, dpop: DPoPEvidence | None) -> DPoPProof | None:
        """RFC 9449 §7.1-7.2: a bound token (`cnf.jkt`) only with the DPoP scheme and a proof
        by that key whose `ath` is the token's hash; the DPoP scheme only for a bound token."""
        bound = cnf.get("jkt") if isinstance(cnf, dict) else None
        if cnf is not None and not isinstance(bound, str):
            raise InvalidToken()
        presented = dpop is not None and bool(dpop.proof)
        if scheme == "bearer":
            if bound is not None:
                raise _dpop_refusal("A DPoP-bound token is sent as Authorization: DPoP.", "invalid_token")
            if not presented:
                return None
            assert dpop is not None
            try:  # a proof along a plain token: the key that what the request obtains binds to
                return dpop.verify()
            except DPoPRejected as exc:
                raise InvalidDPoPProof(f"The DPoP proof was refused ({exc.reason}).") from None
        if bound is None:
            raise _dpop_refusal("The access token is not DPoP-bound; send it as Bearer.", "invalid_token")
        if dpop is None or not presented:
            raise _dpop_refusal("A DPoP proof is required with a DPoP-bound token.")
        try:
            proof = dpop.verify(access_token=token)
        except DPoPRejected as exc:
            raise _dpop_refusal(f"The DPoP proof was refused ({exc.reason}).") from None
        if proof.jkt != bound:
            raise _dpop_refusal("The DPoP proof is signed by another key than the token's.")
        return proof

    def client(
        self,
        headers: Mapping[str, str],
        form: Mapping[str, str],
        *,
        source: str,
        request_id: str,
        now: int | None = None,
    ) -> ClientSecretClaim:
        """The claim of client authentication at the token endpoint (RFC 6749 §2.3.1: basic
        or post; or a JWT client assertion, RFC 7523 §2.2); the secret or the assertion is
        checked when the request's read brings the credential."""
        if "client_assertion" in form or "client_assertion_type" in form:
            return self._assertion(headers, form, source=source, request_id=request_id, now=now)
        client_id, secret = _client_credentials(headers, form)
        return self._claim(ClientSecretClaim, client_id, secret, source, request_id)

    def _assertion(
        self,
        headers: Mapping[str, str],
        form: Mapping[str, str],
        *,
        source: str,
        request_id: str,
        now: int | None,
    ) -> ClientSecretClaim:
        from chalicelib.auth.private_key_jwt import PrivateKeyJwtClaim
        from chalicelib.tokens.rfc7523 import ASSERTION_TYPE, unverified_client_id

        authorization = headers.get("authorization") or ""
        if "client_secret" in form or authorization.split(" ", 1)[0].lower() == "basic":
            raise InvalidRequest("Use exactly one client authentication method.")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}.")
        assertion = form.get("client_assertion") or ""
        client_id = unverified_client_id(assertion) if assertion else None
        if not client_id or len(client_id) > MAX_CLIENT_ID:
            raise InvalidClient("client_assertion is not a JWT naming its client in sub.")
        if form.get("client_id") not in (None, client_id):
            raise InvalidRequest("client_id does not match the client assertion.")
        claim = self._claim(PrivateKeyJwtClaim, client_id, "", source, request_id)
        assert isinstance(claim, PrivateKeyJwtClaim)
        claim.assertion = assertion
        claim.remote_keys = self._remote_keys
        issuer = self._settings.issuer
        claim.audiences = (issuer, f"{issuer}/oauth/token")
        claim.now = int(time.time()) if now is None else now
        return claim

    def _claim(
        self, kind: type[ClientSecretClaim], client_id: str, secret: str, source: str, request_id: str
    ) -> ClientSecretClaim:
        home = ids.tenant_of_client_id(client_id)
        if home is not None:
            (tenant_id,) = home
            key: Key | None = credential_key(tenant_id, client_id)
        else:
            legacy = self._lookup.by_client_id(client_id)
            key = Key(legacy.pk, legacy.sk) if legacy is not None else None
            tenant_id = legacy.tenant_id if legacy is not None else None
        return kind(
            client_id=client_id,
            secret=secret,
            source=source,
            request_id=request_id,
            cred_key=key,
            tenant_id=tenant_id,
            hasher=self.hasher,
            failure_check=self._failure_check,
            source_check=self._source_check,
            failure_keys=self._failure_keys(source, tenant_id, client_id),
        )


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
    cred: CredentialModel, *, issuer: str, audience: str, now: int, ttl: int, jti: str, jkt: str | None = None
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
    if cred.role == Role.AGENT.value:  # how it authenticated (a policy may require keys)
        claims["amr"] = [amr_of(cred.auth_method)]
    if jkt is not None:  # RFC 9449 §6.1: bound to the key of the token request's proof
        claims["cnf"] = {"jkt": jkt}
    return claims


__all__ = [
    "Authenticator",
    "BearerClaim",
    "ClientSecretClaim",
    "DPoPEvidence",
    "FailedAttempt",
    "api_token_claims",
    "principal_of",
]
