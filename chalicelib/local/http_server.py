"""Chalice's local server, answering what API Gateway answers before any Lambda runs in
VaultGuard's error shape, with x-request-id and the security headers.

On AWS those answers (an unknown route, a request too large) come from the Gateway Responses
that `chalicelib.api._http.gateway_responses` renders; here the same errors and headers
answer an unknown route (404), a malformed request (400, 411, 413, 414, 431, 505) and a method
the server implements for no route, such as TRACE (501), never with an HTML page or a
traceback. Routes themselves run unchanged (a method a route lacks is Chalice's 405).
"""

from __future__ import annotations

import json
import re
import socket
import sys
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    EventType,
    HeaderType,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    LocalGatewayException,
    ThreadedHTTPServer,
)

from chalicelib.api._context import REQUEST_ID_HEADER, adopt_request_id
from chalicelib.api._http import JSON, response_headers, route_not_found
from chalicelib.errors import (
    HeadersTooLarge,
    HttpVersionNotSupported,
    InvalidRequest,
    LengthRequired,
    PayloadTooLarge,
    Unimplemented,
    UriTooLong,
    VaultGuardError,
)
from chalicelib.local import dashboard
from chalicelib.observability import logger

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit (REQUEST_TOO_LARGE above it)
_DIGITS = re.compile(r"[0-9]{1,19}")
# What http.server itself refuses (a bad request line or version, headers too large, a
# method with no do_* handler) -> the error VaultGuard answers instead of its HTML page.
_PROTOCOL_ERRORS: dict[int, type[VaultGuardError]] = {
    414: UriTooLong,
    431: HeadersTooLarge,
    501: Unimplemented,
    505: HttpVersionNotSupported,
}
_DISCONNECTED = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout)


class Refused(LocalGatewayException):
    """A request answered with `error` before (or instead of) reaching a route."""

    def __init__(self, error: VaultGuardError, *, close: bool = False) -> None:
        super().__init__({}, None)
        self.CODE = error.status_code
        self.error = error
        self.close = close


class VaultGuardGateway(LocalGateway):
    def _generate_lambda_event(
        self, method: str, path: str, headers: HeaderType, body: bytes | None
    ) -> EventType:
        try:
            return super()._generate_lambda_event(method, path, headers, body)
        except ValueError:  # chalice's RouteMatcher: no route for this path
            raise Refused(route_not_found()) from None


