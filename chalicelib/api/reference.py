"""The API's contract: `GET /openapi.json` (the OpenAPI 3.1 document, built from the code
once per process) and `GET /docs`, a static reference page rendered from it by Redoc.

The Redoc bundle is not committed: `api-reference/` is a small npm package (a pinned Redoc
release) that `make run` and `make test` install; `REDOC_BUNDLE` is the one place that names
the served file. Nothing is read or built before the first request that needs it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._spec import Answer
from chalicelib.api.openapi import document
from chalicelib.errors import ServiceUnavailable

bp = Blueprint(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The one place that names the served bundle (issue 14 packages it for Lambda).
REDOC_BUNDLE = PROJECT_DIR / "api-reference" / "node_modules" / "redoc" / "bundles" / "redoc.standalone.js"
BUNDLE_ROUTE = "/docs/redoc.standalone.js"
CACHEABLE = {"Cache-Control": "public, max-age=300"}
# Redoc renders with inline styles and runs its search index in a blob: worker; everything
# else comes from this origin (no CDN, no fonts from elsewhere).
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
# Relative URLs, so that the page also works under a path prefix (an API Gateway stage).
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>VaultGuard API reference</title>
</head>
<body>
<redoc spec-url="openapi.json" hide-download-button="false"></redoc>
<script src="docs/redoc.standalone.js"></script>
</body>
</html>
"""


@endpoint(
    bp,
    "/openapi.json",
    permissions=(),
    roles=None,
    responses={200: Answer({"type": "object"}, "This document (OpenAPI 3.1).")},
    operation_id="getOpenApiDocument",
)
def openapi_document(ctx: Ctx) -> Reply:
    """The OpenAPI 3.1 document of this API, generated from the code."""
    return Reply(document(bp.current_app, ctx.container.settings.issuer), headers=CACHEABLE)


@endpoint(
    bp,
    "/docs",
    permissions=(),
    roles=None,
    responses={200: Answer({"type": "string"}, "The reference page.", "text/html")},
    operation_id="getApiReference",
)
def api_reference(ctx: Ctx) -> Reply:
    """The API reference: this document rendered by Redoc (served from this origin)."""
    _bundle()  # no page that cannot render
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": PAGE_POLICY}
    return Reply(PAGE, headers={**CACHEABLE, **headers})


@endpoint(
    bp,
    BUNDLE_ROUTE,
    permissions=(),
    roles=None,
    responses={200: Answer({"type": "string"}, "Redoc's standalone bundle.", "application/javascript")},
    operation_id="getApiReferenceScript",
)
def api_reference_script(ctx: Ctx) -> Reply:
    """The script of the reference page (Redoc's standalone bundle)."""
    return Reply(_bundle(), headers={**CACHEABLE, "Content-Type": "application/javascript; charset=utf-8"})


@functools.cache
def _read_bundle() -> str:
    return REDOC_BUNDLE.read_text(encoding="utf-8")


def _bundle() -> Any:
    try:
        return _read_bundle()
    except OSError as exc:
        raise ServiceUnavailable(
            "The API reference is not installed (npm ci in api-reference/, which make run does); "
            "GET /openapi.json serves the document."
        ) from exc
