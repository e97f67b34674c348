"""DPoP (RFC 9449): bind tokens to a key the agent holds, and prove it on every request.

Agent side: ``DPoPKey`` (an ES256 key, its RFC 7638 thumbprint, ``proof(...)``, ``rotate()``)
and the auth classes ``DPoPAuth`` (requests) / ``HttpxDPoPAuth`` (httpx), which send
``Authorization: DPoP <token>`` with a fresh proof per request (``htm``, ``htu``, ``iat``,
``jti``, ``ath``) and retry once with the server's nonce when it answers ``use_dpop_nonce``.

Receiving side: ``check_proof`` makes the checks of RFC 9449 §4.3 and §7.1 for
``DelegationVerifier.verify(..., dpop_proof=..., method=..., url=...)``; ``ReplayCache``
remembers the proofs' ``jti`` within the acceptance window (in memory, per process).
Server nonces (§9) are optional for a resource server and not required here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm
from jwt.exceptions import InvalidKeyError
from requests.auth import AuthBase

from ._errors import InvalidDelegationToken

__all__ = [
    "DPOP_ALGORITHMS",
    "DPoPAuth",
    "DPoPKey",
    "DPoPProver",
    "HttpxDPoPAuth",
    "ReplayCache",
    "access_token_hash",
    "check_proof",
    "jwk_thumbprint",
]

PROOF_TYP = "dpop+jwt"
MAX_AGE_SECONDS = 60.0
CLOCK_SKEW_SECONDS = 5.0
MAX_PROOF_LENGTH = 4 * 1024
_ES256 = ECAlgorithm(ECAlgorithm.SHA256)
_ALGORITHMS: dict[str, Any] = {
    "ES256": _ES256,
    "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
    "PS256": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256),
    "EdDSA": OKPAlgorithm(),
}
DPOP_ALGORITHMS = tuple(_ALGORITHMS)
_KTY = {"ES256": "EC", "RS256": "RSA", "PS256": "RSA", "EdDSA": "OKP"}
_CURVE = {"ES256": "P-256", "EdDSA": "Ed25519"}
_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(segment: str) -> bytes:
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, TypeError):
        raise InvalidDelegationToken("invalid_dpop_proof", "the proof is not base64url") from None
    if _b64url(data) != segment:
        raise InvalidDelegationToken("invalid_dpop_proof", "non-canonical base64url")
    return data


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint: what a bound token's ``cnf.jkt`` names."""
    members = _MEMBERS.get(str(jwk.get("kty")))
    if members is None or any(not isinstance(jwk.get(m), str) for m in members):
        raise InvalidDelegationToken("invalid_dpop_proof", "the proof's jwk lacks its required members")
    canonical = json.dumps({m: jwk[m] for m in members}, sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(token: str) -> str:
    """``ath`` (RFC 9449 §4.2): base64url SHA-256 of the access token."""
    return _b64url(hashlib.sha256(token.encode("ascii")).digest())


def normalise_htu(url: str) -> str | None:
    """The URI without query and fragment, scheme and host lower-cased, default port dropped."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{unquote(parts.path) or '/'}"


class DPoPKey:
    """An ES256 (P-256) key for DPoP proofs. Thread-safe; ``rotate()`` replaces it in place,
    so auth objects holding this key sign with the new one from then on (tokens bound to the
    old key then stop working: fetch new ones)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self._lock = threading.Lock()
        self._set(private_key or ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def generate(cls) -> DPoPKey:
        return cls()

    def _set(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("a DPoP key must be a P-256 (ES256) private key")
        jwk = json.loads(_ES256.to_jwk(key.public_key()))
        jwk = {m: jwk[m] for m in ("kty", "crv", "x", "y")}
        self._key, self._jwk, self._jkt = key, jwk, jwk_thumbprint(jwk)

    @property
    def public_jwk(self) -> dict[str, str]:
        return dict(self._jwk)

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 thumbprint (``jkt``) that tokens bound to this key carry in ``cnf``."""
        return self._jkt

    def rotate(self) -> str:
        """Replace the key with a new one; returns the new thumbprint."""
        with self._lock:
            self._set(ec.generate_private_key(ec.SECP256R1()))
            return self._jkt

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        now: float | None = None,
    ) -> str:
        """A DPoP proof JWT for one request (RFC 9449 §4.2); ``htu`` drops query and fragment."""
        parts = urlsplit(url)
        with self._lock:
            key, jwk = self._key, self._jwk
        header = {"typ": PROOF_TYP, "alg": "ES256", "jwk": jwk}
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method.upper(),
            "htu": f"{parts.scheme}://{parts.netloc}{parts.path or '/'}",
            "iat": int(time.time() if now is None else now),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        if nonce is not None:
            claims["nonce"] = nonce
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        ).encode("ascii")
        return f"{signing_input.decode('ascii')}.{_b64url(_ES256.sign(signing_input, key))}"


class ReplayCache:
    """The ``jti`` of proofs seen within the acceptance window (RFC 9449 §11.1), in memory;
    bounded (the oldest entries go first). One per process: behind several processes a
    replay to another one is not caught (a shared store would be needed for that)."""

    def __init__(
        self, window: float = MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS, max_entries: int = 100_000
    ) -> None:
        self._window = window
        self._max = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def check_and_add(self, jkt: str, jti: str, now: float) -> bool:
        """True the first time (``jkt``, ``jti``) is seen within the window."""
        key = f"{jkt}#{jti}"
        with self._lock:
            while self._seen:
                oldest, until = next(iter(self._seen.items()))
                if until > now and len(self._seen) < self._max:
                    break
                del self._seen[oldest]
            if key in self._seen:
                return False
            self._seen[key] = now + self._window
            return True


def check_proof(
    proof: str,
    *,
    method: str,
    url: str,
    access_token: str,
    jkt: str,
    now: float,
    replays: ReplayCache | None,
) -> None:
    """RFC 9449 §4.3 and §7.1: the proof of a request presenting the token bound to ``jkt``;
    ``InvalidDelegationToken("invalid_dpop_proof", ...)`` when anything is off."""

    def refuse(detail: str) -> InvalidDelegationToken:
        return InvalidDelegationToken("invalid_dpop_proof", detail)

    if not isinstance(proof, str) or not proof or len(proof) > MAX_PROOF_LENGTH or proof.count(".") != 2:
        raise refuse("the DPoP proof is missing or malformed")
    header_segment, payload_segment, signature_segment = proof.split(".")
    header = _json(_b64url_decode(header_segment))
    if header.get("typ") != PROOF_TYP or "crit" in header or "b64" in header:
        raise refuse("typ must be dpop+jwt, without header extensions")
    alg = header.get("alg")
    algorithm = _ALGORITHMS.get(alg) if isinstance(alg, str) else None
    jwk = header.get("jwk")
    if algorithm is None or not isinstance(alg, str):
        raise refuse(f"alg must be one of {', '.join(DPOP_ALGORITHMS)}")
    if not isinstance(jwk, dict) or any(m in jwk for m in _PRIVATE):
        raise refuse("the header must carry a public jwk")
    if jwk.get("kty") != _KTY[alg] or (alg in _CURVE and jwk.get("crv") != _CURVE[alg]):
        raise refuse("the jwk does not suit the alg")
    if jwk_thumbprint(jwk) != jkt:
        raise refuse("the proof is signed by another key than the token is bound to")
    try:
        key = algorithm.from_jwk(jwk)
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        raise refuse("the jwk is not a usable public key") from None
    signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
    if not algorithm.verify(signing_input, key, _b64url_decode(signature_segment)):
        raise refuse("the proof's signature does not verify")
    claims = _json(_b64url_decode(payload_segment))
    jti, iat = claims.get("jti"), claims.get("iat")
    if not isinstance(jti, str) or not jti:
        raise refuse("jti is required")
    if claims.get("htm") != method.upper():
        raise refuse("htm does not match the request's method")
    expected = normalise_htu(url)
    htu = claims.get("htu")
    if expected is None or not isinstance(htu, str) or normalise_htu(htu) != expected:
        raise refuse("htu does not match the request's URI")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or not math.isfinite(iat):
        raise refuse("iat is required")
    if iat > now + CLOCK_SKEW_SECONDS or iat < now - MAX_AGE_SECONDS:
        raise refuse("the proof is stale or from the future (iat)")
    if claims.get("ath") != access_token_hash(access_token):
        raise refuse("ath is not the hash of the presented token")
    if replays is not None and not replays.check_and_add(jkt, jti, now):
        raise refuse("the proof was already used (jti)")


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidDelegationToken("invalid_dpop_proof", "the proof is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidDelegationToken("invalid_dpop_proof", "the proof is not a JSON object")
    return value


# -- agent side: auth classes -------------------------------------------------------------

TokenSource = str | Callable[[], str]


def _token(source: TokenSource) -> str:
    token = source() if callable(source) else source
    if not isinstance(token, str) or not token or any(c in token for c in "\r\n "):
        raise ValueError("the token must be a non-empty string without whitespace")
    return token


def _wants_nonce(status: int, headers: Any) -> str | None:
    """The server's nonce when it answered ``use_dpop_nonce`` (RFC 9449 §8-9), else None."""
    nonce = headers.get("DPoP-Nonce")
    if status not in (400, 401) or not nonce:
        return None
    challenge = headers.get("WWW-Authenticate") or ""
    return nonce if "use_dpop_nonce" in challenge or status == 400 else None


def _origin(url: str) -> str:
    return urlsplit(url)._replace(path="", query="", fragment="").geturl()


class DPoPProver:
    """One agent's proofs: its key and the nonce each server last gave it (RFC 9449 §8-9).
    Shared by the auth classes and both VaultGuard clients."""

    def __init__(self, key: DPoPKey | None = None) -> None:
        self.key = key or DPoPKey()
        self.nonces: dict[str, str] = {}  # per origin, as the server last gave it

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        """A fresh proof (new ``jti``) for one attempt, with the server's nonce if it gave one."""
        return self.key.proof(method, url, access_token=access_token, nonce=self.nonces.get(_origin(url)))

    def remember(self, url: str, nonce: str) -> bool:
        """Keep the server's nonce; True when it is new (worth one retry)."""
        origin = _origin(url)
        new = self.nonces.get(origin) != nonce
        self.nonces[origin] = nonce
        return new


class _Signer(DPoPProver):
    def __init__(self, token: TokenSource, key: DPoPKey | None) -> None:
        if not callable(token):
            _token(token)
        super().__init__(key)
        self.token = token

    def headers(self, method: str, url: str) -> dict[str, str]:
        token = _token(self.token)
        return {"Authorization": f"DPoP {token}", "DPoP": self.proof(method, url, token)}


class DPoPAuth(AuthBase):
    """requests: ``Authorization: DPoP <token>`` and a fresh ``DPoP`` proof on every request;
    one retry with the server's nonce when it asks for one."""

    def __init__(self, token: TokenSource, key: DPoPKey | None = None) -> None:
        self._signer = _Signer(token, key)

    @property
    def key(self) -> DPoPKey:
        return self._signer.key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        assert r.method is not None and r.url is not None
        r.headers.update(self._signer.headers(r.method, r.url))
        r.register_hook("response", self._retry_with_nonce)
        return r

    def _retry_with_nonce(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        nonce = _wants_nonce(response.status_code, response.headers)
        if nonce is None or getattr(request, "_dpop_retried", False) or request.method is None:
            return response
        if not self._signer.remember(str(request.url), nonce):
            return response
        response.content  # noqa: B018 - drain, so the connection can be reused
        response.close()
        retry = request.copy()
        retry._dpop_retried = True  # type: ignore[attr-defined]
        retry.headers.update(self._signer.headers(str(retry.method), str(retry.url)))
        assert response.connection is not None
        again: requests.Response = response.connection.send(retry, **kwargs)
        again.history.append(response)
        again.request = retry
        return again


class HttpxDPoPAuth(httpx.Auth):
    """httpx (sync and async clients): the same as ``DPoPAuth``."""

    def __init__(self, token: TokenSource, key: DPoPKey | None = None) -> None:
        self._signer = _Signer(token, key)

    @property
    def key(self) -> DPoPKey:
        return self._signer.key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        url = str(request.url)
        request.headers.update(self._signer.headers(request.method, url))
        response = yield request
        nonce = _wants_nonce(response.status_code, response.headers)
        if nonce is not None and self._signer.remember(url, nonce):
            request.headers.update(self._signer.headers(request.method, url))
            yield request
