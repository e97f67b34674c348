"""JWS with a detached payload (RFC 7515 Appendix F) over canonical JSON.

Used for audit digests: the digest document carries its own fields in the clear and a
`header..signature` string; a verifier re-serialises the fields canonically (sorted keys,
no whitespace, as `encode_jwt` does) and checks the RS256 signature with our JWKS key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from .jwks import KeySet
from .jwt_codec import ALGORITHM, encode_jwt
from .keys import b64url_encode
from .signer import Signer

__all__ = ["DetachedSignatureError", "sign_detached", "verify_detached"]


class DetachedSignatureError(Exception):
    """The detached signature does not verify; the message says why."""


def _canonical(value: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _b64url_decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DetachedSignatureError("bad base64url") from exc


def sign_detached(signer: Signer, payload: Mapping[str, Any], *, typ: str) -> str:
    """`<header>..<signature>`: a compact JWS of the canonical payload, payload removed."""
    header, _, signature = encode_jwt(signer, payload, typ=typ).split(".")
    return f"{header}..{signature}"


def _header(encoded: str) -> dict[str, Any]:
    try:
        header = json.loads(_b64url_decode(encoded))
    except ValueError as exc:
        raise DetachedSignatureError("header is not JSON") from exc
    if not isinstance(header, dict):
        raise DetachedSignatureError("header is not an object")
    return header


def verify_detached(keys: KeySet, payload: Mapping[str, Any], jws: str, *, typ: str) -> str:
    """Check `jws` against `payload`; the signing `kid`. Only RS256 and only our own keys."""
    parts = jws.split(".") if isinstance(jws, str) else []
    if len(parts) != 3 or parts[1] != "":
        raise DetachedSignatureError("not a detached compact JWS")
    header = _header(parts[0])
    if header.get("alg") != ALGORITHM or header.get("typ") != typ or "crit" in header:
        raise DetachedSignatureError("unexpected header")
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise DetachedSignatureError("unknown kid")
    signing_input = f"{parts[0]}.{b64url_encode(_canonical(payload))}".encode("ascii")
    try:
        key.verify(_b64url_decode(parts[2]), signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise DetachedSignatureError("signature mismatch") from exc
    return str(kid)
