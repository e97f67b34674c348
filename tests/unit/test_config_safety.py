"""A deployed stage refuses to start with a key of its own container (a local signer or
encryptor) or an issuer that is not an https URL; `.chalice/config.json`'s prod stage names
the KMS keys the stack creates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.config import Settings

PROJECT = Path(__file__).resolve().parents[2]
PROD = json.loads((PROJECT / ".chalice" / "config.json").read_text())["stages"]["prod"]
# Set at deploy time from the stack's parameter (a KMS-sealed key; infra/package.py).
HTTPS_ISSUER = "VAULTGUARD_ISSUER as the deployment's https:// URL"
BLOB = {"VAULTGUARD_SECRET_HASH_KEY_BLOB": "sealed-at-bootstrap"}


def prod_env(**changes: str) -> dict[str, str]:
    env = {**PROD["environment_variables"], **BLOB}
    env.update(changes)
    return env


def test_the_prod_stage_config_starts_with_the_kms_signer_and_encryptor() -> None:
    settings = Settings.from_env(prod_env())
    assert settings.stage == "prod" and settings.issuer.startswith("https://")
    assert (settings.signer, settings.kms_key_id) == ("kms", "alias/vaultguard-signing")
    assert (settings.encryptor, settings.kms_data_key_id) == ("kms", "alias/vaultguard-data")
    aliases = json.loads((PROJECT / "infra" / "template.json").read_text())["Resources"]
    assert {aliases[a]["Properties"]["AliasName"] for a in ("SigningKeyAlias", "DataKeyAlias")} == {
        settings.kms_key_id,
        settings.kms_data_key_id,
    }


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"VAULTGUARD_SIGNER": "local"}, "VAULTGUARD_SIGNER=kms (got 'local')"),
        ({"VAULTGUARD_ENCRYPTOR": "local"}, "VAULTGUARD_ENCRYPTOR=kms (got 'local')"),
        ({"VAULTGUARD_ENCRYPTOR": ""}, "VAULTGUARD_ENCRYPTOR=kms (got 'local')"),
        ({"VAULTGUARD_ISSUER": "http://vaultguard.example.org"}, HTTPS_ISSUER),
        ({"VAULTGUARD_ISSUER": ""}, HTTPS_ISSUER),
        ({"VAULTGUARD_ISSUER": "https://"}, HTTPS_ISSUER),
    ],
)
def test_a_deployed_stage_refuses_a_local_key_or_a_plain_http_issuer(
    changes: dict[str, str], named: str
) -> None:
    env = prod_env(**changes)
    with pytest.raises(ValueError, match="the 'prod' stage needs") as refused:
        Settings.from_env(env)
    assert named in str(refused.value)


def test_the_local_stage_keeps_its_local_keys_and_http_issuer() -> None:
    settings = Settings.from_env({"VAULTGUARD_ISSUER": "http://127.0.0.1:8000"})
    assert (settings.stage, settings.signer, settings.encryptor) == ("local", "local", "local")


def test_a_lambda_handler_of_a_misconfigured_prod_stage_fails_at_import() -> None:
    """What the Lambda runtime does at init: resolve the handler, which imports app.py."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTGUARD_")}
    env.update(prod_env(VAULTGUARD_SIGNER="local"))
    started = subprocess.run(
        [sys.executable, "-c", "from chalicelib.api._lambda import RouteGetHealth"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 1
    assert "ValueError: the 'prod' stage needs VAULTGUARD_SIGNER=kms (got 'local')" in started.stderr
