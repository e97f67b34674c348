"""ID token validation for the OIDC relying party (OIDC Core §3.1.3.7, RFC 8725).

Only RS256 and ES256 are accepted, and only with a key taken by `kid` from the provider's
own JWKS (never `jku`, `jwk`, `x5u`, `x5c`). The JWKS is turned into key objects once,
re-fetched after an hour, and re-fetched early for an unknown `kid` (key rotation) at most
once a minute, so that tokens with forged `kid`s cannot make us hammer the provider.
Signatures are checked with `cryptography` directly; this module is imported by the first
validation, not by `chalicelib.auth.oidc`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import threading
from collections.abc import Callable
from typing import Any, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from chalicelib.tokens.jwt_codec import MalformedJWS, parse_compact, parse_json_object

from .oidc import IdentityClaims, ProviderConfig, ProviderUnavailable, SignInRejected

__all__ = ["ALGORITHMS", "LEEWAY_SECONDS", "ProviderKeys", "validate"]

ALGORITHMS = frozenset({"RS256", "ES256"})
LEEWAY_SECONDS = 60
JWKS_TTL_SECONDS = 3600.0
UNKNOWN_KID_REFETCH_SECONDS = 60.0
MAX_ID_TOKEN_LENGTH = 16 * 1024
MIN_RSA_BITS = 2048

PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
_PKCS1 = padding.PKCS1v15()
_ECDSA = ec.ECDSA(hashes.SHA256())


def _b64url_int(value: object, length: int | None = None) -> int:
    if not isinstance(value, str) or not value:
        raise ValueError("missing member")
    data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if length is not None and len(data) != length:
        raise ValueError("wrong length")
    return int.from_bytes(data, "big")


def _load_jwk(jwk: dict[str, Any]) -> tuple[str, PublicKey]:
    """(alg, key) for an RSA (≥ 2048 bits) or EC P-256 signing key; ValueError otherwise."""
    if jwk.get("use", "sig") != "sig":
        raise ValueError("not a signing key")
    kty = jwk.get("kty")
    if kty == "RSA":
        alg = "RS256"
        numbers = rsa.RSAPublicNumbers(_b64url_int(jwk.get("e")), _b64url_int(jwk.get("n")))
        key: PublicKey = numbers.public_key()
        if key.key_size < MIN_RSA_BITS:
            raise ValueError("RSA key too small")
    elif kty == "EC" and jwk.get("crv") == "P-256":
        alg = "ES256"
        x, y = _b64url_int(jwk.get("x"), 32), _b64url_int(jwk.get("y"), 32)
        key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()  # checks the point
    else:
        raise ValueError("unsupported key type")
    if jwk.get("alg", alg) != alg:  # a key published for another algorithm is not used for this one
        raise ValueError("key published for another algorithm")
    return alg, key


def parse_jwks(document: dict[str, Any]) -> dict[str, dict[str, PublicKey]]:
    """kid -> alg -> key. Keys without a kid, or that cannot be used, are left out."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ProviderUnavailable("jwks_malformed")
    keys: dict[str, dict[str, PublicKey]] = {}
    for jwk in entries:
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        if not isinstance(kid, str) or not kid:
            continue
        try:
            alg, key = _load_jwk(jwk)
        except (ValueError, TypeError, binascii.Error):
            continue
        keys.setdefault(kid, {}).setdefault(alg, key)
    return keys


class ProviderKeys:
    """The provider's signing keys as key objects, by kid and algorithm."""

    def __init__(self, fetch: Callable[[], dict[str, Any]], clock: Callable[[], float]) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, dict[str, PublicKey]] | None = None
        self._fetched_at = -math.inf  # the last attempt, successful or not
        self._expires = -math.inf

    def key(self, kid: str, alg: str) -> PublicKey:
        with self._lock:
            now = self._clock()
            if self._keys is None or now >= self._expires:
                self._refresh(now)
            assert self._keys is not None
            if kid not in self._keys and now - self._fetched_at >= UNKNOWN_KID_REFETCH_SECONDS:
                self._refresh(now)  # the provider may have rotated its keys
            by_alg = self._keys.get(kid)
        if by_alg is None:
            raise SignInRejected("unknown_kid")
        key = by_alg.get(alg)
        if key is None:
            raise SignInRejected("kid_not_for_this_alg")
        return key

    def _refresh(self, now: float) -> None:
        self._fetched_at = now
        keys = parse_jwks(self._fetch())
        self._keys = keys
        self._expires = now + JWKS_TTL_SECONDS


