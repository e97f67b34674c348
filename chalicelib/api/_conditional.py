"""Conditional GETs (RFC 9110 §8.8.3, §13.1.2): a strong ETag on every successful JSON GET
and `304 Not Modified` when the caller's `If-None-Match` names it, so that polling a list
that has not changed costs no body (the dashboard's queue polls every few seconds).

The tag is a digest of the body; the route still runs in full, so a 304 costs the same
reads as the 200 and can never be staler than it. A countdown (`expires_in`) changes every
second while nothing else does, so it is left out of the digest and such a tag is weak
(`W/`, RFC 9110 §8.8.1: the representations are equivalent, not byte-identical); a client
that keeps a body across 304s counts down from the absolute `*_expires_at` fields. Bodies
without a countdown get a strong tag of their exact bytes. Responses a route marks
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
VOLATILE = frozenset({"expires_in"})  # seconds left: derived from the clock, not the data
REVALIDATE = "private, no-cache"  # may be kept by the caller, but checked before each use
# What a 304 keeps of the 200's headers (RFC 9110 §15.4.5: no representation metadata).
_DROPPED_ON_304 = ("content-type", "content-length")


def entity_tag(body: str, *, weak: bool = False) -> str:
    digest = hashlib.sha256(body.encode("utf-8")).digest()
    return ("W/" if weak else "") + '"' + base64.urlsafe_b64encode(digest).decode("ascii")[:27] + '"'


def _without_countdowns(value: Any) -> tuple[Any, bool]:
    """`value` without VOLATILE keys at any depth; whether any was there."""
    if isinstance(value, dict):
        out, dropped = {}, False
        for key, item in value.items():
            if key in VOLATILE:
                dropped = True
                continue
            out[key], inner = _without_countdowns(item)
            dropped = dropped or inner
        return out, dropped
    if isinstance(value, list):
        pairs = [_without_countdowns(item) for item in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    return value, False


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


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), default=handle_extra_types)  # as Chalice sends it


def _tagged(body: Any) -> tuple[str, str] | None:
    """(the body as sent, its tag); None for a body that is not tagged."""
    if isinstance(body, str):
        return body, entity_tag(body)
    if isinstance(body, bytes):
        return None  # binary payloads (none today) are not tagged
    sent = _dumps(body)
    stable, dropped = _without_countdowns(body)
    return sent, entity_tag(_dumps(stable), weak=True) if dropped else entity_tag(sent)


def apply(event: Request, response: Response) -> None:
    """Tag a successful GET's JSON body; answer 304 without a body when the caller has it."""
    if event.method not in ("GET", "HEAD") or response.status_code != 200:
        return
    headers = response.headers
    content_type = str(headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/json" or "no-store" in str(headers.get(CACHE_CONTROL, "")):
        return
    tagged = _tagged(response.body)
    if tagged is None:
        return
    body, tag = tagged
    response.body = body  # serialised once: what was tagged is what is sent
    headers[ETAG] = tag
    headers.setdefault(CACHE_CONTROL, REVALIDATE)
    if none_match(event.headers.get("if-none-match"), tag):
        response.status_code = 304
        response.body = ""
        for name in [n for n in headers if n.lower() in _DROPPED_ON_304]:
            del headers[name]
