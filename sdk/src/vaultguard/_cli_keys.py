"""`vaultguard agents add-key`: move an agent to keys (private_key_jwt), or replace a key-only
agent's keys.

    vaultguard agents add-key AGENT_ID --jwks-file FILE | --jwks-uri URL

FILE holds the agent's public JWK, or a JWK set `{"keys": [...]}`. A secret-based agent stops
authenticating with its client secret at once (and the tokens it got with it stop working);
it then signs client assertions with the private key instead. A private key in FILE is
refused here, before anything is sent.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from ._cli import HANDLE, PROG, Api, CliError, Settings, _leaf, emit_json, show_record

KEY_FIELDS = ("agent_id", "name", "status", "token_endpoint_auth_method", "keys_rotated_at", "jwks_uri")
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MAX_FILE_BYTES = 64 * 1024


def read_jwks(path: str) -> dict[str, Any]:
    """The JWK set in `path` (a single JWK is wrapped); private keys are refused."""
    try:
        raw = Path(path).read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}.") from None
    if len(raw) > MAX_FILE_BYTES:
        raise CliError(f"{path} is larger than {MAX_FILE_BYTES // 1024} KiB; a JWK set is much smaller.")
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise CliError(f'{path} is not JSON (a public JWK or a JWK set {{"keys": [...]}}).') from None
    if isinstance(value, dict) and "kty" in value:
        value = {"keys": [value]}
    keys = value.get("keys") if isinstance(value, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise CliError(f'{path} holds no JWK set: expected a public JWK or {{"keys": [...]}}.')
    if any(PRIVATE_MEMBERS & set(k) for k in keys):
        raise CliError(
            f"{path} holds a private or symmetric key; register only the public key "
            "(keep the private key with the agent)."
        )
    return {"keys": keys}


def cmd_add_key(api: Api, settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    agent_id = args.agent_id.strip()
    if not HANDLE.fullmatch(agent_id):
        raise CliError(f"{agent_id!r} is not an agent id (agt_...; `{PROG} agents list` shows them).")
    body: dict[str, Any] = (
        {"jwks": read_jwks(args.jwks_file)} if args.jwks_file else {"jwks_uri": args.jwks_uri.strip()}
    )
    before = api.call("GET", f"/agents/{agent_id}", f"reading agent {agent_id}")
    view = api.call("PUT", f"/agents/{agent_id}/keys", f"registering keys for {agent_id}", json=body)
    if args.json:
        emit_json(view, out)
        return 0
    show_record(view, KEY_FIELDS, args, out)
    if before.get("token_endpoint_auth_method") == "client_secret_basic":
        print(
            f"{agent_id} now authenticates with private_key_jwt: its client secret, and the tokens "
            "it got with it, no longer work.",
            file=out,
        )
    else:
        print(f"{agent_id}'s keys were replaced: the previous ones no longer work.", file=out)
    return 0


def add_key_command(agents: Any) -> None:
    """`agents add-key` under the `agents` group."""
    sub = _leaf(
        agents,
        "add-key",
        "move an agent to keys (private_key_jwt; its client secret stops working) or replace its keys",
        func=cmd_add_key,
    )
    sub.add_argument("agent_id", help="the agent id (agt_...)")
    source = sub.add_mutually_exclusive_group(required=True)
    source.add_argument("--jwks-file", default=None, help="a file with the agent's public JWK or JWK set")
    source.add_argument("--jwks-uri", default=None, help="an https URL where the agent publishes its JWK set")
