"""Client side: attach ``Authorization: Bearer <delegation token>`` to outgoing calls.

``DelegationAuth`` for requests, ``HttpxDelegationAuth`` for httpx (sync and async clients).
Either takes the token or a zero-argument callable returning the current one (called on every
request, so a refreshed delegation is picked up). Both libraries drop the header when a
redirect leaves the original origin.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import httpx
import requests
from requests.auth import AuthBase

__all__ = ["DelegationAuth", "HttpxDelegationAuth"]

TokenSource = str | Callable[[], str]


def _resolve(source: TokenSource) -> str:
    token = source() if callable(source) else source
    if not isinstance(token, str) or not token or any(c in token for c in "\r\n "):
        raise ValueError("the delegation token must be a non-empty string without whitespace")
    return token


class DelegationAuth(AuthBase):
    def __init__(self, token: TokenSource) -> None:
        if not callable(token):
            _resolve(token)
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {_resolve(self._token)}"
        return r


class HttpxDelegationAuth(httpx.Auth):
    def __init__(self, token: TokenSource) -> None:
        if not callable(token):
            _resolve(token)
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {_resolve(self._token)}"
        yield request
