"""Compact JWS encoding and parsing (RFC 7515 §7.1) for RS256 JWTs (RFC 7519 §7.1).

Encoding is done here rather than with PyJWT because a KMS-backed signer has no
private key object. JSON is serialised deterministically and RSASSA-PKCS1-v1_5 is
deterministic, so the same claims signed with the same key always give the
identical token string.

Parsing splits and base64url-decodes a token exactly once, so that the verifier can read
the header, pick the key and check the signature without decoding anything twice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .keys import b64url_encode
from .signer import Signer

__all__ = [
    "CompactJWS",
    "MalformedJWS",
    "b64url_decode",
    "encode_jwt",
    "parse_compact",
    "parse_json_object",
    "token_fingerprint",
]

ALGORITHM = "RS256"
# Three base64url segments (RFC 7515 §2: no padding); the signature may be empty.
_COMPACT_JWS = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


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


class MalformedJWS(ValueError):
    """Not a compact JWS whose segments are canonical base64url and whose header is a JSON object."""


@dataclass(frozen=True)
class CompactJWS:
    """A compact JWS split once: the decoded header, the bytes the signature covers, the
    still-encoded payload (decoded only after the signature verifies) and the signature."""

    header: dict[str, Any]
    signing_input: bytes
    payload_segment: str
    signature: bytes

    def payload(self) -> bytes:
        return b64url_decode(self.payload_segment)


def b64url_decode(segment: str) -> bytes:
    """Strict base64url (RFC 7515 §2, RFC 4648 §5): alphabet only, no padding, and canonical
    (unused trailing bits zero), so that one byte string has exactly one encoding."""
    if len(segment) % 4 == 1 or not _SEGMENT.fullmatch(segment):
        raise MalformedJWS("invalid base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise MalformedJWS("invalid base64url") from None
    if b64url_encode(data) != segment:
        raise MalformedJWS("non-canonical base64url")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity, -Infinity (RFC 8259 §6)


_JSON = json.JSONDecoder(parse_constant=_reject_constant)  # built once, not per token


def parse_json_object(data: bytes, what: str) -> dict[str, Any]:
    """A UTF-8 JSON object (RFC 7519 §7.2 steps 4 and 10), or MalformedJWS."""
    try:
        value = _JSON.decode(data.decode("utf-8"))
    except (ValueError, TypeError, RecursionError):
        raise MalformedJWS(f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedJWS(f"the {what} is not a JSON object")
    return value


def parse_compact(token: str) -> CompactJWS:
    """Split and decode ``token`` once (the payload stays encoded until it is needed)."""
    match = _COMPACT_JWS.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise MalformedJWS("not a compact JWS")
    header_segment, payload_segment, signature_segment = match.groups()
    header = parse_json_object(b64url_decode(header_segment), "header")
    signature = b64url_decode(signature_segment)
    signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
    return CompactJWS(header, signing_input, payload_segment, signature)
