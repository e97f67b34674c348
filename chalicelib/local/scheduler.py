"""What EventBridge does in production, for `make run`: run the cleanup job once at start and
then every `cleanup_interval_seconds` (VAULTGUARD_CLEANUP_INTERVAL_SECONDS), in a thread.

A failed run is logged and retried at the next tick; it never stops the server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from chalicelib.config import Settings
from chalicelib.observability import logger


def _run_cleanup() -> Any:
    from chalicelib.jobs.cleanup import handler

    return handler()


def run_vault_refresh() -> Any:
    from chalicelib.jobs.vault_refresh import handler

    return handler()


class CleanupScheduler:
    def __init__(self, settings: Settings, job: Callable[[], Any] = _run_cleanup) -> None:
        self._interval = float(settings.cleanup_interval_seconds)
        self._job = job
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="cleanup-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while True:
            self.run_once()
            if self._stop.wait(self._interval):
                return

    def run_once(self) -> None:
        try:
            self._job()
        except Exception:  # noqa: BLE001 - a failed run must not stop the server
            logger.exception("scheduled cleanup failed; retrying at the next tick")
        finally:
            self.runs += 1