def _signature_valid(alg: str, key: PublicKey, signing_input: bytes, signature: bytes) -> bool:
    try:
        if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, _PKCS1, hashes.SHA256())
            return True
        if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey) and len(signature) == 64:
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, _ECDSA)  # JWS R||S (RFC 7518 §3.4)
            return True
    except InvalidSignature:
        pass
    return False


def _numeric_date(claims: dict[str, Any], name: str) -> int | None:
    """RFC 7519 §2 NumericDate (a finite JSON number, not a boolean), or None when absent."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SignInRejected(f"invalid_{name}")
    return int(value)


def _optional_str(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


def validate(
    id_token: str,
    *,
    keys: ProviderKeys,
    config: ProviderConfig,
    nonce: str,
    max_age: int | None,
    now: float,
) -> IdentityClaims:
    """The identity in ``id_token``, or SignInRejected naming the first check that failed."""
    if not isinstance(id_token, str) or len(id_token) > MAX_ID_TOKEN_LENGTH:
        raise SignInRejected("malformed_id_token")
    try:
        jws = parse_compact(id_token)
    except MalformedJWS:
        raise SignInRejected("malformed_id_token") from None
    header = jws.header
    alg = header.get("alg")
    if alg not in ALGORITHMS:  # RFC 8725 §3.1: "none", HS256 and the rest are refused
        raise SignInRejected("unsupported_alg")
    if "crit" in header:  # RFC 7515 §4.1.11: no extension is understood
        raise SignInRejected("unsupported_crit")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in ("jwt", "application/jwt")):
        raise SignInRejected("wrong_typ")  # e.g. an at+jwt access token is not an ID token
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise SignInRejected("missing_kid")
    if not _signature_valid(alg, keys.key(kid, alg), jws.signing_input, jws.signature):
        raise SignInRejected("bad_signature")
    try:
        claims = parse_json_object(jws.payload(), "payload")
    except MalformedJWS:
        raise SignInRejected("malformed_id_token") from None
    return _checked_claims(claims, id_token, config, nonce, max_age, now)


def _checked_claims(
    claims: dict[str, Any], id_token: str, config: ProviderConfig, nonce: str, max_age: int | None, now: float
) -> IdentityClaims:
    """OIDC Core §3.1.3.7 steps 2-4 and 9-13 (the signature, steps 6-8, is already checked)."""
    if claims.get("iss") != config.issuer:  # step 2: exact match
        raise SignInRejected("wrong_issuer")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise SignInRejected("wrong_audience")
    if config.client_id not in audiences:  # step 3
        raise SignInRejected("wrong_audience")
    azp = claims.get("azp")
    if len(set(audiences)) > 1 and azp is None:  # step 4 (and §2: azp when several audiences)
        raise SignInRejected("azp_missing")
    if azp is not None and azp != config.client_id:
        raise SignInRejected("azp_mismatch")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:  # §2
        raise SignInRejected("invalid_sub")
    exp, iat, nbf = (_numeric_date(claims, name) for name in ("exp", "iat", "nbf"))
    if exp is None or iat is None:
        raise SignInRejected("missing_exp_or_iat")
    if exp <= now - LEEWAY_SECONDS:  # step 9
        raise SignInRejected("expired")
    if iat > now + LEEWAY_SECONDS:  # step 10
        raise SignInRejected("iat_in_future")
    if nbf is not None and nbf > now + LEEWAY_SECONDS:
        raise SignInRejected("not_yet_valid")
    got_nonce = claims.get("nonce")  # step 11, in constant time
    if not isinstance(got_nonce, str) or not hmac.compare_digest(got_nonce.encode(), nonce.encode()):
        raise SignInRejected("nonce_mismatch")
    auth_time = _numeric_date(claims, "auth_time")
    if max_age is not None:  # step 13
        if auth_time is None:
            raise SignInRejected("auth_time_missing")
        if auth_time + max_age < now - LEEWAY_SECONDS:
            raise SignInRejected("auth_time_too_old")
    if auth_time is not None and auth_time > now + LEEWAY_SECONDS:
        raise SignInRejected("auth_time_in_future")
    tenant = _optional_str(claims, config.tenant_claim) if config.tenant_claim else None
    return IdentityClaims(
        issuer=config.issuer,
        subject=subject,
        email=_optional_str(claims, "email"),
        email_verified=claims.get("email_verified") is True,
        name=_optional_str(claims, "name"),
        auth_time=auth_time,
        tenant_hint=tenant,
        id_token=id_token,
    )
