"""Browser tests of the admin dashboard: Debian's Chromium driven by Playwright (never a
downloaded browser) against `make run`'s server, which serves the built dashboard at /dashboard/.

Each module gets its own server and its own Chromium (module scope), with the real local
identity provider. Every test leaves a screenshot of each page it used in its
tmp dir (pytest prints the path on failure)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.conftest import LocalServer, free_port
from tests.e2e.dashboard.support import CHROMIUM, CHROMIUM_ARGS, DIST


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    if not DIST.is_file():
        pytest.fail("the dashboard is not built: run `make dashboard` (make test and make e2e do)")
    srv = LocalServer(free_port(), tmp_path_factory.mktemp("dashboard") / "state")
    srv.extra_env = {"VAULTGUARD_IDP_PORT": str(free_port())}
    srv.start()
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per module: Playwright's sync API keeps an asyncio loop running in this thread
    while it is open, which would break every later test that calls asyncio.run()."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def csp_violations() -> list[str]:
    """What the browser reported as refused by the pages' Content-Security-Policy."""
    return []


@pytest.fixture(autouse=True)
def screenshot(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    yield
    for name, value in request.node.funcargs.items():
        if isinstance(value, Page) and not value.is_closed():
            value.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
