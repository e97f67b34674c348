"""While the functional tests run, every AWS call a route or job makes is recorded and checked
against the role `infra/package.py` builds for it (tests/role_check.py): a test whose
requests needed an action their route's role lacks errors at its teardown, naming the route,
the action and the resource. The terminal summary says what was recorded and which routes
made no AWS call at all. tests/functional/conftest.py activates it; under pytest-xdist each
worker checks its own tests and the controller prints the summary of all workers' recordings
(tests/conftest.py registers this module there)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests import role_check
from tests.aws_calls import Recording

_SEEN: Counter[str] = Counter()  # calls by label, over the session
_STATE: dict[str, float] = {"calls": 0, "seconds": 0.0}


@pytest.fixture(scope="session")
def _aws_recording() -> Iterator[Recording]:
    with role_check.recording() as calls:
        yield calls
        _STATE["seconds"] = calls.seconds


@pytest.fixture(autouse=True)
def aws_calls_within_roles(_aws_recording: Recording, request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    calls = list(_aws_recording)
    _aws_recording.clear()  # keep only a test's worth of params in memory
    _STATE["calls"] += len(calls)
    _SEEN.update(c.label for c in calls if c.label is not None)
    # `@pytest.mark.aws_roles_unchecked(reason)`: a test that sends calls outside every role on
    # purpose (e.g. to a table that does not exist)
    if request.node.get_closest_marker("aws_roles_unchecked") is not None:
        return
    found = role_check.violations(calls)
    if found:
        pytest.fail(
            "AWS calls outside the role infra/package.py builds (declare the permission beside "
            "the route, chalicelib/api/_permissions.py):\n  " + "\n  ".join(found),
            pytrace=False,
        )


@pytest.hookimpl(trylast=True)  # after the session fixtures' teardown
def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its counts to the controller (`pytest_testnodedown`)."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None and _STATE["calls"]:
        output["aws_roles"] = {"state": dict(_STATE), "seen": dict(_SEEN)}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """The controller adds up what each xdist worker recorded."""
    worker = getattr(node, "workeroutput", {}).get("aws_roles")
    if worker:
        for key, value in worker["state"].items():
            _STATE[key] += value
        _SEEN.update(worker["seen"])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _STATE["calls"]:
        return
    routes = role_check.routes()
    silent = sorted(routes - set(_SEEN))
    write = terminalreporter.write_line
    write(
        f"AWS roles: {int(_STATE['calls'])} calls recorded ({_STATE['seconds']:.2f}s of recording), "
        f"{len(routes & set(_SEEN))}/{len(routes)} routes and jobs "
        f"{sorted(set(_SEEN) & set(role_check.JOB_STATEMENTS))} checked against their roles"
    )
    if silent:
        write(f"AWS roles: no AWS call recorded for {len(silent)} routes: {', '.join(silent)}")
