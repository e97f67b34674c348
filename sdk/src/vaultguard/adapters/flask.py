"""Flask: ``@delegation_required(verifier, "stock.write")`` puts the ``VerifiedDelegation`` on
``flask.g.delegation``; refusals are JSON with 401 / 403 / 503 and a ``WWW-Authenticate``.
DPoP-bound tokens are checked against ``request.url`` (behind a proxy, use werkzeug's
``ProxyFix`` so it is the public URL)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, jsonify, request

from .._verifier import SupportsVerify
from ._common import Denied, check
from .chalice import chalice_delegation_required

__all__ = ["chalice_delegation_required", "delegation_required"]

F = TypeVar("F", bound=Callable[..., Any])


def _check(verifier: SupportsVerify, action: str | None) -> Any:
    return check(
        verifier,
        action,
        request.headers.get("Authorization"),
        dpop_proof=request.headers.get("DPoP"),
        method=request.method,
        url=request.url,
    )


def delegation_required(verifier: SupportsVerify, action: str | None = None) -> Callable[[F], F]:
    """Decorate a view (sync or async) so it runs only for a valid delegation."""

    def refuse(denied: Denied) -> Any:
        return jsonify(denied.body), denied.status_code, denied.headers

    def decorator(view: F) -> F:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                outcome = _check(verifier, action)
                if isinstance(outcome, Denied):
                    return refuse(outcome)
                g.delegation = outcome
                return await view(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            outcome = _check(verifier, action)
            if isinstance(outcome, Denied):
                return refuse(outcome)
            g.delegation = outcome
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
