"""Calls this process makes to its own moto server, handed to moto's WSGI app directly.

The embedded stack (`make run`) runs moto's server in the same process as the app, so that
other processes (the CLI, `aws --endpoint-url`, a second server) can reach it. Over the
socket, each AWS call costs a TCP connection (werkzeug's server closes every connection after
one response), a new thread, HTTP parsing on both sides and the teardown: about half of the
server's CPU per request. The app's own calls need none of that: a botocore `before-send`
handler builds the WSGI environ from the signed request and returns moto's answer as the
response, exactly the bytes the socket would have carried. Everything else (service dispatch,
moto's request parsing, its locks, error answers) is unchanged, and other processes still
use the socket.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any
from urllib.parse import unquote, urlsplit

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _RawBody(BytesIO):
    """What botocore reads a response body from (urllib3's `stream()` and `read()`)."""

    def stream(self, **_: Any) -> Iterable[bytes]:
        while chunk := self.read(65536):
            yield chunk


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):  # a seekable stream (botocore rewinds it on retries)
        start = body.tell() if hasattr(body, "tell") else None
        data = body.read()
        if start is not None:
            body.seek(start)
        return data if isinstance(data, bytes) else str(data).encode("utf-8")
    return b"".join(body)


def wsgi_environ(
    method: str, url: str, headers: Iterable[tuple[str, str | bytes]], body: bytes
) -> dict[str, Any]:
    """The environ werkzeug's server would build for this request (PATH_INFO percent-decoded
    and in WSGI's latin-1 form, headers as HTTP_*)."""
    parts = urlsplit(url)
    raw_path = parts.path or "/"
    raw_uri = raw_path + (f"?{parts.query}" if parts.query else "")
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme or "http",
        "wsgi.input": BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "REQUEST_METHOD": method.upper(),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(raw_path).encode("utf-8").decode("latin-1"),
        "QUERY_STRING": parts.query,
        "REQUEST_URI": raw_uri,
        "RAW_URI": raw_uri,
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0,
        "SERVER_NAME": parts.hostname or "127.0.0.1",
        "SERVER_PORT": str(parts.port or 80),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": parts.netloc,  # http.client adds Host when it sends; botocore does not
    }
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key == "CONTENT_LENGTH":
            continue  # the body's own length, set above
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = _text(value)
    return environ


class LoopbackTransport:
    """A botocore `before-send` handler: requests to `endpoint` are answered by `app` in this
    thread; any other request goes on to the network as usual (returning None)."""

    def __init__(self, endpoint: str, app: WsgiApp) -> None:
        self._prefix = endpoint.rstrip("/") + "/"
        self._app = app
        self.calls = 0

    def handles(self, url: str) -> bool:
        return url.startswith(self._prefix) or url == self._prefix[:-1]

    def __call__(self, request: Any, **_: Any) -> Any:
        if not self.handles(request.url):
            return None
        from botocore.awsrequest import AWSResponse
        from botocore.compat import HTTPHeaders

        body = _body_bytes(request.body)
        environ = wsgi_environ(request.method, request.url, request.headers.items(), body)
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answer["status"], answer["headers"] = int(status.split(" ", 1)[0]), headers

        answer_body = b"".join(self._app(environ, start_response))
        headers = HTTPHeaders()
        for name, value in answer["headers"]:
            headers[name] = value
        self.calls += 1
        return AWSResponse(request.url, answer["status"], headers, _RawBody(answer_body))

    def install(self) -> None:
        """Route every botocore session created from now on in this process through it."""
        import botocore.handlers

        entry = ("before-send", self)
        if entry not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(entry)

    def uninstall(self) -> None:
        import botocore.handlers

        entry = ("before-send", self)
        if entry in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.remove(entry)
