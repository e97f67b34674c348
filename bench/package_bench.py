"""(h) The Lambda deployment package (issue 14): `make package`'s zip, zipped and unzipped, and
the cold import of the app from the unpacked package in fresh interpreters (the same figures
and budgets as tests/infra/test_package_budgets.py)."""

from __future__ import annotations

import argparse
import os
import statistics
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ZIPPED_BUDGET_MB = 25.0
IMPORT_BUDGET_S = 0.5


def measure(runs: int = 3) -> dict[str, Any]:
    from infra import lambda_zip, package

    with tempfile.TemporaryDirectory(prefix="vaultguard-package-") as tmp:
        built = package.build(Path(tmp) / "build").with_name("deployment.zip")
        sizes = lambda_zip.sizes(built)
        root = lambda_zip.unpack(built, Path(tmp) / "task")
        replaced = lambda_zip.use_host_native_libraries(root, Path(sysconfig.get_paths()["purelib"]))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULTGUARD_", "PYTHON"))}
        times = lambda_zip.import_times(root, env, runs)
    return {
        "architecture": lambda_zip.ARCHITECTURE,
        "zipped_mb": round(sizes.zipped / 2**20, 2),
        "unzipped_mb": round(sizes.unzipped / 2**20, 2),
        "files": sizes.files,
        "import_wall_s": [round(t.wall, 3) for t in times],
        "import_cpu_s": [round(t.cpu, 3) for t in times],
        "import_wall_median_s": round(statistics.median(t.wall for t in times), 3),
        "import_cpu_median_s": round(statistics.median(t.cpu for t in times), 3),
        "host_native_libraries": replaced,
    }


def report(figures: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"Lambda package ({figures['architecture']}, `make package`):",
            f"  deployment.zip  {figures['zipped_mb']:.1f} MB zipped (budget {ZIPPED_BUDGET_MB:.0f}), "
            f"{figures['unzipped_mb']:.1f} MB unzipped, {figures['files']} files",
            f"  import app      median {figures['import_wall_median_s']:.3f} s wall, "
            f"{figures['import_cpu_median_s']:.3f} s CPU (budget {IMPORT_BUDGET_S} s CPU) over "
            f"{len(figures['import_cpu_s'])} fresh interpreters; wall {figures['import_wall_s']}",
            "  (native libraries swapped for this machine's builds of the same versions to import here: "
            f"{len(figures['host_native_libraries'])})",
        ]
    )


def section(
    args: argparse.Namespace, results: dict[str, Any], errors: dict[str, str], log: Callable[[str], None]
) -> str:
    log("(h) the Lambda deployment package: sizes and cold import ...")
    try:
        results["package"] = measure(runs=3)
    except Exception as exc:  # noqa: BLE001 - report, keep going
        errors["package"] = f"{type(exc).__name__}: {exc}"
        log(f"    package benchmark failed: {errors['package']}")
        return ""
    return report(results["package"])
