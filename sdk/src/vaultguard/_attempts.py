"""One logical call to the API and its attempts, shared by both clients (no I/O here).

Each attempt is built anew: a DPoP proof (RFC 9449 §4.2) and a client assertion (RFC 7523
§3) are single-use, their `jti` going into the server's replay check, so every retry (after
a lost connection, a timeout, a 5xx or a 429, and the one retry with the server's
`DPoP-Nonce`, §8) sends new ones. Resending the same assertion would be `invalid_client`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _core
from ._client_key import ClientKey
from ._dpop import DPoPProver
from ._errors import ServiceUnavailable

USE_DPOP_NONCE = "use_dpop_nonce"


@dataclass(frozen=True)
class ClientAuthentication:
    """How the client authenticates at the token endpoint: a fresh assertion signed by its
    key for each attempt (private_key_jwt), else client_secret_basic."""

    api_url: str
    client_id: str
    client_secret: str = field(repr=False)  # never in a repr or a log
    key: ClientKey | None = None

    def signer(self, form: Mapping[str, str]) -> Callable[[], dict[str, Any]]:
        """The body and auth of one attempt of a token request carrying `form`."""

        def sign() -> dict[str, Any]:
            if self.key is not None:
                assertion = self.key.form(self.client_id, f"{self.api_url}/oauth/token")
                return {"data": {**form, **assertion}}
            return {"data": dict(form), "auth": (self.client_id, self.client_secret)}

        return sign


@dataclass(frozen=True)
class Calls:
    """What every call of one client shares: its API, its retry budget and its DPoP prover."""

    api_url: str
    max_retries: int
    backoff: float
    dpop: DPoPProver | None

    def start(
        self,
        method: str,
        path: str,
        kwargs: dict[str, Any],
        *,
        idempotent: bool,
        token: _core.ApiToken | None,
    ) -> Call:
        retries = (self.max_retries, self.backoff)
        url = self.api_url + path
        return Call(method, url, kwargs, idempotent=idempotent, retries=retries, dpop=self.dpop, token=token)


class Call:
    """The attempts of one call: what each sends (headers, a fresh proof) and, after each
    answer, whether and when to try again. `token` is the API token the call presents:
    `Authorization: DPoP` when it was issued as `token_type: DPoP`, Bearer otherwise."""

    def __init__(
        self,
        method: str,
        url: str,
        kwargs: dict[str, Any],
        *,
        idempotent: bool,
        retries: tuple[int, float],
        dpop: DPoPProver | None,
        token: _core.ApiToken | None = None,
    ) -> None:
        self.method, self.url, self.idempotent = method, url, idempotent
        self.max_retries, self.backoff = retries
        self.dpop, self.token = dpop, token
        self.headers = {
            "User-Agent": _core.USER_AGENT,
            "Accept": "application/json",
            "x-request-id": _core.new_request_id(),
            **kwargs.pop("headers", {}),
        }
        if token is not None:
            self.headers["Authorization"] = f"{token.token_type} {token.value}"
        self.kwargs = kwargs
        self.attempt = 0
        self.nonce_retried = False

    def request(self, signed: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The keyword arguments of the next attempt; `signed` (a fresh client assertion) joins them."""
        headers = dict(self.headers)
        if self.dpop is not None:
            access_token = self.token.value if self.token is not None else None
            headers["DPoP"] = self.dpop.proof(self.method, self.url, access_token)
        return {**self.kwargs, **(signed or {}), "headers": headers}

    def retry_delay(self, reply: _core.Reply | None) -> float | None:
        """Seconds to wait before the next attempt (0: at once), or None: `reply` is final
        (None: the connection failed, raise `unreachable`)."""
        if reply is not None and self._nonce_wanted(reply):
            return 0.0
        delay = _core.retry_delay(
            reply,
            self.attempt,
            max_retries=self.max_retries,
            backoff=self.backoff,
            idempotent=self.idempotent,
        )
        if delay is not None:
            self.attempt += 1
        return delay

    def unreachable(self, failure: BaseException, api_url: str) -> ServiceUnavailable:
        return _core.unreachable(failure, api_url, self.attempt + 1)

    def _nonce_wanted(self, reply: _core.Reply) -> bool:
        """RFC 9449 §8-9: the server asks for its nonce; retried once per call, with it."""
        nonce = reply.headers.get("dpop-nonce")
        if self.dpop is None or self.nonce_retried or not nonce:
            return False
        if reply.error != USE_DPOP_NONCE and USE_DPOP_NONCE not in reply.headers.get("www-authenticate", ""):
            return False
        self.dpop.remember(self.url, nonce)
        self.nonce_retried = True
        return True
