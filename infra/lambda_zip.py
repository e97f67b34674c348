"""The deployment zip's budget pass (after `chalice package`, see `infra/package.py`): what the
Lambda runtime brings is left out, the rest is precompiled for the runtime's Python, and every
native library is checked against the functions' architecture.

- `.pyc` compiled with `UNCHECKED_HASH`: /var/task is read-only, so without them every cold start
  compiles every module it imports (0.9 s against 0.35 s for the app); unchecked, the runtime
  never stats the source to validate them (the package is immutable). The sources stay, for
  tracebacks, and the code objects name `/var/task/...`, where Lambda unpacks the zip.
- botocore is left out: the `python3.11` runtime has boto3 and botocore, and the app already runs
  on the runtime's boto3 (requirements.txt does not list it; chalice packs botocore only as
  pynamodb's dependency). Keeping the copy would pair the runtime's boto3 with another botocore,
  and costs some 14 MB zipped, more than half the budget. requirements-run.txt's pins are for the
  local stack and the tests.
- No tests, caches or `__pycache__` of another interpreter.
"""

from __future__ import annotations

import compileall
import os
import py_compile
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

LAMBDA_PYTHON = (3, 11)  # the functions' runtime, python3.11; .pyc are per minor version
ARCHITECTURE = "arm64"  # .chalice/config.json's lambda_architecture for the prod stage
TASK_ROOT = "/var/task"  # where Lambda unpacks the zip
# ELF e_machine of each Lambda architecture: a native library for another cannot load.
ELF_MACHINES = {"arm64": 0xB7, "x86_64": 0x3E}
# Top-level packages of the Lambda runtime (with their .dist-info), never packed.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
# Directories no import in a function reaches.
UNUSED_DIRS = frozenset({"__pycache__", "tests"})
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Sizes:
    zipped: int
    unzipped: int
    files: int


def check_interpreter(version: tuple[int, ...] = tuple(sys.version_info[:2])) -> None:
    """The .pyc this machine writes load only on the same minor version as Lambda's."""
    if tuple(version) != LAMBDA_PYTHON:
        wanted = ".".join(map(str, LAMBDA_PYTHON))
        raise RuntimeError(f"package with Python {wanted} (the Lambda runtime's), not {version}")


def _runtime_provided(name: str) -> bool:
    top = name.split("/", 1)[0]
    return any(top == p or (top.startswith(f"{p}-") and top.endswith(".dist-info")) for p in RUNTIME_PROVIDED)


def left_out(name: str) -> bool:
    """True for a zip member the functions never need."""
    parts = name.split("/")
    return (
        _runtime_provided(name)
        or bool(UNUSED_DIRS.intersection(parts[:-1]))
        or name.endswith((".pyc", ".pyo"))  # stale or another version's; compiled afresh
    )


def elf_machine(data: bytes) -> int | None:
    """The e_machine of an ELF file (None if `data` is not one)."""
    if data[:4] != b"\x7fELF" or len(data) < 20:
        return None
    return int.from_bytes(data[18:20], "little" if data[5] == 1 else "big")


def foreign_native_libraries(root: Path, architecture: str) -> list[str]:
    """The shared libraries under `root` built for another machine than `architecture`'s."""
    wanted = ELF_MACHINES[architecture]
    foreign = []
    for path in sorted(root.rglob("*.so*")):
        if path.is_file():
            with path.open("rb") as f:
                machine = elf_machine(f.read(20))
            if machine is not None and machine != wanted:
                foreign.append(path.relative_to(root).as_posix())
    return foreign


def compile_tree(root: Path) -> None:
    """Every module under `root` to `__pycache__/*.cpython-311.pyc`, unchecked-hash, naming its
    path under /var/task; a module that does not compile fails the build."""
    ok = compileall.compile_dir(
        str(root),
        quiet=1,
        stripdir=str(root),
        prependdir=TASK_ROOT,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        workers=1,
    )
    if not ok:
        raise RuntimeError(f"some modules under {root} do not compile")


