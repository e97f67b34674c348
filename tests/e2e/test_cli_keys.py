"""`vaultguard agents add-key` (issue 15 item 6) and the policy knobs in `vaultguard policies`
(item 5), against the real local server."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tests.e2e.conftest import LocalServer
from tests.e2e.test_cli import assert_clean_failure
from tests.e2e.test_cli_admin import cli_json, token_reply
from tests.e2e.test_stepup_lifecycle import TIMEOUT, cli


def assertion_token(
    server: LocalServer, client_id: str, key: ec.EllipticCurvePrivateKey
) -> requests.Response:
    """/oauth/token with a private_key_jwt client assertion (RFC 7523 §2.2)."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{server.url}/oauth/token",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "cli-1"})
    return requests.post(
        f"{server.url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        timeout=TIMEOUT,
    )


def test_add_key_moves_a_secret_agent_to_keys(server: LocalServer, tmp_path: Path) -> None:
    created = cli_json(server, "agents", "create", "moving bot")
    agent_id, client_id, secret = created["agent_id"], created["client_id"], created["client_secret"]
    assert token_reply(server, client_id, secret).status_code == 200  # works until moved
    [row] = [r for r in cli(server, "agents", "list").out.splitlines() if agent_id in r]
    assert " secret " in f" {row} "

    key = ec.generate_private_key(ec.SECP256R1())
    public = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk_file = tmp_path / "agent.jwk.json"
    jwk_file.write_text(json.dumps({**public, "kid": "cli-1"}))  # a single JWK is enough

    moved = cli(server, "agents", "add-key", agent_id, "--jwks-file", str(jwk_file))
    assert moved.code == 0, moved.err
    assert "private_key_jwt" in moved.out and "client secret" in moved.out and "no longer work" in moved.out

    refused = token_reply(server, client_id, secret)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert assertion_token(server, client_id, key).status_code == 200
    [row] = [r for r in cli(server, "agents", "list").out.splitlines() if agent_id in r]
    assert " keys " in f" {row} "


def test_add_key_refuses_a_private_key_before_sending_it(server: LocalServer, tmp_path: Path) -> None:
    created = cli_json(server, "agents", "create", "careless bot")
    key = ec.generate_private_key(ec.SECP256R1())
    private_file = tmp_path / "private.jwk.json"
    private_file.write_text(ECAlgorithm.to_jwk(key))  # includes "d"
    run = cli(server, "agents", "add-key", created["agent_id"], "--jwks-file", str(private_file))
    assert run.code == 1
    assert_clean_failure(run.out, run.err)
    assert "private" in run.err
    # nothing changed: the secret still works
    assert token_reply(server, created["client_id"], created["client_secret"]).status_code == 200

    neither = cli(server, "agents", "add-key", created["agent_id"])
    assert neither.code == 2  # usage: one of --jwks-file and --jwks-uri


def test_policies_show_and_set_the_knobs(server: LocalServer) -> None:
    run = cli(
        server,
        "policies",
        "set",
        "ledger.write",
        "ALLOW",
        "--ttl",
        "300",
        "--require-private-key-jwt",
        "--require-dpop",
    )
    assert run.code == 0, run.err
    assert "max token TTL 5m" in run.out and "DPoP-bound" in run.out and "key-authenticated" in run.out
    [policy] = [p for p in cli_json(server, "policies", "list") if p["action"] == "ledger.write"]
    assert (policy["require_private_key_jwt"], policy["require_dpop"], policy["ttl_seconds"]) == (
        True,
        True,
        300,
    )
    table = cli(server, "policies", "list").out.splitlines()
    assert "MAX TTL" in table[0] and "DPOP" in table[0] and "KEYS ONLY" in table[0]
    [row] = [r for r in table if "ledger.write" in r]
    assert row.split()[-2:] == ["required", "required"]
    plain = cli_json(server, "policies", "set", "ledger.write", "ALLOW")  # replaced: off again
    assert plain["require_private_key_jwt"] is False and plain["require_dpop"] is False
