"""POST to a webhook over a connection to an address that was checked first (SSRF guard).

The host is resolved once, through one injectable resolver (`socket.getaddrinfo` by
default). Every answer must be public, or else nothing is sent; the connection then goes
to exactly those addresses, so a DNS answer that changes between the check and the connect
(rebinding) cannot redirect it. TLS still sends SNI for, and verifies the certificate
against, the URL's host name. Redirects are never followed and proxies from the
environment are never used (a proxy would do its own resolving).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from chalicelib.domain import netaddr

Resolver = Callable[..., Sequence[tuple[Any, ...]]]
"""`socket.getaddrinfo`'s shape: called as `resolver(host, port, 0, socket.SOCK_STREAM)`."""

Dial = Callable[..., socket.socket]
"""`socket.create_connection`'s shape: called as `dial((address, port), timeout)`."""


class UnsafeDestination(requests.RequestException):
    """The URL's host is, or resolves to, an address that may not be reached. Never retried."""


class PinnedPoster:
    """A `requests.post`-shaped callable for the webhook dispatcher. `allow_private` (the
    local stack and tests) also permits loopback, RFC 1918 and unique-local addresses; cloud
    metadata, link-local, multicast and the rest stay refused in every mode."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        dial: Dial | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self.allow_private = allow_private
        self._resolver: Resolver = resolver or socket.getaddrinfo
        self._dial: Dial = dial or socket.create_connection
        self._verify: str | bool = ca_bundle or True  # True: requests' bundle (certifi)

    def __call__(
        self,
        url: str,
        *,
        data: bytes,
        headers: dict[str, str],
        timeout: float,
        allow_redirects: bool = False,
        stream: bool = True,
    ) -> requests.Response:
        """POST `data` to `url` and return the response with its body unread and its
        connection closed. A 3xx is returned as it is (`allow_redirects` is ignored)."""
        request = requests.Request("POST", url, data=data, headers=headers).prepare()
        assert request.url is not None
        parts = urlsplit(request.url)  # requests has IDNA-encoded the host
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise requests.exceptions.InvalidURL(f"not an http(s) URL: {parts.scheme}://")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = self.resolve(host, port)
        if netaddr.parse_ip(host) is not None:  # an address: its canonical spelling for TLS
            host = addresses[0]
        adapter = _PinnedAdapter(_pool(parts.scheme, host, port, addresses, self._dial))
        try:
            response = adapter.send(request, stream=True, timeout=timeout, verify=self._verify)
            response.close()  # the receiver's answer body is never read
            return response
        finally:
            adapter.close()

    def fetch(
        self,
        method: str,
        url: str,
        *,
        data: Any = None,
        headers: dict[str, str],
        timeout: float | tuple[float, float],
        max_bytes: int,
    ) -> tuple[int, dict[str, str], bytes]:
        """`method` to `url` over the same checked, pinned connection, reading the answer
        (status, headers in lower case, at most `max_bytes` of body: ValueError past that).
        For clients that need the answer (the vault's provider calls)."""
        request = requests.Request(method, url, data=data, headers=headers).prepare()
        assert request.url is not None
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise requests.exceptions.InvalidURL(f"not an http(s) URL: {parts.scheme}://")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = self.resolve(host, port)
        if netaddr.parse_ip(host) is not None:
            host = addresses[0]
        adapter = _PinnedAdapter(_pool(parts.scheme, host, port, addresses, self._dial))
        try:
            with adapter.send(request, stream=True, timeout=timeout, verify=self._verify) as response:
                body = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > max_bytes:
                        raise ValueError(f"response larger than {max_bytes} bytes")
                return response.status_code, {k.lower(): v for k, v in response.headers.items()}, bytes(body)
        finally:
            adapter.close()

    def resolve(self, host: str, port: int) -> tuple[str, ...]:
        """The addresses to connect to for `host`, each checked; UnsafeDestination when
        any is refused, requests.ConnectionError when the name does not resolve."""
        try:
            literal = netaddr.parse_ip(host)
        except ValueError:
            raise UnsafeDestination(f"{host!r} is not a valid IP address") from None
        if literal is not None:
            found: list[netaddr.IPAddress] = [literal]
        else:
            reason = netaddr.internal_name_reason(host)
            if reason and not self.allow_private:
                raise UnsafeDestination(reason)
            found = self._lookup(host, port)
        for address in found:
            reason = netaddr.non_public_reason(address)
            if reason and not (self.allow_private and reason in netaddr.LOCAL_REASONS):
                raise UnsafeDestination(f"{host} resolves to a {reason} address ({address})")
        return tuple(dict.fromkeys(str(a) for a in found))  # in the resolver's order, once each

    def _lookup(self, host: str, port: int) -> list[netaddr.IPAddress]:
        try:
            answers = self._resolver(host, port, 0, socket.SOCK_STREAM)
        except OSError as exc:  # socket.gaierror: no such name, or DNS is down (retried)
            raise requests.ConnectionError(f"cannot resolve {host}: {exc}") from None
        found: list[netaddr.IPAddress] = []
        for answer in answers:
            sockaddr = answer[4]
            try:
                address = netaddr.parse_ip(str(sockaddr[0]))
            except ValueError:
                address = None
            if address is None:
                raise UnsafeDestination(f"{host} resolved to something not an address: {sockaddr!r}")
            found.append(address)
        if not found:
            raise requests.ConnectionError(f"{host} has no addresses")
        return found


# -- the pinned connection ---------------------------------------------------------------------


class _PinnedMixin:
    """Replaces urllib3's connect (which resolves `host` again) by dialling the checked
    addresses in order; everything above the socket (TLS, SNI, HTTP) is urllib3's."""

    host: str
    port: int
    timeout: Any

    def __init__(self, *args: Any, pinned: tuple[str, ...], dial: Dial, **kwargs: Any) -> None:
        self._pinned = pinned
        self._dial = dial
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        last: OSError | None = None
        for address in self._pinned:
            try:
                return self._dial((address, self.port), self.timeout)
            except OSError as exc:
                last = exc
        conn = cast(HTTPConnection, self)
        if isinstance(last, TimeoutError):
            raise ConnectTimeoutError(conn, f"Connection to {self.host} timed out.") from last
        raise NewConnectionError(conn, f"Failed to establish a new connection: {last}") from last


class _PinnedHTTPConnection(_PinnedMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedMixin, HTTPSConnection):
    pass


def _pool(scheme: str, host: str, port: int, pinned: tuple[str, ...], dial: Dial) -> HTTPConnectionPool:
    """One connection pool for one request. Its host is the URL's (the Host header, SNI and
    the certificate check use it); its connections only ever dial `pinned`."""
    pool: HTTPConnectionPool
    if scheme == "https":
        pool = HTTPSConnectionPool(
            host,
            port,
            maxsize=1,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            server_hostname=host,
            assert_hostname=host,
            pinned=pinned,
            dial=dial,
        )
        pool.ConnectionCls = _PinnedHTTPSConnection
    else:
        pool = HTTPConnectionPool(host, port, maxsize=1, retries=False, pinned=pinned, dial=dial)
        pool.ConnectionCls = _PinnedHTTPConnection
    return pool


class _PinnedAdapter(HTTPAdapter):
    """An adapter that sends through one given pool, whatever the request's URL says."""

    def __init__(self, pool: HTTPConnectionPool) -> None:
        super().__init__(max_retries=0)
        self._pool = pool

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> HTTPConnectionPool:
        return self._pool

    def get_connection(self, url: Any, proxies: Any = None) -> HTTPConnectionPool:
        return self._pool

    def close(self) -> None:
        self._pool.close()
        super().close()
