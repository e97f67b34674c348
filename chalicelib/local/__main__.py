"""`python -m chalicelib.local`: VaultGuard on its embedded defaults (what `make run` starts).

Starts moto in this process for DynamoDB, KMS and S3 (unless VAULTGUARD_AWS_ENDPOINT names
one), creates the tables, restores the last snapshot, seeds demo data on the first run, and
serves the app through Chalice's own local server, so the routes are exactly the Lambdas'.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from chalicelib.private_files import DIR_MODE, private_dir

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = ".vaultguard"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    parser.add_argument("--state-dir", default=os.environ.get("VAULTGUARD_STATE_DIR") or DEFAULT_STATE_DIR)
    parser.add_argument("--snapshot-interval", type=float, default=10.0)
    parser.add_argument("--quiet", action="store_true", help="no per-request JSON log lines")
    parser.add_argument(
        "--idp-port",
        type=int,
        default=int(os.environ.get("VAULTGUARD_IDP_PORT") or 0),
        help="the local identity provider's port (default: --port + 1)",
    )
    parser.add_argument(
        "--no-idp", action="store_true", help="no local identity provider (people cannot sign in)"
    )
    return parser.parse_args(argv)


def _prepare_environment(args: argparse.Namespace) -> None:
    """The variables the app's Settings read; set before anything reads them."""
    state_dir = Path(args.state_dir).resolve()
    # Keys, credentials, snapshots and the audit bucket copy: owner-only, whoever writes them.
    os.umask(0o077)
    os.chmod(private_dir(state_dir), DIR_MODE)
    os.environ["VAULTGUARD_STATE_DIR"] = str(state_dir)
    os.environ.setdefault("VAULTGUARD_ISSUER", f"http://{args.host}:{args.port}")
    os.environ.setdefault("VAULTGUARD_SIGNING_KEY_PATH", str(state_dir / "signing-key.pem"))
    os.environ.setdefault("VAULTGUARD_WEBHOOK_DELIVERY", "stream")  # as deployed: from the audit stream
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, value)
    if args.quiet:
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    _prepare_environment(args)

    from chalice.cli.factory import CLIFactory

    from chalicelib.local.aws import LocalAws, Snapshotter, client

    aws = LocalAws(os.environ.get("VAULTGUARD_AWS_ENDPOINT") or None)
    os.environ["VAULTGUARD_AWS_ENDPOINT"] = aws.start()
    api_url = f"http://{args.host}:{args.port}"
    identity = _start_identity_provider(args, api_url)

    factory = CLIFactory(str(PROJECT_DIR), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name="local")  # applies the stage's variables
    if args.quiet:
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"

    from chalicelib.config import get_settings
    from chalicelib.local.scheduler import CleanupScheduler, run_vault_refresh
    from chalicelib.local.seed import ensure_key_agent, load_state, seed, write_state
    from chalicelib.local.streams import AuditStreamPoller, webhook_poller
    from chalicelib.services.container import get_container
    from chalicelib.store.schema import ensure_tables

    settings = get_settings()
    ensure_tables(settings, client(settings, "dynamodb"))
    snapshots = Snapshotter(settings, args.snapshot_interval, in_process=aws.in_process)
    restored = snapshots.restore()
    container = get_container()
    state = load_state(container) if restored else None
    if state is None:
        state = seed(container, api_url)
        snapshots.save()
    else:
        # A state seeded before key-only agents existed gets MediCore's (make demo runs it).
        changed = ensure_key_agent(container, state)
        if state.get("api_url") != api_url:
            state["api_url"] = api_url
            changed = True
        if changed:
            write_state(container, state)
    if identity is not None:
        from chalicelib.local import people

        provider, demo_people = identity
        people.ensure_bound(container, state, demo_people, provider.issuer)
        state["users"] = people.state_users(demo_people)
        state["identity_provider"] = provider.issuer
        state["vault_providers"] = provider.vault_providers()  # local-google: issuer, client
        write_state(container, state)

    from chalicelib.local.http_server import create_server

    server = create_server(config.chalice_app, config, args.host, args.port)
    # Background loops that stand in for what AWS runs in production (each has start/stop).
    background: list[Any] = [snapshots]
    background.append(CleanupScheduler(settings))  # the 5-minute cleanup schedule
    background.append(CleanupScheduler(settings, job=run_vault_refresh))  # the vault's idle refresh
    background.append(AuditStreamPoller(settings))  # audit stream -> S3 export, as Lambda would
    if settings.webhook_delivery == "stream":
        background.append(webhook_poller(settings))  # audit stream -> webhooks, as Lambda would
    for service in background:
        service.start()
    _print_banner(state, settings.state_dir, restored)

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nStopping VaultGuard...", flush=True)
    finally:
        server.server.server_close()
        for service in reversed(background):
            service.stop()
        if identity is not None:
            identity[0].stop()
        aws.stop()
        print(f"Data saved in {settings.state_dir}. Bye.", flush=True)
    return 0


