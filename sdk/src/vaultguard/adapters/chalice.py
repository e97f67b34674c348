"""Chalice: ``@chalice_delegation_required(app, verifier, "stock.write")`` under ``@app.route``.

The verified delegation is set on ``app.current_request.delegation``. Refusals are returned
as a ``chalice.Response`` rather than raised as ``UnauthorizedError``/``ForbiddenError``,
because those cannot carry the ``WWW-Authenticate`` header RFC 6750 asks for.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from .._verifier import SupportsVerify
from ._common import Denied, check

__all__ = ["chalice_delegation_required"]

F = TypeVar("F", bound=Callable[..., Any])


def chalice_delegation_required(
    app: Any, verifier: SupportsVerify, action: str | None = None, *, base_url: str | None = None
) -> Callable[[F], F]:
    """Decorate a Chalice view; place it *below* ``@app.route(...)``.

    ``base_url``: the public origin clients call (``https://api.example.com``), against which
    DPoP proofs' ``htu`` is checked; by default ``https://`` + the Host header."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            req = app.current_request
            outcome = check(
                verifier,
                action,
                req.headers.get("authorization"),
                dpop_proof=req.headers.get("dpop"),
                method=req.method,
                url=_url(req, base_url),
            )
            if isinstance(outcome, Denied):
                return _response(outcome)
            req.delegation = outcome
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def _url(req: Any, base_url: str | None) -> str:
    """The URL the client called: the public origin and the request's concrete path."""
    context = req.context or {}
    path = context.get("path") or req.path
    origin = base_url or f"https://{req.headers.get('host', '')}"
    return origin.rstrip("/") + path


def _response(denied: Denied) -> Any:
    from chalice import Response  # imported late: only Chalice apps need it

    headers: dict[str, str | list[str]] = {"Content-Type": "application/json", **denied.headers}
    return Response(body=json.dumps(denied.body), headers=headers, status_code=denied.status_code)
