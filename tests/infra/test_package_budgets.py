"""The deployment zip's budgets (issue 14): precompiled for the Lambda runtime's Python, no copy
of what the runtime brings, native code for the functions' arm64 only, ≤ 25 MB zipped, and the
app imported from the unpacked package in ≤ 0.5 s of CPU on this machine (median of 3
fresh interpreters). The figures are printed (`pytest -s`) and by `make bench`."""

from __future__ import annotations

import json
import os
import statistics
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra import lambda_zip, package

ZIPPED_BUDGET = 25 * 1024 * 1024
IMPORT_BUDGET_SECONDS = 0.5


@pytest.fixture(scope="module")
def zip_path(built: Path) -> Path:
    """The deployment zip beside conftest's shared `make package` build."""
    return built.with_name("deployment.zip")


@pytest.fixture(scope="module")
def names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zipped:
        return zipped.namelist()


@pytest.fixture(scope="module")
def unpacked(zip_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lambda_zip.unpack(zip_path, tmp_path_factory.mktemp("task") / "task")


def test_every_module_is_precompiled_unchecked_for_the_runtimes_python(
    zip_path: Path, names: list[str]
) -> None:
    assert sys.version_info[:2] == lambda_zip.LAMBDA_PYTHON == (3, 11)
    sources = [n for n in names if n.endswith(".py")]
    compiled = {n for n in names if n.endswith(".pyc")}
    assert len(sources) > 500
    for source in sources:
        folder, _, stem = source.rpartition("/")
        pyc = f"{folder}/__pycache__/{stem[:-3]}.cpython-311.pyc".lstrip("/")
        assert pyc in compiled, source
    # no pyc of another version, no optimised or legacy pyc
    assert all(n.endswith(".cpython-311.pyc") and "/__pycache__/" in f"/{n}" for n in compiled)
    with zipfile.ZipFile(zip_path) as zipped:
        header = zipped.read("__pycache__/app.cpython-311.pyc")
    # PEP 552 flags: 0b01 = hash-based, 0b10 = check_source; unchecked is 0b01
    assert int.from_bytes(header[4:8], "little") == 0b01


def test_the_zip_leaves_out_what_the_runtime_brings_and_what_nothing_imports(names: list[str]) -> None:
    tops = {n.split("/", 1)[0] for n in names}
    assert not [t for t in tops if t.startswith(("boto3", "botocore", "s3transfer"))]
    assert not [n for n in names if "/tests/" in f"/{n}"]
    assert {"app.py", "chalicelib", "cryptography", "pynamodb", "jwt", "aws_lambda_powertools"} <= tops


def test_native_code_is_for_arm64_and_the_functions_run_there(unpacked: Path, built: Path) -> None:
    libraries = [p for p in unpacked.rglob("*.so*") if p.is_file()]
    assert any(p.name == "_rust.abi3.so" for p in libraries)  # cryptography's, the biggest
    for library in libraries:
        assert lambda_zip.elf_machine(library.read_bytes()[:20]) == lambda_zip.ELF_MACHINES["arm64"], library
        assert "x86_64" not in library.name
    template = json.loads(built.read_text())
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert {json.dumps(f["Properties"]["Architectures"]) for f in functions} == {'["arm64"]'}
    assert {f["Properties"]["Runtime"] for f in functions} == {"python3.11"}


def test_a_function_of_another_architecture_than_the_zips_is_refused() -> None:
    function: dict[str, Any] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Runtime": "python3.11",
            "Architectures": ["x86_64"],
            "Environment": {"Variables": {}},
        },
    }
    with pytest.raises(ValueError, match="built for python3.11 on arm64"):
        package.deployment_properties({"Resources": {"RouteGetHealth": function}})


def test_the_package_fits_its_budgets(zip_path: Path, unpacked: Path) -> None:
    sizes = lambda_zip.sizes(zip_path)
    site_packages = Path(sysconfig.get_paths()["purelib"])
    lambda_zip.use_host_native_libraries(unpacked, site_packages)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULTGUARD_", "PYTHON"))}
    runs = lambda_zip.import_times(unpacked, env)
    wall = statistics.median(r.wall for r in runs)
    cpu = statistics.median(r.cpu for r in runs)
    print(
        f"\ndeployment.zip: {sizes.zipped / 2**20:.1f} MB zipped, {sizes.unzipped / 2**20:.1f} MB unzipped, "
        f"{sizes.files} files; import app (median of {len(runs)}): {wall:.3f} s wall, {cpu:.3f} s CPU"
    )
    assert sizes.zipped <= ZIPPED_BUDGET
    # CPU time: the machine is shared, and the wall time of the same import varies with the load
    assert cpu <= IMPORT_BUDGET_SECONDS
