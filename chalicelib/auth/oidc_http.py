"""The one HTTP transport of the OIDC relying party: discovery, JWKS and the token endpoint.

`HttpTransport` is what `OidcClient` calls (tests give it an in-memory provider);
`RequestsTransport` is the default. It refuses plain http except to a loopback host (the
local identity provider under `make run`), never follows redirects, ignores proxies, netrc
and CA bundles from the environment, times out, and caps the (decoded) body size.
`requests` is imported when the first transport is built, not when this module is.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote_plus, urlsplit

if TYPE_CHECKING:
    import requests

__all__ = ["LOOPBACK_HOSTS", "HttpTransport", "RequestsTransport", "TransportError", "url_allowed"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_RESPONSE_BYTES = 1024 * 1024
_CHUNK = 64 * 1024


class TransportError(Exception):
    """The provider could not be reached or its answer could not be read (callers answer 503)."""


class HttpTransport(Protocol):
    """GET and form POST to the provider; answers are (status, body). Failures to reach the
    provider raise TransportError; any HTTP status is returned, redirects included."""

    def get(self, url: str) -> tuple[int, bytes]: ...

    def post_form(
        self, url: str, form: Mapping[str, str], basic_auth: tuple[str, str] | None
    ) -> tuple[int, bytes]: ...


def url_allowed(url: str) -> bool:
    """https, or http to a loopback host only; no user info, no fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except (ValueError, TypeError, AttributeError):
        return False
    if not host or parts.username is not None or parts.fragment:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK_HOSTS)


def basic_authorization(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1 and Appendix B: both parts form-urlencoded, joined, base64-encoded."""
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


class RequestsTransport:
    """The default transport, one `requests.Session` per instance (built once per process)."""

    def __init__(
        self,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        max_bytes: int = MAX_RESPONSE_BYTES,
        ca_bundle: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        import requests

        self._requests = requests
        self._session = session if session is not None else requests.Session()
        self._session.trust_env = False  # no proxies, netrc or CA bundle from the environment
        self._timeout = (connect_timeout, read_timeout)
        self._max_bytes = max_bytes
        self._verify: str | bool = ca_bundle or True

    def get(self, url: str) -> tuple[int, bytes]:
        return self._send("GET", url, None, {})

    def post_form(
        self, url: str, form: Mapping[str, str], basic_auth: tuple[str, str] | None
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if basic_auth is not None:
            headers["Authorization"] = basic_authorization(*basic_auth)
        return self._send("POST", url, dict(form), headers)

    def _send(
        self, method: str, url: str, form: dict[str, str] | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if not url_allowed(url):
            raise TransportError("refused URL: https is required (http only to a loopback host)")
        headers = {"Accept": "application/json", **headers}
        try:
            with self._session.request(
                method,
                url,
                data=form,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
                verify=self._verify,
            ) as response:
                body = bytearray()
                for chunk in response.iter_content(_CHUNK):  # decoded, so a gzip bomb is capped too
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise TransportError(f"response larger than {self._max_bytes} bytes")
                return response.status_code, bytes(body)
        except self._requests.RequestException as exc:
            raise TransportError(f"{type(exc).__name__} from {urlsplit(url).hostname}") from None