class VaultGuardRequestHandler(ChaliceRequestHandler):
    server_version = "VaultGuard"
    # A request line too broken to name a version still gets a status line and headers.
    default_request_version = "HTTP/1.1"
    # The status line and headers go out in one write and the body in another: with Nagle's
    # algorithm on, the body waits for the client's (delayed, ~40 ms) ACK of the headers.
    disable_nagle_algorithm = True

    def __init__(
        self,
        request: Any,
        client_address: tuple[str, int],
        server: ThreadedHTTPServer,
        app_object: Chalice,
        config: Config,
    ) -> None:
        # ChaliceRequestHandler.__init__ would build the stock gateway; the base class then
        # serves the connection from inside __init__.
        self.local_gateway = VaultGuardGateway(app_object, config)
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)

    def handle_one_request(self) -> None:
        # An error found before this request's headers are read must not see the last one's.
        self.command, self.path, self.headers = "", "", self.MessageClass()
        super().handle_one_request()

    def _parse_payload(self) -> tuple[HeaderType, bytes | None]:
        if "transfer-encoding" in self.headers:
            raise Refused(LengthRequired(), close=True)
        values = {value.strip() for value in self.headers.get_all("content-length") or ()}
        if not values:
            return dict(self.headers), None
        if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
            raise Refused(
                InvalidRequest("The Content-Length header must be one non-negative integer."), close=True
            )
        length = int(values.pop())
        if length > MAX_BODY_BYTES:
            raise Refused(PayloadTooLarge(f"The request body exceeds {MAX_BODY_BYTES} bytes."), close=True)
        body = self.rfile.read(length) if length else None
        if body is not None and len(body) < length:
            raise Refused(InvalidRequest("The body ended before its Content-Length."), close=True)
        return dict(self.headers), body

    def _generic_handle(self) -> None:
        try:
            if dashboard.handles(self.command, self.path):
                self._send_dashboard()
                return
            super()._generic_handle()
        except Refused as refused:
            self._send_error_response(refused)
        except _DISCONNECTED:
            self.close_connection = True
        except Exception:
            logger.exception("local server could not answer", extra={"method": self.command})
            self._send_error_response(Refused(VaultGuardError(), close=True))

    def _send_dashboard(self) -> None:
        """The dashboard's static files (local only; CloudFront serves them in production)."""
        self._parse_payload()  # a body sent with a GET is read (and checked), never left on the wire
        reply = dashboard.answer(self.path, adopt_request_id(self.headers.get(REQUEST_ID_HEADER)))
        if reply.error is not None:
            raise Refused(reply.error)
        self._send_http_response(reply.status, reply.headers, reply.body)

    # The base class bound these to its own _generic_handle.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def version_string(self) -> str:
        return self.server_version

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals, in the error shape (it would send an HTML page)."""
        known = _PROTOCOL_ERRORS.get(code)
        error = known() if known else InvalidRequest("The request line is malformed.")
        self._send_error_response(Refused(error, close=True), reason=message)

    def _send_error_response(self, error: LocalGatewayException, reason: str | None = None) -> None:
        if not isinstance(error, Refused):  # Chalice authorizers' answers (VaultGuard has none)
            super()._send_error_response(error)
            return
        request_id = adopt_request_id(self.headers.get(REQUEST_ID_HEADER))
        headers: dict[str, Any] = {"Content-Type": JSON, **error.error.headers}
        headers.update(response_headers(request_id))
        if error.close:  # what follows on the connection cannot be told apart from a body
            headers["Connection"] = "close"
        logger.info(
            "request refused",
            extra={
                "request_id": request_id,
                "method": self.command,
                "path": (self.path or "").split("?")[0][:256],
                "status": error.CODE,
                "error": error.error.error,
                "reason": (reason or error.error.description)[:256],
            },
        )
        try:
            self._send_http_response(error.CODE, headers, json.dumps(error.error.body(request_id)))
        except _DISCONNECTED:
            self.close_connection = True

    def _send_http_response(self, code: int, headers: HeaderType, body: str | bytes | None) -> None:
        # Chalice's own answers (an OPTIONS preflight) carry the common headers too.
        if not any(name.lower() == REQUEST_ID_HEADER for name in headers):
            headers = {**headers, **response_headers(adopt_request_id(self.headers.get(REQUEST_ID_HEADER)))}
        super()._send_http_response(code, headers, body)

    def _send_http_response_with_body(self, code: int, headers: HeaderType, body: str | bytes) -> None:
        if self.command != "HEAD":
            super()._send_http_response_with_body(code, headers, body)
            return
        # A HEAD answer announces the body's length and sends none (RFC 9110 §9.3.2).
        self.send_response(code)
        encoded = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_header("Content-Length", str(len(encoded)))
        self.send_header("Content-Type", headers.pop("Content-Type", JSON))
        self._send_headers(headers)


class VaultGuardHTTPServer(ThreadedHTTPServer):
    request_queue_size = 128  # the default 5 resets bursts

    def handle_error(self, request: Any, client_address: Any) -> None:
        """What escaped a handler: a client that went away is not worth a line."""
        if not isinstance(sys.exc_info()[1], _DISCONNECTED):
            logger.exception("local server connection failed", extra={"client": str(client_address)})


def create_server(app: Chalice, config: Config, host: str, port: int) -> LocalDevServer:
    """Chalice's `create_local_server`, with the handler and gateway above."""
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    return LocalDevServer(
        app, config, host, port, handler_cls=VaultGuardRequestHandler, server_cls=VaultGuardHTTPServer
    )
