"""Files only their owner may read (keys, key-encryption keys, local credentials, the local
stack's state): directories 0700, files 0600, written atomically. The one place that knows how."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` and its missing parents owner-only (0700); existing directories keep
    their mode (see `restrict_tree` for those)."""
    missing: list[Path] = []
    current = Path(path)
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it first
            directory.mkdir(mode=DIR_MODE)
    return Path(path)


def restrict_tree(root: Path) -> None:
    """Make `root` and everything below it owner-only (directories 0700, files 0600), e.g. a
    state directory written by an older version. Symbolic links are left alone."""
    if not root.is_dir() or root.is_symlink():
        return
    os.chmod(root, DIR_MODE)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                os.chmod(path, DIR_MODE)
            elif stat.S_ISREG(mode):
                os.chmod(path, FILE_MODE)


def create_private_file(path: Path, data: bytes) -> bool:
    """Atomically create `path` (0600) unless it exists: a file another process wrote first
    wins and is never overwritten. True if this call created it."""
    private_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links
            os.replace(tmp_name, path)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def write_private_bytes(path: Path, data: bytes) -> None:
    """Write (or replace) `path` atomically, readable by the owner only (0600, in
    directories this call creates 0700). The temporary file ends in `.tmp`."""
    private_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates it 0600
            handle.write(data)
        os.replace(tmp_name, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def write_private(path: Path, text: str) -> None:
    """Write (or replace) a text file atomically, readable by the owner only."""
    write_private_bytes(path, text.encode("utf-8"))
