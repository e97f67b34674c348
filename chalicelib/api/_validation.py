"""Small, strict validators for request bodies and query strings: unknown fields, wrong
types and out-of-range values all become a 400 that names the field."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain import ids
from chalicelib.domain.policy import MAX_ACTION_LENGTH, is_valid_action, is_valid_action_pattern
from chalicelib.errors import InvalidRequest

DIGITS = re.compile(r"[0-9]{1,9}")
PLAUSIBLE_ID = re.compile(r"[\x21-\x7e]{1,64}")
MIN_YEAR, MAX_YEAR = 1970, 9998
# JSON Schema cannot say "str.isprintable()"; this pattern refuses the control characters
# (C0, DEL, C1, line and paragraph separators) and the description names the rest.
PRINTABLE = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"
Schema = dict[str, Any]


class Check:
    """A field validator, `check(name, value) -> parsed value`, that describes what it
    accepts as JSON Schema (`.schema`): the OpenAPI document is built from the same objects
    that parse requests, so the two cannot drift apart."""

    __slots__ = ("_parse", "schema")

    def __init__(self, parse: Callable[[str, Any], Any], schema: Schema) -> None:
        if not schema:
            raise TypeError(f"{parse!r} has no JSON Schema")
        self._parse = parse
        self.schema = schema

    def __call__(self, name: str, value: Any) -> Any:
        return self._parse(name, value)

    def __repr__(self) -> str:
        return f"Check({self.schema!r})"


def check(schema: Schema) -> Callable[[Callable[[str, Any], Any]], Check]:
    """`@check({...})` over `def validator(name, value)` makes it a `Check`."""

    def wrap(parse: Callable[[str, Any], Any]) -> Check:
        return Check(parse, schema)

    return wrap


def nullable(schema: Schema) -> Schema:
    """The schema, or JSON null (optional fields may be sent as null, meaning absent)."""
    if isinstance(schema.get("type"), str) and "enum" not in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


class Fields:
    """The fields of a JSON object body (or a form): unknown fields are refused, required
    ones must be there, optional ones may be absent or null. Call it on the body."""

    def __init__(self, required: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> None:
        self.required = dict(required)
        self.optional = dict(optional or {})
        for name, validator in {**self.required, **self.optional}.items():
            if not isinstance(validator, Check):
                raise TypeError(f"field {name!r}: {validator!r} is not a Check (it has no schema)")

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.required) | frozenset(self.optional)

    def __call__(self, body: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(body) - self.names)
        if unknown:
            raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}.")
        out: dict[str, Any] = {}
        for name, validator in self.required.items():
            if name not in body:
                raise InvalidRequest(f"{name} is required.")
            out[name] = validator(name, body[name])
        for name, validator in self.optional.items():
            out[name] = validator(name, body[name]) if name in body and body[name] is not None else None
        return out

    @property
    def schema(self) -> Schema:
        properties = {name: v.schema for name, v in self.required.items()}
        properties.update({name: nullable(v.schema) for name, v in self.optional.items()})
        out: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if self.required:
            out["required"] = list(self.required)
        return out


def fields(
    body: Mapping[str, Any], required: Mapping[str, Check], optional: Mapping[str, Check] | None = None
) -> dict[str, Any]:
    return Fields(required, optional)(body)


def text(max_length: int, *, min_length: int = 1) -> Check:
    def parse(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidRequest(f"{name} must be a string.")
        if not min_length <= len(value) <= max_length:
            raise InvalidRequest(f"{name} must be {min_length} to {max_length} characters.")
        if not value.isprintable():
            raise InvalidRequest(f"{name} must contain printable characters only.")
        return value

    return Check(
        parse,
        {
            "type": "string",
            "minLength": min_length,
            "maxLength": max_length,
            "pattern": PRINTABLE,
            "description": "Printable characters only (no control, format or separator character but space).",
        },
    )


def integer(lo: int, hi: int) -> Check:
    def parse(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(f"{name} must be an integer.")
        if not lo <= value <= hi:
            raise InvalidRequest(f"{name} must be between {lo} and {hi}.")
        return value

    return Check(parse, {"type": "integer", "minimum": lo, "maximum": hi})


def one_of(*choices: str) -> Check:
    def parse(name: str, value: Any) -> str:
        if value not in choices:
            raise InvalidRequest(f"{name} must be one of {', '.join(choices)}.")
        return str(value)

    return Check(parse, {"type": "string", "enum": list(choices)})


@check(
    {
        "type": "string",
        "maxLength": MAX_ACTION_LENGTH,
        "pattern": r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$",
        "examples": ["stock.write", "requisition.submit"],
        "description": "An action: lower case, dotted, no wildcard.",
    }
)
def action(name: str, value: Any) -> str:
    if not isinstance(value, str) or not is_valid_action(value):
        raise InvalidRequest(
            f"{name} must be an action such as 'stock.write' (lower case, dotted, no wildcard)."
        )
    return value


@check(
    {
        "type": "string",
        "maxLength": MAX_ACTION_LENGTH,
        "pattern": r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*(\.\*)?$",
        "examples": ["stock.write", "stock.*"],
        "description": "An action, or a prefix ending in `.*` that matches every action under it.",
    }
)
def action_pattern(name: str, value: Any) -> str:
    if not isinstance(value, str) or not is_valid_action_pattern(value):
        raise InvalidRequest(f"{name} must be an action such as 'stock.write' or 'stock.*'.")
    return value


@check({"type": "string", "pattern": ids.TENANT_ID.pattern, "examples": ["tnt_0123456789abcdef0123"]})
def tenant_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not ids.TENANT_ID.fullmatch(value):
        raise InvalidRequest(f"{name} must be a tenant id (tnt_ followed by 20 hex digits).")
    return value


@check(
    {
        "type": "string",
        "pattern": r"^[\x21-\x7e]{1,64}$",
        "examples": ["tnt_0123456789abcdef0123"],
        "description": "The receiving tenant's id. An unknown tenant gets the same BLOCK as a real one.",
    }
)
def receiving_tenant(name: str, value: Any) -> str:
    """Any string that could be a tenant id is decided by policy, so an unknown tenant gets
    the same BLOCK as a real one; only values no tenant id can have are a 400."""
    if not isinstance(value, str) or not PLAUSIBLE_ID.fullmatch(value):
        raise InvalidRequest(f"{name} must be a tenant id.")
    return value


@check({"type": "string", "minLength": 1, "maxLength": 8192})
def token(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 8192:
        raise InvalidRequest(f"{name} must be a non-empty string of at most 8192 characters.")
    return value


def limit(maximum: int = 200, default: int = 50) -> Check:
    """A page size in a query string."""

    def parse(name: str, raw: str) -> int:
        if not DIGITS.fullmatch(raw) or not 1 <= int(raw) <= maximum:
            raise InvalidRequest(f"{name} must be an integer from 1 to {maximum}.")
        return int(raw)

    return Check(parse, {"type": "integer", "minimum": 1, "maximum": maximum, "default": default})


@check(
    {
        "type": "string",
        "format": "date-time",
        "examples": ["2026-01-31T12:00:00Z"],
        "description": f"An ISO-8601 instant with a time zone, between the years {MIN_YEAR} and {MAX_YEAR}.",
    }
)
def instant(name: str, raw: str) -> str:
    """An ISO-8601 instant, normalised to the audit sort-key format (UTC, microseconds, Z)."""
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise InvalidRequest(f"{name} must include a time zone (e.g. Z).")
        moment = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidRequest(f"{name} must be an ISO-8601 instant such as 2026-01-31T12:00:00Z.") from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise InvalidRequest(f"{name} must lie between the years {MIN_YEAR} and {MAX_YEAR}.")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@check({"type": "string", "minLength": 1, "description": "The `next_cursor` of the previous page."})
def cursor(name: str, raw: str) -> str:
    return raw


def only_params(query: Mapping[str, str], allowed: set[str] | frozenset[str]) -> None:
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise InvalidRequest(f"Unknown query parameter(s): {', '.join(unknown)}.")


class Query:
    """The query parameters of a route: unknown ones are refused, each given one parsed by
    its Check (absent: the schema's default, else None). Array parameters (repeatable) are
    declared here for the document and parsed by the route from `Ctx.multi_query`."""

    def __init__(self, params: Mapping[str, Check] | None = None) -> None:
        self.params = dict(params or {})
        for name, validator in self.params.items():
            if not isinstance(validator, Check):
                raise TypeError(f"query parameter {name!r}: {validator!r} is not a Check (it has no schema)")

    def __call__(self, query: Mapping[str, str]) -> dict[str, Any]:
        only_params(query, frozenset(self.params))
        out: dict[str, Any] = {}
        for name, validator in self.params.items():
            if validator.schema.get("type") == "array":
                continue
            raw = query.get(name)
            out[name] = validator.schema.get("default") if raw is None else validator(name, raw)
        return out
