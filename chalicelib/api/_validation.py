"""Small, strict validators for request bodies and query strings: unknown fields, wrong
types and out-of-range values all become a 400 that names the field."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain import ids
from chalicelib.domain.policy import is_valid_action, is_valid_action_pattern
from chalicelib.errors import InvalidRequest

Check = Callable[[str, Any], Any]
DIGITS = re.compile(r"[0-9]{1,9}")
PLAUSIBLE_ID = re.compile(r"[\x21-\x7e]{1,64}")
MIN_YEAR, MAX_YEAR = 1970, 9998


def fields(
    body: Mapping[str, Any], required: Mapping[str, Check], optional: Mapping[str, Check] | None = None
) -> dict[str, Any]:
    optional = optional or {}
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}.")
    out: dict[str, Any] = {}
    for name, check in required.items():
        if name not in body:
            raise InvalidRequest(f"{name} is required.")
        out[name] = check(name, body[name])
    for name, check in optional.items():
        out[name] = check(name, body[name]) if name in body and body[name] is not None else None
    return out


def text(max_length: int, *, min_length: int = 1) -> Check:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidRequest(f"{name} must be a string.")
        if not min_length <= len(value) <= max_length:
            raise InvalidRequest(f"{name} must be {min_length} to {max_length} characters.")
        if not value.isprintable():
            raise InvalidRequest(f"{name} must contain printable characters only.")
        return value

    return check


def integer(lo: int, hi: int) -> Check:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(f"{name} must be an integer.")
        if not lo <= value <= hi:
            raise InvalidRequest(f"{name} must be between {lo} and {hi}.")
        return value

    return check


def one_of(*choices: str) -> Check:
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise InvalidRequest(f"{name} must be one of {', '.join(choices)}.")
        return str(value)

    return check


def action(name: str, value: Any) -> str:
    if not isinstance(value, str) or not is_valid_action(value):
        raise InvalidRequest(
            f"{name} must be an action such as 'stock.write' (lower case, dotted, no wildcard)."
        )
    return value


def action_pattern(name: str, value: Any) -> str:
    if not isinstance(value, str) or not is_valid_action_pattern(value):
        raise InvalidRequest(f"{name} must be an action such as 'stock.write' or 'stock.*'.")
    return value


def tenant_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not ids.TENANT_ID.fullmatch(value):
        raise InvalidRequest(f"{name} must be a tenant id (tnt_ followed by 20 hex digits).")
    return value


def receiving_tenant(name: str, value: Any) -> str:
    """Any string that could be a tenant id is decided by policy, so an unknown tenant gets
    the same BLOCK as a real one; only values no tenant id can have are a 400."""
    if not isinstance(value, str) or not PLAUSIBLE_ID.fullmatch(value):
        raise InvalidRequest(f"{name} must be a tenant id.")
    return value


def token(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 8192:
        raise InvalidRequest(f"{name} must be a non-empty string of at most 8192 characters.")
    return value


def limit_param(query: Mapping[str, str], default: int = 50, maximum: int = 200) -> int:
    raw = query.get("limit")
    if raw is None:
        return default
    if not DIGITS.fullmatch(raw) or not 1 <= int(raw) <= maximum:
        raise InvalidRequest(f"limit must be an integer from 1 to {maximum}.")
    return int(raw)


def instant_param(query: Mapping[str, str], name: str) -> str | None:
    """An ISO-8601 instant, normalised to the audit sort-key format (UTC, microseconds, Z)."""
    raw = query.get(name)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise InvalidRequest(f"{name} must include a time zone (e.g. Z).")
        instant = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidRequest(f"{name} must be an ISO-8601 instant such as 2026-01-31T12:00:00Z.") from None
    if not MIN_YEAR <= instant.year <= MAX_YEAR:
        raise InvalidRequest(f"{name} must lie between the years {MIN_YEAR} and {MAX_YEAR}.")
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def only_params(query: Mapping[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise InvalidRequest(f"Unknown query parameter(s): {', '.join(unknown)}.")
