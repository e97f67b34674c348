"""One Lambda per route: `chalicelib.api._lambda.<function name>` is the handler of the route
of that name (`_permissions.function_name`), and it serves that route only. The CORS
preflights are the exception: every path's `OPTIONS` route runs in the one shared function
`chalicelib.api._lambda.CorsPreflight`, which serves `OPTIONS` events only (they read nothing,
so its role has nothing but its log group; `infra/package.py`).

API Gateway sends each function only its own route already; refusing any other event here
keeps a function from serving a route whose permissions its role was not built for, should an
integration ever point at the wrong function. The app is the same Chalice app as everywhere.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

from chalicelib.api._http import JSON, response_headers, route_not_found
from chalicelib.api._permissions import function_name
from chalicelib.observability import traced

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

PREFLIGHT = "CorsPreflight"  # the function (and handler) of every path's OPTIONS route
PREFLIGHT_METHOD = "OPTIONS"


def _not_found(event: dict[str, Any]) -> dict[str, Any]:
    request_id = str((event.get("requestContext") or {}).get("requestId") or uuid.uuid4())
    return {
        "statusCode": 404,
        "headers": {"Content-Type": JSON, **response_headers(request_id)},
        "body": json.dumps(route_not_found().body(request_id)),
    }


def route_handler(app: Any, method: str, path: str) -> Handler:
    """A handler that passes `method path` events to `app` and answers any other with 404."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event.get("httpMethod") != method or event.get("resource") != path:
            return _not_found(event)
        with traced(name) as status:
            result: dict[str, Any] = app(event, context)
            status(result["statusCode"])
        return result

    name = handle.__name__ = function_name(method, path)
    return handle


def preflight_handler(app: Any) -> Handler:
    """The shared preflight function: passes an `OPTIONS` event of any path the app has an
    `OPTIONS` route for to `app` (the same preflight code as the local server,
    `chalicelib/api/_cors.py`) and answers any other event with 404."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        methods = app.routes.get(event.get("resource")) or {}
        if event.get("httpMethod") != PREFLIGHT_METHOD or PREFLIGHT_METHOD not in methods:
            return _not_found(event)
        with traced(PREFLIGHT) as status:
            result: dict[str, Any] = app(event, context)
            status(result["statusCode"])
        return result

    handle.__name__ = PREFLIGHT
    return handle


@cache
def _handler(name: str) -> Handler:
    import app as application  # the Lambda package's app.py, imported on the first event

    if name == PREFLIGHT:
        return preflight_handler(application.app)
    for path, methods in application.app.routes.items():
        for method in methods:
            if method != PREFLIGHT_METHOD and function_name(method, path) == name:
                return route_handler(application.app, method, path)
    raise AttributeError(f"no route is named {name!r}")


def __getattr__(name: str) -> Handler:
    """Lambda resolves `chalicelib.api._lambda.RoutePostDelegationsRequest` (and
    `chalicelib.api._lambda.CorsPreflight`) through this."""
    if not name.startswith("Route") and name != PREFLIGHT:
        raise AttributeError(name)
    return _handler(name)