def _zip_tree(root: Path, zip_path: Path) -> None:
    """`root` as a zip, reproducibly (sorted names, one timestamp, the files' modes)."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_EPOCH)
            info.external_attr = (path.stat().st_mode & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, path.read_bytes())


def optimise(zip_path: Path, architecture: str = ARCHITECTURE) -> list[str]:
    """Rewrite the deployment zip: leave out what the runtime brings and what no function needs,
    refuse native code of another architecture, precompile; the names left out."""
    check_interpreter()
    dropped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vaultguard-zip-") as tmp:
        root = Path(tmp) / "task"
        with zipfile.ZipFile(zip_path) as src:
            for info in src.infolist():
                if info.is_dir():
                    continue
                if left_out(info.filename):
                    dropped.append(info.filename)
                    continue
                target = root / info.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(src.read(info))
                mode = info.external_attr >> 16
                os.chmod(target, (mode & 0o777) or 0o644)
        foreign = foreign_native_libraries(root, architecture)
        if foreign:
            raise ValueError(f"native libraries not built for {architecture}: {', '.join(foreign)}")
        compile_tree(root)
        rewritten = zip_path.with_suffix(".tmp")
        _zip_tree(root, rewritten)
        rewritten.replace(zip_path)
    return dropped


def sizes(zip_path: Path) -> Sizes:
    with zipfile.ZipFile(zip_path) as zipped:
        infos = [i for i in zipped.infolist() if not i.is_dir()]
    return Sizes(zip_path.stat().st_size, sum(i.file_size for i in infos), len(infos))


def unpack(zip_path: Path, into: Path) -> Path:
    """The zip as Lambda sees it in /var/task (for the import-time measurement)."""
    if into.exists():
        shutil.rmtree(into)
    with zipfile.ZipFile(zip_path) as zipped:
        zipped.extractall(into)
    return into


_MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}  # Lambda's names -> wheel tags' names


def host_architecture() -> str:
    machine = os.uname().machine
    return {"aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def use_host_native_libraries(root: Path, site_packages: Path, architecture: str = ARCHITECTURE) -> list[str]:
    """Replace the unpacked package's native libraries that cannot load on this machine by this
    interpreter's builds of the same files (the same pinned versions), so that the package's
    Python code can be imported and timed here; the libraries replaced. Only for measuring."""
    host = host_architecture()
    replaced = []
    for name in foreign_native_libraries(root, host):
        own = name.replace(f"-{_MACHINES[architecture]}-", f"-{_MACHINES[host]}-")
        if not (site_packages / own).is_file():
            raise FileNotFoundError(f"no build of {name} for this machine in {site_packages}")
        (root / name).unlink()
        shutil.copyfile(site_packages / own, root / own)
        replaced.append(name)
    return replaced


_IMPORT_APP = """
import sys, time
sys.path.insert(0, sys.argv[1])
wall, cpu = time.perf_counter(), time.process_time()
import app
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
assert app.__file__.startswith(sys.argv[1]), app.__file__
print(wall, cpu)
"""


@dataclass(frozen=True)
class ImportTime:
    wall: float  # seconds, what a cold start waits (other load on the machine included)
    cpu: float  # seconds of the interpreter's own CPU (user + system), steadier on a shared machine


def import_times(root: Path, env: dict[str, str], runs: int = 3) -> list[ImportTime]:
    """`import app` from the unpacked package, each in a fresh interpreter (after one unmeasured
    run that warms the file cache), with this interpreter's site-packages behind the package as
    the runtime's boto3 and botocore are behind /var/task in Lambda."""
    import subprocess

    def once() -> ImportTime:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _IMPORT_APP, str(root)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        wall, cpu = done.stdout.strip().splitlines()[-1].split()
        return ImportTime(float(wall), float(cpu))

    once()
    return [once() for _ in range(runs)]
