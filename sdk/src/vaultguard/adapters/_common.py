"""What every server adapter shares: reading the token and mapping outcomes to HTTP.

RFC 6750 §3: 401 ``invalid_token`` (a missing token gets a bare ``Bearer`` challenge, §3.1),
403 ``insufficient_scope``; "could not check" is 503, never 401. DPoP (RFC 9449 §7): a
DPoP-bound token comes as ``Authorization: DPoP <token>`` with a ``DPoP`` proof header, and
its refusals carry a ``WWW-Authenticate: DPoP algs="..."`` challenge; a bound token sent as
Bearer is refused. Server nonces are optional for a resource server and not used here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._dpop import DPOP_ALGORITHMS
from .._errors import InvalidDelegationToken, ServiceUnavailable
from .._verifier import SupportsVerify, VerifiedDelegation

__all__ = ["Denied", "bearer_token", "check", "credentials"]

_DPOP_REASONS = frozenset({"dpop_bound", "not_dpop_bound", "invalid_dpop_proof"})


@dataclass(frozen=True)
class Denied:
    """An HTTP answer refusing the request: status, JSON body, headers."""

    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def credentials(authorization: str | None) -> tuple[str, str] | None:
    """(scheme, token) of ``Authorization: Bearer|DPoP <token>`` (scheme lower-cased)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token, scheme = token.strip(), scheme.lower()
    if scheme not in ("bearer", "dpop") or not token or " " in token:
        return None
    return scheme, token


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    found = credentials(authorization)
    return found[1] if found is not None and found[0] == "bearer" else None


def _challenge(scheme: str = "Bearer", **params: str) -> str:
    if scheme == "DPoP":
        params = {"algs": " ".join(DPOP_ALGORITHMS), **params}
    if not params:
        return scheme
    return scheme + " " + ", ".join(f'{k}="{v}"' for k, v in params.items())


def check(
    verifier: SupportsVerify,
    action: str | None,
    authorization: str | None,
    *,
    dpop_proof: str | None = None,
    method: str | None = None,
    url: str | None = None,
) -> VerifiedDelegation | Denied:
    """Verify the request's token (and its DPoP proof); a ``Denied`` says how to refuse it."""
    found = credentials(authorization)
    if found is None:
        return Denied(
            401,
            {"error": "invalid_token", "error_description": "A delegation bearer token is required."},
            {"WWW-Authenticate": _challenge()},
        )
    scheme, token = found
    try:
        if scheme == "dpop":
            if not dpop_proof:
                raise InvalidDelegationToken("invalid_dpop_proof", "a DPoP proof header is required")
            return verifier.verify(  # type: ignore[call-arg]
                token, action=action, dpop_proof=dpop_proof, method=method, url=url
            )
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
                {
                    "WWW-Authenticate": _challenge(
                        "DPoP" if scheme == "dpop" else "Bearer", error="insufficient_scope", **scope
                    )
                },
            )
        dpop = scheme == "dpop" or exc.reason in _DPOP_REASONS
        error = "invalid_dpop_proof" if exc.reason == "invalid_dpop_proof" else "invalid_token"
        return Denied(
            401,
            {
                "error": error,
                "error_description": f"The delegation token was refused ({exc.reason}).",
                "reason": exc.reason,
            },
            {"WWW-Authenticate": _challenge("DPoP" if dpop else "Bearer", error=error)},
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
