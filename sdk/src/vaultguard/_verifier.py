"""Receiving side: verify a VaultGuard delegation token (RFC 8725, RFC 9068; "Tokens" in
VaultGuard's docs/architecture.md).

Every check the server makes offline is made here too: RS256 only, the key only from the
issuer's JWKS by ``kid``, no ``crit``, ``typ`` = ``at+jwt``, exact ``iss`` and ``aud``,
required and well-typed claims; with ``receiving_tenant_id=`` also the receiving tenant. With
``status_list=True`` revoked delegations are refused offline too: the token's status list
entry is read from lists kept fresh in the background (``_status_list.py``). An optional
``introspect`` callable adds the registry check (an HTTP call per token).
``InvalidDelegationToken.reason`` is machine-readable and uses the server's vocabulary;
``ServiceUnavailable`` means "could not check".

A DPoP-bound token (``cnf.jkt``, RFC 9449) is accepted only with a proof by that key for the
request at hand: ``verify(token, dpop_proof=..., method=..., url=...)``; without one it is
refused (reason ``dpop_bound``), as a plain bearer token presented with a proof is
(``not_dpop_bound``). Proofs' ``jti`` are remembered within their window (in memory).

The token is split and base64url-decoded once, and its payload only after the signature
verifies (with PyJWT's RS256 algorithm object, built once): as fast as a bare ``jwt.decode``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm

from ._dpop import ReplayCache, check_proof
from ._errors import InvalidDelegationToken, ServiceUnavailable
from ._jwks import JWKSCache, jwks_url_for
from ._status_list import StatusLists

__all__ = [
    "DELEGATION_TOKEN_TYP",
    "MAX_TOKEN_LENGTH",
    "ActionVerifier",
    "DelegationVerifier",
    "SupportsDPoPVerify",
    "SupportsVerify",
    "VerifiedDelegation",
]

DELEGATION_TOKEN_TYP = "at+jwt"
MAX_TOKEN_LENGTH = 8 * 1024
_COMPACT_JWS = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)")
_REQUIRED = (
    "iss", "aud", "exp", "iat", "nbf", "jti", "sub",
    "scope", "client_id", "tenant_id", "receiving_tenant_id", "act",
)  # fmt: skip
_STRING_CLAIMS = ("jti", "sub", "scope", "client_id", "tenant_id", "receiving_tenant_id")
_TIME_CLAIMS = ("exp", "iat", "nbf")
_RS256 = RSAAlgorithm(RSAAlgorithm.SHA256)  # the only algorithm accepted (RFC 8725 §3.1)

Introspect = Callable[[str], bool | Mapping[str, Any]]


@dataclass(frozen=True)
class VerifiedDelegation:
    """A delegation token that passed every check; what a receiving API may rely on."""

    delegation_id: str  # jti
    agent_id: str  # sub
    client_id: str
    scope: str  # the one action granted
    requesting_tenant_id: str  # tenant_id
    receiving_tenant_id: str
    expires_at: datetime  # exp, UTC
    claims: Mapping[str, Any] = field(repr=False, compare=False)


class SupportsVerify(Protocol):
    def verify(self, token: str, *, action: str | None = None) -> VerifiedDelegation: ...


class SupportsDPoPVerify(Protocol):
    def verify(
        self,
        token: str,
        *,
        action: str | None = None,
        dpop_proof: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> VerifiedDelegation: ...


def normalise_typ(value: object) -> str | None:
    """RFC 7515 §4.1.9: compared case-insensitively; the "application/" prefix is optional."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    if value.startswith("application/"):
        value = value[len("application/") :]
    return value if value and "/" not in value else None


def _check_action(action: str) -> str:
    if not isinstance(action, str) or not action.strip() or "*" in action or " " in action:
        raise ValueError("action must be one concrete action such as 'stock.write'")
    return action


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_JSON = json.JSONDecoder(parse_constant=_reject_constant)  # built once, not per token


