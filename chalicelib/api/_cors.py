"""CORS for the configured dashboard origins (`VAULTGUARD_CORS_ORIGINS`), per the Fetch
standard's CORS protocol: an allow-listed `Origin` gets itself back (never `*`, since the
dashboard sends its session cookie), with credentials allowed; any other origin, and every
origin when the list is empty (the default: the dashboard shares the API's origin), gets no
CORS header at all, so a browser keeps the answer from the page that asked.

Preflights (`OPTIONS` with `Access-Control-Request-Method`) are answered by one `OPTIONS`
route per path that `endpoint` registers: 204 with the path's methods for an allowed
origin, 204 without CORS headers (the browser then refuses the request) for any other.
Deployed, those routes all run in one shared function (`chalicelib.api._lambda.CorsPreflight`,
role without data access; `infra/package.py`), not one Lambda per path.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from chalice.app import Request

from chalicelib.config import get_settings

ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-None-Match",
    "X-CSRF-Token",
    "X-Request-Id",
)
EXPOSE_HEADERS = ("ETag", "Retry-After", "X-Request-Id")
MAX_AGE_SECONDS = 600


def allowed_origin(event: Request) -> str | None:
    """The request's `Origin` when it is on the allowlist (exact match), else None."""
    origin = event.headers.get("origin")
    return origin if origin and origin in get_settings().cors_origins else None


def add_response_headers(event: Request, headers: MutableMapping[str, Any]) -> None:
    """What every response carries for CORS: `Vary: Origin` whenever an allowlist exists
    (the answer depends on the origin), the origin's grant when it is on the list."""
    if not get_settings().cors_origins:
        return
    _vary_origin(headers)
    origin = allowed_origin(event)
    if origin is None:
        return
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Allow-Credentials"] = "true"
    if event.method != "OPTIONS":
        headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSE_HEADERS)


def preflight_headers(event: Request, methods: Iterable[str]) -> dict[str, str]:
    """A preflight's own headers (the middleware adds the origin's grant): the path's
    methods, the request headers VaultGuard reads, and how long the browser may keep it."""
    allowed = sorted({m.upper() for m in methods} | {"OPTIONS"})
    headers = {"Allow": ", ".join(allowed)}
    if event.headers.get("access-control-request-method") and allowed_origin(event) is not None:
        headers.update(
            {
                "Access-Control-Allow-Methods": ", ".join(allowed),
                "Access-Control-Allow-Headers": ", ".join(ALLOW_HEADERS),
                "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
            }
        )
    return headers


def _vary_origin(headers: MutableMapping[str, Any]) -> None:
    existing = [v.strip() for v in str(headers.get("Vary") or "").split(",") if v.strip()]
    if not any(v.lower() == "origin" for v in existing):
        headers["Vary"] = ", ".join([*existing, "Origin"])
