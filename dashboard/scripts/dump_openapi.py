"""Writes the API's OpenAPI document (built from the code, as GET /openapi.json serves it) to
the file the dashboard's types are generated from, so that a changed endpoint breaks `tsc`.

Usage, from the repository root: `.venv/bin/python dashboard/scripts/dump_openapi.py dashboard/openapi.json`
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
SERVER_URL = "http://127.0.0.1:8000"  # only the document's `servers` entry; the app calls its own origin


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, str(PROJECT_DIR))
    from app import app
    from chalicelib.api.openapi import build

    text = json.dumps(build(app, SERVER_URL), indent=1, sort_keys=True) + "\n"
    target = Path(argv[0])
    if not target.exists() or target.read_text(encoding="utf-8") != text:  # keep the mtime when unchanged
        target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
