"""HTTP middleware: request id, security headers, CORS, conditional GETs (ETag/304), access
log, and the rewrite of Chalice's own error bodies (405, 415) into VaultGuard's single error
shape."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from chalice import Response
from chalice.app import Request

from chalicelib.api import _conditional, _cors
from chalicelib.api._context import REQUEST_ID_HEADER, adopt_request_id
from chalicelib.observability import flush_metrics, logger, record_request

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
CHALICE_ERRORS = {
    "MethodNotAllowedError": ("method_not_allowed", "The method is not allowed on this resource."),
    "UnsupportedMediaType": ("unsupported_media_type", "The request content type is not supported."),
    "BadRequest": ("invalid_request", "The request is malformed."),
    "BadRequestError": ("invalid_request", "The request is malformed."),
    "InternalServerError": ("server_error", "The server could not complete the request."),
}


def http_middleware(event: Request, get_response: Callable[[Request], Response]) -> Response:
    started = time.perf_counter()
    request_id = adopt_request_id(event.headers.get(REQUEST_ID_HEADER))
    logger.append_keys(request_id=request_id)
    try:
        response = get_response(event)
        _normalise_chalice_error(response, request_id)
        headers = response.headers
        headers[REQUEST_ID_HEADER] = request_id
        for name, value in SECURITY_HEADERS.items():
            headers.setdefault(name, value)
        _conditional.apply(event, response)
        headers.setdefault("Cache-Control", "no-store")
        _cors.add_response_headers(event, headers)
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        logger.info(
            "request",
            extra={
                "method": event.method,
                "path": event.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        record_request(response.status_code, duration_ms)
        flush_metrics()
        return response
    finally:
        logger.remove_keys(["request_id"])


def _normalise_chalice_error(response: Response, request_id: str) -> None:
    body = response.body
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        error, description = CHALICE_ERRORS.get(body["Code"], CHALICE_ERRORS["InternalServerError"])
        if response.status_code == 500:
            logger.error("chalice reported an internal error", extra={"chalice_message": body["Message"]})
        response.body = {"error": error, "error_description": description, "request_id": request_id}
        response.headers["Content-Type"] = "application/json"
    elif response.status_code >= 500 and not isinstance(body, dict):
        # Never a stack trace (debug mode or not): the details stay in the log.
        logger.error("non-JSON 5xx response suppressed", extra={"body": str(body)[:2000]})
        response.body = json.dumps(
            {
                "error": "server_error",
                "error_description": CHALICE_ERRORS["InternalServerError"][1],
                "request_id": request_id,
            }
        )
        response.headers["Content-Type"] = "application/json"

