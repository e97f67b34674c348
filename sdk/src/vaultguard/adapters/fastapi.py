"""FastAPI: ``Depends(require_delegation(verifier, "stock.write"))`` -> ``VerifiedDelegation``.

Bearer tokens and DPoP-bound ones (``Authorization: DPoP`` + ``DPoP`` proof, checked against
``request.url``: behind a proxy, run uvicorn with ``--proxy-headers`` so it is the public URL).

The dependency is a plain ``def``, so FastAPI runs it in its threadpool: a JWKS refetch or an
introspection call never blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .._verifier import SupportsVerify, VerifiedDelegation
from ._common import Denied, check

__all__ = ["require_delegation"]

# Declares the bearer scheme in the OpenAPI document only; the header is parsed in _common.
_bearer_scheme = HTTPBearer(auto_error=False, description="VaultGuard delegation token")


def require_delegation(
    verifier: SupportsVerify, action: str | None = None
) -> Callable[..., VerifiedDelegation]:
    """A dependency answering 401 / 403 / 503 (JSON ``detail``), or the verified delegation."""

    def dependency(
        request: Request,
        _scheme: HTTPAuthorizationCredentials | None = Security(_bearer_scheme),  # noqa: B008
    ) -> VerifiedDelegation:
        outcome = check(
            verifier,
            action,
            request.headers.get("authorization"),
            dpop_proof=request.headers.get("dpop"),
            method=request.method,
            url=str(request.url),
        )
        if isinstance(outcome, Denied):
            raise HTTPException(outcome.status_code, detail=outcome.body, headers=outcome.headers)
        return outcome

    return dependency
