"""The SDK's integration tests drive the same real local server as tests/e2e."""

from __future__ import annotations

from tests.e2e.conftest import server

__all__ = ["server"]
