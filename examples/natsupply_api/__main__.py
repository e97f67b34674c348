"""`python -m examples.natsupply_api --port P`: serve NatSupply's LMIS with uvicorn."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from examples.local_state import ConfigurationError
from examples.natsupply_api.app import CountingSession, build_verifier, create_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.natsupply_api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--state-dir", type=Path, default=None, help="VaultGuard's state dir (local.json)")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    calls = CountingSession()  # what GET /activity reports as vaultguard_calls
    try:
        verifier = build_verifier(state_dir=args.state_dir, session=calls)
    except ConfigurationError as exc:
        print(f"natsupply_api: {exc}", file=sys.stderr)
        return 1
    uvicorn.run(create_app(verifier, calls=calls), host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
