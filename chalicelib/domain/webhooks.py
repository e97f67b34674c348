"""Webhook rules without I/O: which URLs are accepted, the signing secret, the event body
and its Stripe-style signature (`VaultGuard-Signature: t=<unix>,v1=<hex HMAC-SHA256>`).

The HMAC key is the whole secret string (`whsec_...`) as UTF-8; the signed message is
`f"{t}.{raw body}"`. Receivers check the signature over the raw bytes they received and
refuse timestamps outside a tolerance window, which stops replays of old deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from chalicelib.domain import netaddr

SECRET_PREFIX = "whsec_"
MAX_URL_LENGTH = 2048
SIGNATURE_HEADER = "VaultGuard-Signature"
EVENT_ID_HEADER = "VaultGuard-Event-Id"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
_MAX_HEADER_LENGTH = 4096


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def check_url(url: object, *, require_https: bool) -> str:
    """The URL if acceptable, else ValueError saying why. `require_https` (the prod stage)
    also refuses hosts that are not public: any spelling of a non-public address (`127.1`,
    `0x7f000001`, `[::ffff:127.0.0.1]`...) and internal names (`localhost.`,
    `metadata.google.internal`, single labels). A public name can still resolve inward;
    delivery checks the addresses it connects to (services/safe_http.py)."""
    if not isinstance(url, str) or not url:
        raise ValueError("url must be a non-empty string.")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"url must be at most {MAX_URL_LENGTH} characters.")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise ValueError("url must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValueError("url is not a valid URL.") from None
    allowed = ("https",) if require_https else ("http", "https")
    if parts.scheme not in allowed:
        raise ValueError("url must use https." if require_https else "url must use http or https.")
    host = parts.hostname
    if not host:
        raise ValueError("url must name a host.")
    if parts.fragment:
        raise ValueError("url must not contain a fragment.")
    if parts.username is not None or parts.password is not None:
        raise ValueError("url must not contain credentials; the signature authenticates us.")
    if require_https:
        problem = public_host_problem(host)
        if problem:
            raise ValueError(f"url must name a public host: {problem}.")
    return url


def public_host_problem(host: str) -> str | None:
    """Why `host` (a URL's host, brackets removed) is not a public host, or None."""
    try:
        if ":" not in host:
            host = netaddr.normalize_name(host)
        address = netaddr.parse_ip(host)
    except ValueError:
        return "not a valid host name or IP address"
    if address is not None:
        reason = netaddr.non_public_reason(address)
        return f"{address} is a {reason} address" if reason else None
    return netaddr.internal_name_reason(host)


def redact_url(url: str) -> str:
    """Scheme, host, port and path only: no user info, query or fragment (may hold secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def event_body(event_id: str, event_type: str, created_at: str, data: dict[str, Any]) -> bytes:
    """The JSON bytes that are signed and POSTed."""
    event = {"id": event_id, "type": event_type, "created_at": created_at, "data": data}
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `VaultGuard-Signature` header value for `body` at `timestamp` (now by default)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},{SIGNATURE_SCHEME}={_mac(secret, t, body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes | str,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> bool:
    """True when `header` carries a v1 signature of `body` by `secret` with a timestamp
    within `tolerance_seconds` of now. Several v1 values are allowed (any may match);
    unknown schemes are ignored. Comparison is constant-time."""
    if not header or len(header) > _MAX_HEADER_LENGTH or not secret:
        return False
    raw = body.encode() if isinstance(body, str) else bytes(body)
    timestamps: list[str] = []
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            timestamps.append(value)
        elif key == SIGNATURE_SCHEME:
            candidates.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit() or len(timestamps[0]) > 12 or not candidates:
        return False
    t = int(timestamps[0])
    current = time.time() if now is None else now
    if abs(current - t) > tolerance_seconds:
        return False
    expected = _mac(secret, t, raw)
    return any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates)
