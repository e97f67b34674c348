"""The one HTTP transport of the vault's provider calls (discovery, JWKS, token, revocation).

Like the sign-in's transport (`chalicelib/auth/oidc_http.py`, whose URL rule it shares):
https only (http to a loopback host for the local stand-in), no redirects, no proxies or CA
bundles from the environment, timeouts, a capped body. It also hands back the response
headers, which the vault needs for `Retry-After`. Tests give the client an in-memory provider
with the same two methods instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from chalicelib.auth.oidc_http import MAX_RESPONSE_BYTES, TransportError, basic_authorization, url_allowed

if TYPE_CHECKING:
    import requests

    from chalicelib.services.safe_http import PinnedPoster

__all__ = [
    "HttpAnswer",
    "PinnedProviderTransport",
    "ProviderTransport",
    "RequestsProviderTransport",
    "TransportError",
]

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case


class ProviderTransport(Protocol):
    """GET and form POST; any HTTP status is an answer, failing to get one is TransportError."""

    def get(self, url: str) -> tuple[int, bytes]: ...

    def post(self, url: str, form: Mapping[str, str], basic_auth: tuple[str, str] | None) -> HttpAnswer: ...


class _FormTransport:
    """What both transports share: GET and form POST over `_fetch`, after the URL rule."""

    def get(self, url: str) -> tuple[int, bytes]:
        answer = self._send("GET", url, None, {})
        return answer.status, answer.body

    def post(self, url: str, form: Mapping[str, str], basic_auth: tuple[str, str] | None) -> HttpAnswer:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if basic_auth is not None:
            headers["Authorization"] = basic_authorization(*basic_auth)
        return self._send("POST", url, dict(form), headers)

    def _send(
        self, method: str, url: str, form: dict[str, str] | None, headers: dict[str, str]
    ) -> HttpAnswer:
        if not url_allowed(url):
            raise TransportError("refused URL: https is required (http only to a loopback host)")
        return self._fetch(method, url, form, {"Accept": "application/json", **headers})

    def _fetch(
        self, method: str, url: str, form: dict[str, str] | None, headers: dict[str, str]
    ) -> HttpAnswer:
        raise NotImplementedError


class PinnedProviderTransport(_FormTransport):
    """The transport of every provider call: the URL rule above, then the webhooks' SSRF
    guard (`chalicelib/services/safe_http.py`): the host resolved once, every address checked
    (no metadata, link-local or private addresses; loopback and private ones only where
    `allow_private`, i.e. the local stage), the connection pinned to those addresses, no
    redirects, no proxies from the environment, timeouts, a capped body. Providers' URLs come
    from tenants (`oidc` issuers, `oauth2` endpoints, discovery documents)."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        max_bytes: int = MAX_RESPONSE_BYTES,
        poster: PinnedPoster | None = None,
    ) -> None:
        from chalicelib.services.safe_http import PinnedPoster

        self._poster = poster or PinnedPoster(allow_private=allow_private)
        self._timeout = (connect_timeout, read_timeout)
        self._max_bytes = max_bytes

    def _fetch(
        self, method: str, url: str, form: dict[str, str] | None, headers: dict[str, str]
    ) -> HttpAnswer:
        import requests

        try:
            status, answer_headers, body = self._poster.fetch(
                method,
                url,
                data=form,
                headers=headers,
                timeout=self._timeout,
                max_bytes=self._max_bytes,
            )
        except ValueError as exc:
            raise TransportError(str(exc)) from None
        except requests.RequestException as exc:
            raise TransportError(f"{type(exc).__name__} from {urlsplit(url).hostname}") from None
        return HttpAnswer(status, body, answer_headers)


class RequestsProviderTransport(_FormTransport):
    """The default transport: one `requests.Session`, built once per process."""

    def __init__(
        self,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        max_bytes: int = MAX_RESPONSE_BYTES,
        session: requests.Session | None = None,
    ) -> None:
        import requests

        self._requests = requests
        self._session = session if session is not None else requests.Session()
        self._session.trust_env = False
        self._timeout = (connect_timeout, read_timeout)
        self._max_bytes = max_bytes

    def _fetch(
        self, method: str, url: str, form: dict[str, str] | None, headers: dict[str, str]
    ) -> HttpAnswer:
        try:
            with self._session.request(
                method,
                url,
                data=form,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
            ) as response:
                body = bytearray()
                for chunk in response.iter_content(_CHUNK):
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise TransportError(f"response larger than {self._max_bytes} bytes")
                answer_headers = {k.lower(): v for k, v in response.headers.items()}
                return HttpAnswer(response.status_code, bytes(body), answer_headers)
        except self._requests.RequestException as exc:
            raise TransportError(f"{type(exc).__name__} from {urlsplit(url).hostname}") from None
