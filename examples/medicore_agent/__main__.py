"""`python -m examples.medicore_agent`: run MediCore's agent against a running VaultGuard
(`make run`) and NatSupply API (`python -m examples.natsupply_api`); the calendar task reads
the vault connection `MEDICORE_CALENDAR_CONNECTION_ID` (`make demo` finds or makes one)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from examples.local_state import ConfigurationError
from examples.medicore_agent.agent import new_reference, plan, run
from examples.medicore_agent.calendar import CalendarTools
from examples.medicore_agent.config import load_config
from examples.medicore_agent.narration import NarratingClient, Transcript
from examples.medicore_agent.tools import NatSupplyTools, Toolbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.medicore_agent", description=__doc__)
    parser.add_argument("--natsupply-url", help="NatSupply API base URL (default $NATSUPPLY_API_URL)")
    parser.add_argument("--state-dir", type=Path, default=None, help="VaultGuard's state dir (local.json)")
    parser.add_argument("--offline", action="store_true", help="use the offline planner even with a key")
    args = parser.parse_args(argv)
    try:
        config = load_config(state_dir=args.state_dir, natsupply_api_url=args.natsupply_url)
    except ConfigurationError as exc:
        print(f"medicore_agent: {exc}", file=sys.stderr)
        return 1
    say = Transcript().say
    try:
        sign_in = config.sign_in()  # its private key (private_key_jwt), else its secret
    except ConfigurationError as exc:
        print(f"medicore_agent: {exc}", file=sys.stderr)
        return 1
    client = NarratingClient(config.api_url, config.client_id, **sign_in, dpop=True, say=say)
    tools = NatSupplyTools(client, config.natsupply_tenant_id, config.natsupply_api_url, say=say)
    calendar = CalendarTools(client, config.calendar_connection_id, config.calendar_events_url, say=say)
    try:
        results = run(Toolbox(tools, calendar), plan(new_reference()), say, offline=args.offline)
    finally:
        calendar.close()
        tools.close()
        client.close()
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
