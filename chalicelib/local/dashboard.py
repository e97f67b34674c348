"""The dashboard's built files (`dashboard/dist`, made by `make dashboard`) at `/dashboard/` on
the API's own origin, as CloudFront serves them from S3 in production: the app then calls the
API same-origin with the session cookie, and CORS stays closed.

Local-only (the local server calls it before routing); unknown paths under `/dashboard/` that do
not name a file are the app's own routes and get `index.html`.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from chalicelib.api._http import response_headers
from chalicelib.errors import NotFound, ServiceUnavailable, VaultGuardError

PROJECT_DIR = Path(__file__).resolve().parents[2]
DIST = PROJECT_DIR / "dashboard" / "dist"
PREFIX = "/dashboard"
# A static single-page app on the API's origin: its scripts, styles and calls from 'self' only;
# no inline script, no eval, no framing, no plugins.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
IMMUTABLE = "public, max-age=31536000, immutable"  # assets/ names carry a content hash
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".map": "application/json",
}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes | None = None
    error: VaultGuardError | None = field(default=None)


def handles(method: str, raw_path: str) -> bool:
    path = urlsplit(raw_path).path
    return method in ("GET", "HEAD") and (path == PREFIX or path.startswith(PREFIX + "/"))


def answer(raw_path: str, request_id: str, root: Path = DIST) -> Answer:
    """The file a path names, index.html for the app's routes, or an error to send."""
    parts = urlsplit(raw_path)
    if parts.path == PREFIX:
        location = PREFIX + "/" + (f"?{parts.query}" if parts.query else "")
        return Answer(308, {**response_headers(request_id), "Location": location})
    index = root / "index.html"
    if not index.is_file():
        return Answer(
            503,
            {},
            error=ServiceUnavailable(
                "The dashboard is not built: `make dashboard` builds it (`make run` does it first)."
            ),
        )
    relative = PurePosixPath(unquote(parts.path[len(PREFIX) + 1 :]))
    if any(part in ("..", ".") or "\x00" in part or "\\" in part for part in relative.parts):
        return Answer(404, {}, error=NotFound())
    target = (root / relative) if relative.parts else index
    if target.is_file() and target.resolve().is_relative_to(root.resolve()):
        return _file(target, request_id, cache=IMMUTABLE if relative.parts[:1] == ("assets",) else "no-cache")
    if relative.parts[:1] == ("assets",) or "." in (relative.name or ""):
        return Answer(404, {}, error=NotFound())  # a missing file, not a route of the app
    return _file(index, request_id, cache="no-cache")


def _file(path: Path, request_id: str, cache: str) -> Answer:
    content_type = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = {
        **response_headers(request_id),
        "Content-Type": content_type,
        "Content-Security-Policy": POLICY,
        "Cache-Control": cache,
    }
    return Answer(200, headers, path.read_bytes())
