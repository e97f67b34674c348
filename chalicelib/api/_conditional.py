"""Conditional GETs (RFC 9110 §8.8.3, §13.1.2): a strong ETag on every successful JSON GET
and `304 Not Modified` when the caller's `If-None-Match` names it, so that polling a list
that has not changed costs no body (the dashboard's queue polls every few seconds).

The tag is a digest of the body exactly as sent; the route still runs in full, so a 304
costs the same reads as the 200 and can never be staler than it. Responses a route marks
`no-store` (tokens, secrets) get no tag: nothing about them is meant to be kept.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from chalice import Response
from chalice.app import Request, handle_extra_types

ETAG = "ETag"
CACHE_CONTROL = "Cache-Control"
REVALIDATE = "private, no-cache"  # may be kept by the caller, but checked before each use
# What a 304 keeps of the 200's headers (RFC 9110 §15.4.5: no representation metadata).
_DROPPED_ON_304 = ("content-type", "content-length")


def entity_tag(body: str) -> str:
    digest = hashlib.sha256(body.encode("utf-8")).digest()
    return '"' + base64.urlsafe_b64encode(digest).decode("ascii")[:27] + '"'


def none_match(header: str | None, tag: str) -> bool:
    """Whether `If-None-Match` names `tag` (or is `*`): the weak comparison that RFC 9110
    §13.1.2 prescribes for GET and HEAD, so `W/"x"` matches `"x"`."""
    if not header:
        return False
    opaque = _opaque(tag)
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or (candidate and _opaque(candidate) == opaque):
            return True
    return False


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def _serialised(body: Any) -> str | None:
    if isinstance(body, str):
        return body
    if isinstance(body, bytes):
        return None  # binary payloads (none today) are not tagged
    return json.dumps(body, separators=(",", ":"), default=handle_extra_types)  # as Chalice sends it


def apply(event: Request, response: Response) -> None:
    """Tag a successful GET's JSON body; answer 304 without a body when the caller has it."""
    if event.method not in ("GET", "HEAD") or response.status_code != 200:
        return
    headers = response.headers
    content_type = str(headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/json" or "no-store" in str(headers.get(CACHE_CONTROL, "")):
        return
    body = _serialised(response.body)
    if body is None:
        return
    tag = entity_tag(body)
    response.body = body  # tagged and sent byte for byte the same
    headers[ETAG] = tag
    headers.setdefault(CACHE_CONTROL, REVALIDATE)
    if none_match(event.headers.get("if-none-match"), tag):
        response.status_code = 304
        response.body = ""
        for name in [n for n in headers if n.lower() in _DROPPED_ON_304]:
            del headers[name]
