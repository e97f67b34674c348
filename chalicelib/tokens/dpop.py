"""DPoP proofs (RFC 9449): a client proves possession of a key on each request, and tokens
issued to it are bound to that key's RFC 7638 thumbprint (`cnf.jkt`, RFC 9449 §6.1).

`verify_proof` makes every stateless check of §4.3 (typ `dpop+jwt`, an asymmetric alg from
the allow-list, a public `jwk` in the header that verifies the signature, `htm`, `htu`
without query and fragment, `iat` within the window, `ath` when an access token is
presented, `jti` present). What it cannot do alone is the `jti` replay check: the caller
records the jti in the transaction its request commits anyway (`store/dpop_proofs.py`).
Server-provided nonces (§8) are not required by VaultGuard.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm
from jwt.exceptions import InvalidKeyError

from .jwt_codec import MalformedJWS, parse_compact, parse_json_object
from .keys import b64url_encode

__all__ = [
    "ALGORITHMS",
    "MAX_AGE_SECONDS",
    "MAX_PROOF_LENGTH",
    "PROOF_TYP",
    "DPoPProof",
    "DPoPRejected",
    "access_token_hash",
    "jwk_thumbprint",
    "normalise_htu",
    "verify_proof",
]

PROOF_TYP = "dpop+jwt"
MAX_AGE_SECONDS = 60  # how old a proof's iat may be (§11.1)
CLOCK_SKEW_SECONDS = 5  # how far in the future
MAX_PROOF_LENGTH = 4 * 1024
MIN_RSA_BITS = 2048
# The allow-list (RFC 8725 §3.1): asymmetric only, never "none" or an HMAC.
_ALGORITHMS: dict[str, Any] = {
    "ES256": ECAlgorithm(ECAlgorithm.SHA256),
    "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
    "PS256": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256),
    "EdDSA": OKPAlgorithm(),
}
ALGORITHMS = tuple(_ALGORITHMS)
_KTY = {"ES256": "EC", "RS256": "RSA", "PS256": "RSA", "EdDSA": "OKP"}
_CURVE = {"ES256": "P-256", "EdDSA": "Ed25519"}
# RFC 7638 §3.2: the required members, by key type
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DPoPRejected(Exception):
    """The proof is not acceptable; ``reason`` is short and machine-readable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DPoPProof:
    """A proof that passed the stateless checks: the key it proves (``jkt``) and its ``jti``."""

    jkt: str
    jti: str
    iat: int

    @property
    def expires(self) -> int:
        """Until when a replay of this proof could still be accepted (its jti must be kept)."""
        return self.iat + MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638: base64url SHA-256 of the required members, sorted, without whitespace."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or any(not isinstance(jwk.get(m), str) for m in members):
        raise DPoPRejected("bad_jwk", "the jwk lacks its required members")
    canonical = json.dumps({m: jwk[m] for m in members}, sort_keys=True, separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(token: str) -> str:
    """The `ath` claim (§4.2): base64url SHA-256 of the ASCII access token."""
    return b64url_encode(hashlib.sha256(token.encode("ascii")).digest())


def normalise_htu(url: str) -> str | None:
    """The URI without query and fragment (§4.3 step 9), scheme and host lower-cased, a
    default port dropped and the path percent-decoded (RFC 3986 §6.2.2-6.2.3); None when
    it is not an absolute http(s) URI."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{unquote(parts.path) or '/'}"


def verify_proof(
    proof: str | None,
    *,
    method: str,
    url: str,
    now: float,
    access_token: str | None = None,
) -> DPoPProof:
    """§4.3: the checks of one `DPoP` header against the request it came with. With
    ``access_token``, `ath` must be its hash (§7.1); ``url`` is the request's own URI."""
    if not isinstance(proof, str) or not proof:
        raise DPoPRejected("missing", "a DPoP proof is required")
    if len(proof) > MAX_PROOF_LENGTH:
        raise DPoPRejected("malformed", "the proof is too large")
    try:
        jws = parse_compact(proof.strip())
    except MalformedJWS as exc:
        raise DPoPRejected("malformed", str(exc)) from None
    header = jws.header
    if header.get("typ") != PROOF_TYP:
        raise DPoPRejected("bad_typ", "typ must be dpop+jwt")
    if "crit" in header or "b64" in header:
        raise DPoPRejected("bad_header", "no header extensions are understood")
    alg = header.get("alg")
    algorithm = _ALGORITHMS.get(alg) if isinstance(alg, str) else None
    if algorithm is None or not isinstance(alg, str):
        raise DPoPRejected("unsupported_alg", f"alg must be one of {', '.join(ALGORITHMS)}")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise DPoPRejected("bad_jwk", "the header must carry the public key as jwk")
    if any(m in jwk for m in _PRIVATE_MEMBERS):
        raise DPoPRejected("bad_jwk", "the jwk must not contain a private key")
    if jwk.get("kty") != _KTY[alg] or (alg in _CURVE and jwk.get("crv") != _CURVE[alg]):
        raise DPoPRejected("bad_jwk", "the jwk does not suit the alg")
    jkt = jwk_thumbprint(jwk)
    key = _public_key(algorithm, jwk)
    if not algorithm.verify(jws.signing_input, key, jws.signature):
        raise DPoPRejected("bad_signature", "the proof's signature does not verify")
    try:
        claims = parse_json_object(jws.payload(), "payload")
    except MalformedJWS as exc:
        raise DPoPRejected("malformed", str(exc)) from None
    _check_claims(claims, method=method, url=url, now=now, access_token=access_token)
    return DPoPProof(jkt=jkt, jti=claims["jti"], iat=int(claims["iat"]))


def _public_key(algorithm: Any, jwk: dict[str, Any]) -> Any:
    try:
        key = algorithm.from_jwk(jwk)
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        raise DPoPRejected("bad_jwk", "the jwk is not a usable public key") from None
    if hasattr(key, "private_bytes"):  # defence in depth: from_jwk built a private key
        raise DPoPRejected("bad_jwk", "the jwk must not contain a private key")
    if isinstance(key, RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise DPoPRejected("bad_jwk", f"RSA keys must have at least {MIN_RSA_BITS} bits")
    return key


def _check_claims(
    claims: dict[str, Any], *, method: str, url: str, now: float, access_token: str | None
) -> None:
    jti, htm, htu, iat = claims.get("jti"), claims.get("htm"), claims.get("htu"), claims.get("iat")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise DPoPRejected("missing_claim", "jti must be a non-empty string")
    if not isinstance(htm, str) or htm != method.upper():
        raise DPoPRejected("wrong_method", "htm does not match the request's method")
    expected = normalise_htu(url)
    if not isinstance(htu, str) or expected is None or normalise_htu(htu) != expected:
        raise DPoPRejected("wrong_url", "htu does not match the request's URI")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or not math.isfinite(iat):
        raise DPoPRejected("missing_claim", "iat must be a NumericDate")
    if iat > now + CLOCK_SKEW_SECONDS:
        raise DPoPRejected("not_yet_valid", "iat is in the future")
    if iat < now - MAX_AGE_SECONDS:
        raise DPoPRejected("stale", "the proof is too old")
    if access_token is not None:
        if claims.get("ath") != access_token_hash(access_token):
            raise DPoPRejected("wrong_ath", "ath is not the hash of the presented access token")
