"""What every server adapter shares: reading the bearer token and mapping outcomes to HTTP.

RFC 6750 §3: 401 ``invalid_token`` (a missing token gets a bare ``Bearer`` challenge, §3.1),
403 ``insufficient_scope``; "could not check" is 503, never 401.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._errors import InvalidDelegationToken, ServiceUnavailable
from .._verifier import SupportsVerify, VerifiedDelegation

__all__ = ["Denied", "bearer_token", "check"]


@dataclass(frozen=True)
class Denied:
    """An HTTP answer refusing the request: status, JSON body, headers."""

    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def _challenge(**params: str) -> str:
    if not params:
        return "Bearer"
    return "Bearer " + ", ".join(f'{k}="{v}"' for k, v in params.items())


def check(
    verifier: SupportsVerify,
    action: str | None,
    authorization: str | None,
) -> VerifiedDelegation | Denied:
    """Verify the request's bearer token; a ``Denied`` says how to refuse it."""
    token = bearer_token(authorization)
    if token is None:
        return Denied(
            401,
            {"error": "invalid_token", "error_description": "A delegation bearer token is required."},
            {"WWW-Authenticate": _challenge()},
        )
    try:
        return verifier.verify(token, action=action)
    except InvalidDelegationToken as exc:
        if exc.reason == "insufficient_scope":
            scope = {"scope": action} if action else {}
            return Denied(
                403,
                {
                    "error": "insufficient_scope",
                    "error_description": "The delegation does not grant this action.",
                },
                {"WWW-Authenticate": _challenge(error="insufficient_scope", **scope)},
            )
        return Denied(
            401,
            {
                "error": "invalid_token",
                "error_description": f"The delegation token was refused ({exc.reason}).",
                "reason": exc.reason,
            },
            {"WWW-Authenticate": _challenge(error="invalid_token")},
        )
    except ServiceUnavailable:
        return Denied(
            503,
            {
                "error": "temporarily_unavailable",
                "error_description": "The delegation token could not be checked; try again.",
            },
            {"Retry-After": "5"},
        )