class DelegationVerifier:
    """Offline verification against ``issuer``'s JWKS, for tokens addressed to ``audience``.

    ``receiving_tenant_id``, when given, pins the receiving tenant as well: a token whose
    ``receiving_tenant_id`` claim names any other tenant is refused (reason ``wrong_tenant``)
    even if its ``aud`` matches. Pin it: it is your tenant id, and it is what VaultGuard itself
    checks in ``POST /delegations/verify``.

    Build one per process and share it: the JWKS cache and its lock live on the instance.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        introspect: Introspect | None = None,
        *,
        leeway: float = 30,
        clock: Callable[[], float] = time.time,
        jwks: JWKSCache | None = None,
        receiving_tenant_id: str | None = None,
        status_list: bool | StatusLists = False,
        dpop_replays: ReplayCache | None = None,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ValueError("issuer must be a non-empty string")
        if not isinstance(audience, str) or not audience:
            raise ValueError("audience must be a non-empty string")
        if receiving_tenant_id is not None and (
            not isinstance(receiving_tenant_id, str) or not receiving_tenant_id.strip()
        ):
            raise ValueError("receiving_tenant_id must be a non-empty string when given")
        if leeway < 0:
            raise ValueError("leeway must not be negative")
        self.issuer = issuer
        self.audience = audience
        self.receiving_tenant_id = receiving_tenant_id
        self.jwks = jwks or JWKSCache(jwks_url or jwks_url_for(issuer))
        self._introspect = introspect
        self._leeway = leeway
        self._clock = clock
        self.dpop_replays = dpop_replays or ReplayCache()
        # Offline revocation: the token's `status` entry in the issuer's status list.
        self.status_lists: StatusLists | None = (
            status_list
            if isinstance(status_list, StatusLists)
            else StatusLists(issuer, self.jwks)
            if status_list
            else None
        )

    def verify(
        self,
        token: str,
        *,
        action: str | None = None,
        dpop_proof: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> VerifiedDelegation:
        """The verified delegation, or ``InvalidDelegationToken`` / ``ServiceUnavailable``.

        With ``action``, the token's ``scope`` must equal it exactly (reason
        ``insufficient_scope`` otherwise); tokens never carry wildcards. ``dpop_proof`` (the
        request's ``DPoP`` header, sent with ``Authorization: DPoP``), ``method`` and ``url``
        (the request's own) are needed for a DPoP-bound token, and refused for any other.
        """
        if action is not None:
            _check_action(action)
        header, signing_input, payload_segment, signature = _split(token)
        key = self._key_for(header)
        claims = _signed_claims(signing_input, payload_segment, signature, key)
        self._check_claims(claims)
        self._check_binding(token, claims, dpop_proof, method, url)
        expires_at = _utc(claims["exp"])
        if action is not None and claims["scope"] != action:
            raise InvalidDelegationToken("insufficient_scope", f"the delegation does not grant {action!r}")
        if self.status_lists is not None:
            self.status_lists.check(claims.get("status"))
        if self._introspect is not None:
            self._check_registry(token)
        return VerifiedDelegation(
            delegation_id=claims["jti"],
            agent_id=claims["sub"],
            client_id=claims["client_id"],
            scope=claims["scope"],
            requesting_tenant_id=claims["tenant_id"],
            receiving_tenant_id=claims["receiving_tenant_id"],
            expires_at=expires_at,
            claims=MappingProxyType(claims),
        )

    def _check_binding(
        self, token: str, claims: dict[str, Any], proof: str | None, method: str | None, url: str | None
    ) -> None:
        """RFC 9449 §7.1-7.2: a bound token only with a valid proof by its key; a proof only
        with a bound token."""
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if cnf is not None and not isinstance(jkt, str):
            raise InvalidDelegationToken("invalid_claim", "cnf must name the key's thumbprint (jkt)")
        if jkt is None:
            if proof is not None:
                raise InvalidDelegationToken("not_dpop_bound", "the token is not DPoP-bound (use Bearer)")
            return
        if proof is None:
            raise InvalidDelegationToken(
                "dpop_bound", "the token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof"
            )
        if not method or not url:
            raise ValueError("method and url of the request are needed to check a DPoP proof")
        check_proof(
            proof,
            method=method,
            url=url,
            access_token=token,
            jkt=jkt,
            now=self._clock(),
            replays=self.dpop_replays,
        )

    def require_action(self, action: str) -> ActionVerifier:
        """A verifier (and a callable) that also requires ``scope == action``."""
        return ActionVerifier(self, _check_action(action))

    def _key_for(self, header: dict[str, Any]) -> RSAPublicKey:
        if "crit" in header:  # RFC 7515 §4.1.11: we understand no extension
            raise InvalidDelegationToken("bad_header", "no critical header extensions are understood")
        if "b64" in header:  # RFC 7797 unencoded payloads are refused
            raise InvalidDelegationToken("bad_header", "unencoded payloads are refused")
        if header.get("alg") != "RS256":  # RFC 8725 §3.1: exact allow-list
            raise InvalidDelegationToken("unsupported_alg", "only RS256 is accepted")
        if normalise_typ(header.get("typ")) != DELEGATION_TOKEN_TYP:  # RFC 8725 §3.11
            raise InvalidDelegationToken("bad_typ", "not a delegation token (typ at+jwt)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidDelegationToken("bad_header", "kid is missing")
        return self.jwks.get(kid)  # never jku / jwk / x5u / x5c (RFC 8725 §3.10)

    def _check_claims(self, claims: dict[str, Any]) -> None:
        for name in _REQUIRED:
            if claims.get(name) is None or (name == "aud" and claims["aud"] == ""):
                raise InvalidDelegationToken("missing_claim", f"{name} is required")
        if not isinstance(claims["iss"], str) or claims["iss"] != self.issuer:
            raise InvalidDelegationToken("wrong_issuer", "the token is from another issuer")
        if not isinstance(claims["aud"], str) or claims["aud"] != self.audience:
            raise InvalidDelegationToken("wrong_audience", "the token is addressed to someone else")
        for name in _STRING_CLAIMS:
            value = claims[name]
            if not isinstance(value, str) or not value.strip():
                raise InvalidDelegationToken("invalid_claim", f"{name} must be a non-empty string")
        if self.receiving_tenant_id is not None and claims["receiving_tenant_id"] != self.receiving_tenant_id:
            raise InvalidDelegationToken("wrong_tenant", "the delegation is for another receiving tenant")
        for name in _TIME_CLAIMS:
            value = claims[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidDelegationToken("invalid_claim", f"{name} must be a NumericDate")
        if not isinstance(claims["act"], dict):
            raise InvalidDelegationToken("invalid_claim", "act must be an object")
        now = self._clock()
        if claims["exp"] <= now - self._leeway:
            raise InvalidDelegationToken("expired", "the delegation has expired")
        if claims["nbf"] > now + self._leeway:
            raise InvalidDelegationToken("not_yet_valid", "the delegation is not valid yet")
        if claims["iat"] > now + self._leeway:
            raise InvalidDelegationToken("not_yet_valid", "iat is in the future")

    def _check_registry(self, token: str) -> None:
        assert self._introspect is not None
        try:
            answer = self._introspect(token)
        except (InvalidDelegationToken, ServiceUnavailable):
            raise
        except Exception as exc:
            raise ServiceUnavailable(f"revocation check failed: {type(exc).__name__}") from None
        active = answer.get("active") is True if isinstance(answer, Mapping) else answer is True
        if not active:
            raise InvalidDelegationToken("revoked", "the delegation is no longer active")


class ActionVerifier:
    """``DelegationVerifier.require_action(action)``: usable as ``verifier(token)`` too."""

    def __init__(self, base: DelegationVerifier, action: str) -> None:
        self.base = base
        self.action = action

    def verify(
        self,
        token: str,
        *,
        action: str | None = None,
        dpop_proof: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> VerifiedDelegation:
        if action is not None and action != self.action:
            raise ValueError(f"this verifier checks {self.action!r}, not {action!r}")
        return self.base.verify(token, action=self.action, dpop_proof=dpop_proof, method=method, url=url)

    def __call__(self, token: str) -> VerifiedDelegation:
        return self.verify(token)


def _b64url_decode(segment: str) -> bytes:
    """Canonical base64url without padding (RFC 7515 §2); ``segment`` is already known to use
    the base64url alphabet only."""
    if len(segment) % 4 == 1:
        raise InvalidDelegationToken("malformed", "invalid base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidDelegationToken("malformed", "invalid base64url") from None
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != segment:
        raise InvalidDelegationToken("malformed", "non-canonical base64url")
    return data


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = _JSON.decode(data.decode("utf-8"))
    except (ValueError, TypeError, RecursionError):
        raise InvalidDelegationToken("malformed", f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidDelegationToken("malformed", f"the {what} is not a JSON object")
    return value


def _split(token: object) -> tuple[dict[str, Any], bytes, str, bytes]:
    """Split a compact JWS once: (header, signing input, payload segment, signature)."""
    return _split_any(token, MAX_TOKEN_LENGTH)


def _split_any(token: object, max_length: int) -> tuple[dict[str, Any], bytes, str, bytes]:
    if not isinstance(token, str):
        raise InvalidDelegationToken("malformed", "the token is not a string")
    if len(token) > max_length:
        raise InvalidDelegationToken("malformed", "the token is too large")
    match = _COMPACT_JWS.fullmatch(token)
    if match is None:
        raise InvalidDelegationToken("malformed", "not a compact JWS")
    header_segment, payload_segment, signature_segment = match.groups()
    header = _json_object(_b64url_decode(header_segment), "header")
    signature = _b64url_decode(signature_segment)
    signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
    return header, signing_input, payload_segment, signature


def _signed_claims(
    signing_input: bytes, payload_segment: str, signature: bytes, key: RSAPublicKey
) -> dict[str, Any]:
    """Check the RS256 signature with ``key``; only then decode the payload (a JSON object)."""
    if not _RS256.verify(signing_input, key, signature):
        raise InvalidDelegationToken("bad_signature", "the signature does not verify")
    return _json_object(_b64url_decode(payload_segment), "payload")


def _utc(exp: float) -> datetime:
    try:
        return datetime.fromtimestamp(exp, tz=timezone.utc)  # noqa: UP017 (3.10)
    except (OverflowError, OSError, ValueError):
        raise InvalidDelegationToken("invalid_claim", "exp is out of range") from None
