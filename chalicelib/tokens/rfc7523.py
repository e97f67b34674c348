"""JWT client assertions (RFC 7523 §2.2 and §3, OpenID Connect Core §9 `private_key_jwt`).

Two halves: the public JWK set an agent registers (`parse_jwks`: public keys only, RS256 of
at least 2048 bits, ES256 on P-256, EdDSA on Ed25519) and the check of an assertion signed
with one of them (`verify_assertion`). PyJWT is called here, as in the rest of `tokens/`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PRIVATE_KEY_JWT = "private_key_jwt"
SIGNING_ALGS = ("RS256", "ES256", "EdDSA")
MAX_KEYS = 5
MIN_RSA_BITS = 2048
MAX_ASSERTION = 8192
MAX_LIFETIME = 300  # seconds: `exp` at most this far ahead, `iat` at most this old
LEEWAY = 30
JTI = re.compile(r"[\x21-\x7e]{1,128}")
KID = re.compile(r"[\x21-\x7e]{1,128}")
# `typ` values of tokens that are not client assertions (an access token, an ID token's
# logout sibling...): a token minted for something else is never an assertion.
_ACCEPTED_TYP = {"jwt", "client-authentication+jwt"}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_PUBLIC_MEMBERS = {
    "RSA": frozenset({"kty", "n", "e", "alg", "kid", "use", "key_ops"}),
    "EC": frozenset({"kty", "crv", "x", "y", "alg", "kid", "use", "key_ops"}),
    "OKP": frozenset({"kty", "crv", "x", "alg", "kid", "use", "key_ops"}),
}
_ALG_OF = {"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}


class InvalidJwks(ValueError):
    """A JWK set that cannot be registered; the message says why (shown to the admin)."""


class AssertionRejected(Exception):
    """A client assertion that does not authenticate its client; `reason` for the log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_jwks(value: Any) -> list[dict[str, str]]:
    """The registered form of a public JWK set: each key with its `alg`, private and unknown
    members refused, at most `MAX_KEYS` keys, `kid` unique (required beside another key)."""
    if not isinstance(value, Mapping) or set(value) != {"keys"} or not isinstance(value["keys"], list):
        raise InvalidJwks("jwks must be an object {keys: [...]}.")
    keys = value["keys"]
    if not 1 <= len(keys) <= MAX_KEYS:
        raise InvalidJwks(f"jwks must hold 1 to {MAX_KEYS} keys.")
    out = [_public_jwk(key) for key in keys]
    kids = [key.get("kid") for key in out]
    if len(out) > 1 and (None in kids or len(set(kids)) != len(kids)):
        raise InvalidJwks("Every key needs a distinct kid when there are several.")
    return out


def _public_jwk(key: Any) -> dict[str, str]:
    if not isinstance(key, Mapping) or not all(isinstance(k, str) for k in key):
        raise InvalidJwks("Each key must be a JSON object.")
    if _PRIVATE_MEMBERS & set(key):
        raise InvalidJwks("Only public keys may be registered (private key members were sent).")
    kty = key.get("kty")
    if kty == "oct":
        raise InvalidJwks("Symmetric keys (kty oct) are not accepted.")
    if not isinstance(kty, str) or kty not in _PUBLIC_MEMBERS:
        raise InvalidJwks("kty must be RSA, EC or OKP.")
    unknown = set(key) - _PUBLIC_MEMBERS[kty]
    if unknown:
        raise InvalidJwks(f"Unknown key member(s): {', '.join(sorted(unknown))}.")
    alg = key.get("alg", _ALG_OF[kty])
    if alg != _ALG_OF[kty]:
        raise InvalidJwks(f"alg must be one of {', '.join(SIGNING_ALGS)} and match the key type.")
    if key.get("use", "sig") != "sig":
        raise InvalidJwks("use must be sig.")
    if "key_ops" in key and key["key_ops"] != ["verify"]:
        raise InvalidJwks('key_ops must be ["verify"].')
    if "kid" in key and not (isinstance(key["kid"], str) and KID.fullmatch(key["kid"])):
        raise InvalidJwks("kid must be 1 to 128 printable ASCII characters.")
    members = {k: v for k, v in key.items() if k not in ("use", "key_ops")}
    if not all(isinstance(v, str) for v in members.values()):
        raise InvalidJwks("Key members must be strings.")
    members["alg"] = alg
    try:
        public = jwt.PyJWK(members, alg).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
        raise InvalidJwks("A key could not be read as a public key of its type.") from None
    if kty == "RSA" and (not isinstance(public, rsa.RSAPublicKey) or public.key_size < MIN_RSA_BITS):
        raise InvalidJwks(f"RSA keys must have at least {MIN_RSA_BITS} bits.")
    if kty == "EC" and (not isinstance(public, ec.EllipticCurvePublicKey) or members.get("crv") != "P-256"):
        raise InvalidJwks("EC keys must be on P-256 (ES256).")
    if kty == "OKP" and (not isinstance(public, ed25519.Ed25519PublicKey) or members.get("crv") != "Ed25519"):
        raise InvalidJwks("OKP keys must be Ed25519 (EdDSA).")
    return members


@dataclass(frozen=True)
class KeyEntry:
    """One usable public key: its `kid` (None when the set has one key without), the one
    algorithm it verifies, the key object."""

    kid: str | None
    alg: str
    key: Any


KeySource = Callable[[str | None], Sequence[KeyEntry]]
"""The keys to check a token with, given its `kid` (a published set may fetch again for an
unknown one)."""

MAX_PUBLISHED_KEYS = 20


