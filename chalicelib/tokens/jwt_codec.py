"""Compact JWS encoding (RFC 7515 §7.1) for RS256 JWTs (RFC 7519 §7.1).

Encoding is done here rather than with PyJWT because a KMS-backed signer has no
private key object. JSON is serialised deterministically and RSASSA-PKCS1-v1_5 is
deterministic, so the same claims signed with the same key always give the
identical token string.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .keys import b64url_encode
from .signer import Signer

__all__ = ["encode_jwt", "token_fingerprint"]

ALGORITHM = "RS256"


def _canonical_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


def encode_jwt(signer: Signer, claims: Mapping[str, Any], *, typ: str) -> str:
    """Sign ``claims`` as a compact JWS, header ``{"alg":"RS256","typ":..,"kid":..}``.

    Raises ``SigningUnavailable`` when the signing backend is down.
    """
    if not isinstance(typ, str) or not typ:
        raise ValueError("typ must be a non-empty string")
    header = {"alg": ALGORITHM, "typ": typ, "kid": signer.kid}
    signing_input = (
        f"{b64url_encode(_canonical_json(header))}.{b64url_encode(_canonical_json(claims))}"
    ).encode("ascii")
    signature = signer.sign(signing_input)
    return f"{signing_input.decode('ascii')}.{b64url_encode(signature)}"


def token_fingerprint(token: str) -> str:
    """Hex SHA-256 of the token string, logged in audit records instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
