"""Files only their owner may read (keys, key-encryption keys, local credentials): written
atomically with mode 0600. The one place that knows how."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def create_private_file(path: Path, data: bytes) -> bool:
    """Atomically create `path` (0600) unless it exists: a file another process wrote first
    wins and is never overwritten. True if this call created it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
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


def write_private(path: Path, text: str) -> None:
    """Write (or replace) `path` atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
