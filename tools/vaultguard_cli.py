"""The approver's CLI now ships with the SDK (`vaultguard._cli`, the `vaultguard` console
script); this module keeps `bin/vaultguard` and `from tools.vaultguard_cli import main` working."""

from __future__ import annotations

import sys

from vaultguard._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
