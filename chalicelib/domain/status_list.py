"""Token Status List (draft-ietf-oauth-status-list): the pure half.

Every delegation token carries `status: {status_list: {idx, uri}}` (§6.1): one bit at `idx`
of the receiving tenant's current list, 1 = INVALID (revoked, or expired by the cleanup job;
§7.1, status type 0x01). The list (§4.1) is a byte array, index 0 in the least significant
bit of byte 0, compressed with DEFLATE in the ZLIB format and base64url-encoded into
`status_list: {bits: 1, lst}` of a signed status list token (§5.1, `typ: statuslist+jwt`).

Indices are taken at random (no issuance order to read from a list), so a list is fixed in
size and a tenant moves to a new list once drawing a free index gets unlikely (see
`choose_index`) or the list has served `LIST_MAX_AGE` seconds.
"""

from __future__ import annotations

import base64
import secrets
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.delegation import MAX_TTL_SECONDS

STATUS_LIST_TYP = "statuslist+jwt"
MEDIA_TYPE = "application/statuslist+jwt"
LIST_BITS = 1 << 17  # 16 KiB raw, a few hundred bytes compressed while sparse
CANDIDATES = 4  # random indices read per issuance; all taken -> a new list (~13% full)
LIST_MAX_AGE = 7 * 86400  # a list takes new tokens for at most a week
LIST_RETENTION = LIST_MAX_AGE + MAX_TTL_SECONDS + 86400  # served while a token may name it
TTL = 2  # seconds a verifier may cache a list token (the `ttl` claim, Cache-Control max-age)
TOKEN_LIFETIME = 30  # a list token's `exp`: a verifier that cannot refresh fails closed after it
RESIGN_AFTER = 10  # an unchanged list is re-signed when its token is this old
LIST_ID_PREFIX = "sl_"


def new_list_id() -> str:
    """Random, and nothing else: the id (and the uri) tells neither the tenant nor a count."""
    return LIST_ID_PREFIX + secrets.token_urlsafe(16)


def is_list_id(value: str) -> bool:
    rest = value[len(LIST_ID_PREFIX) :]
    return (
        value.startswith(LIST_ID_PREFIX)
        and len(rest) == 22
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in rest)
    )


def list_uri(issuer: str, list_id: str) -> str:
    return f"{issuer.rstrip('/')}/statuslists/{list_id}"


def status_claim(issuer: str, list_id: str, idx: int) -> dict[str, Any]:
    """The referenced token's `status` claim (§6.2)."""
    return {"status_list": {"idx": idx, "uri": list_uri(issuer, list_id)}}


def draw_candidates(count: int = CANDIDATES) -> list[int]:
    return [secrets.randbelow(LIST_BITS) for _ in range(count)]


@dataclass(frozen=True)
class Head:
    """The tenant's current list as read (None fields: the tenant has none yet)."""

    list_id: str | None
    gen: int
    created_at: int


@dataclass(frozen=True)
class Allocation:
    list_id: str
    gen: int
    idx: int
    rotated: bool  # a new list: the caller creates it (and moves the head) in the same write
    taken_gen: int | None  # the index's marker generation as read (None: no marker)


def choose_index(head: Head, candidates: Iterable[int], taken: Mapping[int, int], now: int) -> Allocation:
    """The first candidate free in the current list (its marker, if any, is of an older
    generation), or a new list when every candidate is taken, the list is too old or there
    is none. `taken`: candidate -> the generation its marker names."""
    drawn = list(candidates)
    live = head.list_id is not None and now - head.created_at < LIST_MAX_AGE
    if live:
        assert head.list_id is not None
        for idx in drawn:
            gen = taken.get(idx)
            if gen is None or gen < head.gen:
                return Allocation(head.list_id, head.gen, idx, False, gen)
    idx = drawn[0]
    return Allocation(new_list_id(), head.gen + 1, idx, True, taken.get(idx))


def encode_list(invalid: Iterable[int], size: int = LIST_BITS) -> str:
    """`lst` (§4.1): bit `i` is bit `i % 8` of byte `i // 8`, zlib-compressed, base64url."""
    raw = bytearray(size // 8)
    for idx in invalid:
        if 0 <= idx < size:
            raw[idx >> 3] |= 1 << (idx & 7)
    compressed = zlib.compress(bytes(raw), 9)
    return base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")


def list_token_claims(issuer: str, list_id: str, lst: str, now: int) -> dict[str, Any]:
    """The status list token's claims (§5.1): nothing about the tenant, only the list."""
    return {
        "iss": issuer,
        "sub": list_uri(issuer, list_id),
        "iat": now,
        "exp": now + TOKEN_LIFETIME,
        "ttl": TTL,
        "status_list": {"bits": 1, "lst": lst},
    }