@lru_cache(maxsize=512)
def _key_objects(jwks_json: str) -> tuple[KeyEntry, ...]:
    """The key objects of a stored JWK set, built once per process and set."""
    return tuple(
        KeyEntry(key.get("kid"), key["alg"], jwt.PyJWK(key, key["alg"]).key) for key in json.loads(jwks_json)
    )


def registered_keys(jwks_json: str) -> KeySource:
    return lambda kid: _key_objects(jwks_json)


def usable_keys(document: Mapping[str, Any]) -> tuple[KeyEntry, ...]:
    """The keys of a *published* JWK set (an agent's `jwks_uri`, an issuer's JWKS) that the
    registration rules accept (`_public_jwk`); members they do not know (`x5c`, `x5t`...) are
    dropped, and keys for encryption, of other types or too weak are left out rather than
    refusing the set. InvalidJwks when it is not a JWK set at all."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise InvalidJwks("not a JWK set")
    out: list[KeyEntry] = []
    for raw in entries[:MAX_PUBLISHED_KEYS]:
        if not isinstance(raw, Mapping) or _PRIVATE_MEMBERS & set(raw) or raw.get("use", "sig") != "sig":
            continue
        kty = raw.get("kty")
        allowed = _PUBLIC_MEMBERS.get(kty) if isinstance(kty, str) else None
        if allowed is None:
            continue
        member = {k: v for k, v in raw.items() if k in allowed and k != "key_ops"}
        try:
            jwk = _public_jwk(member)
            out.append(KeyEntry(jwk.get("kid"), jwk["alg"], jwt.PyJWK(jwk, jwk["alg"]).key))
        except (InvalidJwks, jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
    return tuple(out)


def pick_key(keys: KeySource, kid: Any, alg: Any) -> KeyEntry:
    """The one key for a token's header: by `kid`, or the only key of a set when none is
    named; its algorithm must be the header's (RFC 8725 §3.1)."""
    if kid is not None and not isinstance(kid, str):
        raise AssertionRejected("kid must be a string")
    available = keys(kid)
    if kid is not None:
        candidates = [k for k in available if k.kid == kid]
    else:
        candidates = list(available) if len(available) == 1 else []
    if len(candidates) != 1:
        raise AssertionRejected("no registered key for the token's kid")
    if candidates[0].alg != alg:
        raise AssertionRejected("algorithm does not match the key")
    return candidates[0]


@dataclass(frozen=True)
class VerifiedAssertion:
    jti: str
    exp: int


def signed_claims(token: str, keys: KeySource, *, max_length: int, accepted_typ: set[str]) -> dict[str, Any]:
    """The claims of a JWT signed by one of `keys` (by `kid`, or the only key, under that key's
    algorithm; RFC 8725: the algorithm allow-list, `typ` if sent, no `crit`); the claims
    themselves are the caller's to check. AssertionRejected with a reason for the log."""
    if len(token) > max_length:
        raise AssertionRejected("token too large")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AssertionRejected("malformed token") from None
    alg, typ = header.get("alg"), header.get("typ")
    if alg not in SIGNING_ALGS:  # none, HS256 and the rest are refused
        raise AssertionRejected(f"algorithm {alg!r} not allowed")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in accepted_typ):
        raise AssertionRejected(f"typ {typ!r} not accepted")
    if "crit" in header:
        raise AssertionRejected("crit not supported")
    entry = pick_key(keys, header.get("kid"), alg)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            entry.key,
            algorithms=[entry.alg],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        raise AssertionRejected(f"signature: {type(exc).__name__}") from None
    return claims


def unverified_client_id(assertion: str) -> str | None:
    """The client an assertion says it comes from (`sub`, RFC 7523 §3 B), before any check:
    only to find the credential whose keys then check it."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


def verify_assertion(
    assertion: str, keys: KeySource, *, client_id: str, audiences: Iterable[str], now: int
) -> VerifiedAssertion:
    """RFC 7523 §3: signature by a registered key (by `kid`, or the only key) under that
    key's algorithm; `iss` = `sub` = the client; `aud` names this server (the issuer or the
    token endpoint, nothing else); `exp` required, at most `MAX_LIFETIME` ahead; `iat`, if
    sent, not older than that; `jti` required (its single use is the caller's)."""
    claims = signed_claims(assertion, keys, max_length=MAX_ASSERTION, accepted_typ=_ACCEPTED_TYP)
    _check_claims(claims, client_id=client_id, audiences=set(audiences), now=now)
    return VerifiedAssertion(jti=claims["jti"], exp=claims["exp"])


def _number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_claims(claims: Mapping[str, Any], *, client_id: str, audiences: set[str], now: int) -> None:
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AssertionRejected("iss and sub must both be the client id")
    aud = claims.get("aud")
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    if not named or not all(isinstance(a, str) and a in audiences for a in named):
        raise AssertionRejected("aud must name this server only")
    exp: Any = claims.get("exp")
    if not _number(exp):
        raise AssertionRejected("exp required")
    if exp <= now - LEEWAY:
        raise AssertionRejected("expired")
    if exp > now + MAX_LIFETIME + LEEWAY:
        raise AssertionRejected("exp too far ahead")
    iat: Any = claims.get("iat")
    if iat is not None and (not _number(iat) or iat > now + LEEWAY or iat < now - MAX_LIFETIME - LEEWAY):
        raise AssertionRejected("iat stale or in the future")
    nbf: Any = claims.get("nbf")
    if nbf is not None and (not _number(nbf) or nbf > now + LEEWAY):
        raise AssertionRejected("not yet valid")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not JTI.fullmatch(jti):
        raise AssertionRejected("jti required (1 to 128 printable ASCII characters)")
