"""The dashboard's component tests (Vitest + Testing Library in jsdom, `dashboard/src/**/*.test.tsx`),
run from pytest so that CI's summary counts them: each Vitest test is a subtest here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
VITEST = DASHBOARD / "node_modules" / ".bin" / "vitest"


@pytest.fixture(scope="module")
def vitest_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not VITEST.exists() or shutil.which("node") is None:
        pytest.fail("the dashboard's packages are missing: `make dashboard` installs them (make test does)")
    report = tmp_path_factory.mktemp("vitest") / "report.json"
    run = subprocess.run(
        [str(VITEST), "run", "--reporter=json", f"--outputFile={report}"],
        cwd=DASHBOARD,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "CI": "true", "TZ": "UTC", "NO_COLOR": "1"},
    )
    if not report.exists():
        pytest.fail(
            f"vitest wrote no report (exit {run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
        )
    return dict(json.loads(report.read_text()))


def test_every_component_test_passes(vitest_report: dict[str, Any], subtests: Any) -> None:
    results = [
        (Path(file["name"]).relative_to(DASHBOARD).as_posix(), case)
        for file in vitest_report["testResults"]
        for case in file["assertionResults"]
    ]
    assert results, "Vitest found no component tests"
    failed_files = [
        f["name"]
        for f in vitest_report["testResults"]
        if f["status"] == "failed" and not f["assertionResults"]
    ]
    assert failed_files == [], f"test files that failed to load: {failed_files}"
    for path, case in results:
        with subtests.test(msg=f"{path} › {case['fullName']}"):
            assert case["status"] == "passed", "\n".join(case.get("failureMessages") or [case["status"]])