def _start_identity_provider(args: argparse.Namespace, api_url: str) -> tuple[Any, dict[str, Any]] | None:
    """The local identity provider (node-oidc-provider), unless one is configured or refused;
    VaultGuard is then its confidential client. Without Node.js the API still runs, and the
    banner says that people cannot sign in."""
    if args.no_idp or os.environ.get("VAULTGUARD_OIDC_ISSUER"):
        return None
    from chalicelib import config
    from chalicelib.local import people
    from chalicelib.local.idp import LocalIdentityProvider, LocalIdentityProviderError

    state_dir = Path(os.environ["VAULTGUARD_STATE_DIR"])
    demo = people.load_or_create(state_dir)
    public_url = (os.environ.get(config.PUBLIC_URL) or api_url).rstrip("/")
    provider = LocalIdentityProvider(
        state_dir,
        args.idp_port or args.port + 1,
        people.provider_clients(demo, api_url),
        people.provider_users(demo),
        # local-google, the token vault's stand-in for Google, in the same process.
        vault_redirect_uri=f"{public_url}/vault/callback",
        google_rotate_refresh_tokens=(os.environ.get(config.LOCAL_GOOGLE_ROTATE_REFRESH_TOKENS) or "").lower()
        in ("1", "true", "yes", "on"),
        google_access_token_ttl=int(os.environ.get(config.LOCAL_GOOGLE_ACCESS_TOKEN_TTL) or 3600),
    )
    try:
        issuer = provider.start()
    except LocalIdentityProviderError as exc:
        print(
            f"warning: the local identity provider did not start, so people cannot sign in:\n{exc}",
            flush=True,
        )
        return None
    os.environ["VAULTGUARD_OIDC_ISSUER"] = issuer
    os.environ["VAULTGUARD_OIDC_CLIENT_ID"] = demo["client"]["client_id"]
    os.environ["VAULTGUARD_OIDC_CLIENT_SECRET"] = demo["client"]["client_secret"]
    os.environ.setdefault("VAULTGUARD_PUBLIC_URL", api_url)
    google = provider.google_client()
    if provider.google_issuer and google:
        os.environ[config.LOCAL_GOOGLE_ISSUER] = provider.google_issuer
        os.environ[config.LOCAL_GOOGLE_CLIENT_ID] = google["client_id"]
        os.environ[config.LOCAL_GOOGLE_CLIENT_SECRET] = google["client_secret"]
    return provider, demo


# Reads a client id and secret from local.json, so that no secret is printed (or logged).
_READ_AGENT = (
    "import json,sys;a=json.load(open(sys.argv[1]))['tenants']['medicore']['agent'];"
    "print(a['client_id']+':'+a['client_secret'])"
)


def _print_banner(state: dict[str, Any], state_dir: Path, restored: int) -> None:
    """Where things are and commands to copy; never a secret (they are in local.json)."""
    print(banner(state, state_dir, restored), flush=True)


def banner(state: dict[str, Any], state_dir: Path, restored: int) -> str:
    """The commands work as printed from the repository root, whatever the state dir."""
    api = state["api_url"]
    natsupply = state["tenants"]["natsupply"]["tenant_id"]
    credentials = state_dir / "local.json"
    started = f"restored {restored} items" if restored else "first run: demo data seeded"
    # `make pending`/`approve` read .vaultguard/local.json unless told otherwise.
    other_dir = ""
    if state_dir.resolve() != (PROJECT_DIR / DEFAULT_STATE_DIR).resolve():
        other_dir = f" VAULTGUARD_STATE_DIR={shlex.quote(str(state_dir))}"
    return f"""
VaultGuard is running on {api}   ({started})
  Dashboard    {api}/dashboard/   (sign in as one of the people below)
  JWKS         {api}/.well-known/jwks.json
  Metadata     {api}/.well-known/oauth-authorization-server
  Health       {api}/health
  State        {state_dir}   (owner-only: keys, table snapshot, audit bucket copy)
  Credentials  {credentials}   (every demo client id and secret)

Try it (MediCore's agent asks NatSupply for stock.write, which NatSupply's policy allows):

  S={shlex.quote(str(credentials))}
  AGENT=$(python3 -c "{_READ_AGENT}" "$S")
  TOKEN=$(curl -s -u "$AGENT" -d grant_type=client_credentials {api}/oauth/token \\
      | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
  curl -s -X POST {api}/delegations/request -H "Authorization: Bearer $TOKEN" \\
      -H 'Content-Type: application/json' \\
      -d '{{"receiving_tenant_id": "{natsupply}", "action": "stock.write"}}'

"admin.access" is refused (BLOCK: 403); "requisition.submit" waits for a NatSupply admin
(STEP_UP: 202 with an auth_req_id), who decides in the dashboard's queue (signed in as
approver@natsupply.example) or from the repository root with:

  make pending{other_dir}
  make approve ID=<auth_req_id or delegation_id>{other_dir}

{_people_lines(state, api)}
The README's walkthrough goes on from here. Ctrl-C stops (the data stays in the state dir).
"""


def _people_lines(state: dict[str, Any], api: str) -> str:
    users = state.get("users")
    if not users:
        return "People cannot sign in: the local identity provider is not running.\n"
    lines = [
        f"People sign in to the dashboard, {api}/dashboard/"
        f"   (identity provider: {state.get('identity_provider')}),",
        'as one of (passwords are in the credentials file, under "users"):',
    ]
    lines += [f"  {u['email']:<30} {u['role']:<9} {u['tenant'] or 'platform'}" for u in users.values()]
    google = (state.get("vault_providers") or {}).get("local-google")
    if google:
        lines.append(
            f"The same people sign in at local-google, the token vault's stand-in for Google: "
            f"{google['issuer']}"
        )
    if "natsupply_approver" in users:
        lines += [
            "The approver's password, for instance:",
            '  python3 -c "import json,sys;print(json.load(open(sys.argv[1]))'
            '[\'users\'][\'natsupply_approver\'][\'password\'])" "$S"',
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
