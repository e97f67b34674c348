"""The request id of the call being served, for responses, logs and audit events."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "x-request-id"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_request_id: ContextVar[str] = ContextVar("request_id", default="")


def adopt_request_id(header_value: str | None) -> str:
    """Use the caller's x-request-id when well formed, else a new one; remember it."""
    request_id = header_value if header_value and _WELL_FORMED.fullmatch(header_value) else str(uuid.uuid4())
    _request_id.set(request_id)
    return request_id


def current_request_id() -> str:
    return _request_id.get() or adopt_request_id(None)
