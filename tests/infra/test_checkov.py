"""checkov on the packaged template and on its SAM expansion: no failed check but those of
infra/checkov-skips.yaml, each with its reason, and no entry there that matches nothing.

checkov runs from its own virtualenv (`make .venv-checkov`, pinned in the Makefile): its
dependencies would fight requirements-dev.txt's pins. Without it the test is skipped, except
under CI=true, where it fails."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import deployed

PROJECT = Path(__file__).resolve().parents[2]
CHECKOV = PROJECT / ".venv-checkov" / "bin" / "checkov"
SKIPS = PROJECT / "infra" / "checkov-skips.yaml"


def skips() -> dict[str, str]:
    loaded: dict[str, str] = yaml.safe_load(SKIPS.read_text())
    return loaded


def without_paths(template: dict[str, Any], body: str) -> dict[str, Any]:
    """The template without the API's OpenAPI paths: checkov has no check on them, and its
    variable rendering of the ~70 integration URIs takes it from ~15 s to over a minute
    (same findings either way, measured with checkov 3.2.533)."""
    out = copy.deepcopy(template)
    out["Resources"]["RestAPI"]["Properties"][body]["paths"] = {}
    return out


@pytest.fixture(scope="module")
def findings(template: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    if not CHECKOV.exists():
        message = f"checkov is not installed: make .venv-checkov ({CHECKOV})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("checkov")
    files = {
        "sam.json": without_paths(template, "DefinitionBody"),
        "expanded.json": without_paths(deployed(template), "Body"),
    }
    args = [str(CHECKOV), "--framework", "cloudformation", "-o", "json", "--quiet", "--compact"]
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content))
        args += ["-f", str(folder / name)]
    # BC_SKIP_MAPPING: no download of Prisma Cloud's guideline mappings (no network here)
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    run = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode in (0, 1), run.stderr[-2000:]
    reports = json.loads(run.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert [r["check_type"] for r in reports] == ["cloudformation"]
    assert reports[0]["summary"]["parsing_errors"] == 0
    assert reports[0]["summary"]["resource_count"] > 2 * 300  # both files were read
    failed: list[dict[str, Any]] = reports[0]["results"]["failed_checks"]
    return failed


def test_every_skip_says_why() -> None:
    for check, why in skips().items():
        assert check.startswith("CKV"), check
        assert isinstance(why, str) and len(why.split()) >= 10, check


def test_checkov_finds_nothing_but_the_accepted(findings: list[dict[str, Any]]) -> None:
    accepted = skips()
    unexpected = sorted(
        f"{f['check_id']} {f['resource']} ({f['check_name']}) in {Path(f['file_path']).name}"
        for f in findings
        if f["check_id"] not in accepted
    )
    assert unexpected == []
    stale = sorted(set(accepted) - {f["check_id"] for f in findings})
    assert stale == [], "no longer found: remove from infra/checkov-skips.yaml"
