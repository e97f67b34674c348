"""Secrets at rest: LocalEncryptor (AES-256-GCM, key file) and KmsEncryptor (envelope via KMS,
under moto). Both: round trip, the wrong context fails, a tampered blob fails."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from chalicelib.crypto import (
    DecryptionFailed,
    EncryptionUnavailable,
    Encryptor,
    KmsEncryptor,
    LocalEncryptor,
)

CONTEXT = {"tenant_id": "tnt_00000000000000000001"}
OTHER = {"tenant_id": "tnt_00000000000000000002"}
SECRET = b"whsec_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"


@pytest.fixture
def kms() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1")


@pytest.fixture(params=["local", "kms"])
def encryptor(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Encryptor]:
    if request.param == "local":
        yield LocalEncryptor.in_state_dir(tmp_path)
        return
    with mock_aws():
        client = boto3.client("kms", region_name="us-east-1")
        key_id = client.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"][
            "KeyId"
        ]
        yield KmsEncryptor(key_id, lambda: client)


def tamper(blob: str, part: int) -> str:
    """Flip one character in the middle of a dot-separated part (counted from the end)."""
    pieces = blob.split(".")
    target = pieces[-part]
    mid = len(target) // 2
    flipped = ("B" if target[mid] == "A" else "A").join((target[:mid], target[mid + 1 :]))
    pieces[-part] = flipped
    return ".".join(pieces)


def test_round_trip(encryptor: Encryptor) -> None:
    blob = encryptor.encrypt(SECRET, CONTEXT)
    assert isinstance(blob, str) and SECRET.decode() not in blob and blob.isprintable()
    assert encryptor.decrypt(blob, dict(CONTEXT)) == SECRET
    assert encryptor.encrypt(SECRET, CONTEXT) != blob  # a fresh nonce (and data key) each time
    assert encryptor.decrypt(encryptor.encrypt(b"", CONTEXT), CONTEXT) == b""


@pytest.mark.parametrize(
    "context", [OTHER, {}, {**CONTEXT, "purpose": "x"}, {"TENANT_ID": CONTEXT["tenant_id"]}]
)
def test_the_wrong_context_fails(encryptor: Encryptor, context: dict[str, str]) -> None:
    blob = encryptor.encrypt(SECRET, CONTEXT)
    with pytest.raises(DecryptionFailed):
        encryptor.decrypt(blob, context)


def test_a_tampered_blob_fails(encryptor: Encryptor) -> None:
    blob = encryptor.encrypt(SECRET, CONTEXT)
    parts = len(blob.split(".")) - 2
    for part in range(1, parts + 1):
        with pytest.raises(DecryptionFailed):
            encryptor.decrypt(tamper(blob, part), CONTEXT)
    for broken in (
        "",
        "v1.local",
        blob + ".x",
        blob.replace(".", "..", 1),
        blob[:-4],
        "v2" + blob[2:],
        "v1.x.!!.??",
    ):
        with pytest.raises(DecryptionFailed):
            encryptor.decrypt(broken, CONTEXT)


def test_local_key_file_is_private_created_once_and_required(tmp_path: Path) -> None:
    first = LocalEncryptor.in_state_dir(tmp_path / "state")
    blob = first.encrypt(SECRET, CONTEXT)
    kek = tmp_path / "state" / "local-kek.bin"
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600 and len(kek.read_bytes()) == 32
    assert LocalEncryptor.in_state_dir(tmp_path / "state").decrypt(blob, CONTEXT) == SECRET
    with pytest.raises(DecryptionFailed):
        LocalEncryptor.in_state_dir(tmp_path / "elsewhere").decrypt(blob, CONTEXT)
    kek.write_bytes(b"short")
    with pytest.raises(ValueError):
        LocalEncryptor.in_state_dir(tmp_path / "state").decrypt(blob, CONTEXT)


def test_kms_binds_the_data_key_to_the_tenant(kms: Any) -> None:
    key_id = kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    blob = KmsEncryptor(key_id, lambda: kms).encrypt(SECRET, CONTEXT)
    from chalicelib.crypto.base import b64decode

    wrapped = b64decode(blob.split(".")[2])
    assert kms.decrypt(CiphertextBlob=wrapped, EncryptionContext=CONTEXT)["KeyId"].endswith(key_id)
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=wrapped, EncryptionContext=OTHER)


def test_kms_client_is_built_lazily_and_outages_are_unavailable_not_bad_blobs(kms: Any) -> None:
    built: list[int] = []

    class Down:
        def generate_data_key(self, **kwargs: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://kms.invalid")

        def decrypt(self, **kwargs: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://kms.invalid")

    def factory() -> Any:
        built.append(1)
        return Down()

    encryptor = KmsEncryptor("alias/vaultguard-data", factory)
    assert built == []
    with pytest.raises(EncryptionUnavailable):
        encryptor.encrypt(SECRET, CONTEXT)
    key_id = kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    blob = KmsEncryptor(key_id, lambda: kms).encrypt(SECRET, CONTEXT)
    with pytest.raises(EncryptionUnavailable):
        encryptor.decrypt(blob, CONTEXT)
    assert built == [1]


def test_the_secret_hashing_key_opens_only_from_its_sealed_blob(kms: Any) -> None:
    """Production keeps the HMAC key sealed by KMS (VAULTGUARD_SECRET_HASH_KEY_BLOB); the
    hasher opens it once and hashes with it. The blob opens under no other context."""
    from chalicelib.auth.secrets import SECRET_HASH_KEY_CONTEXT, SecretHasher, new_key_blob

    key_id = kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    encryptor = KmsEncryptor(key_id, lambda: kms)
    blob = new_key_blob(encryptor.encrypt)
    opened = []
    hasher = SecretHasher(lambda: opened.append(1) or encryptor.decrypt(blob, SECRET_HASH_KEY_CONTEXT))
    stored = hasher.hash("vgs_secret")
    assert hasher.verify("vgs_secret", stored) and not hasher.verify("vgs_other", stored)
    assert opened == [1], "the key is opened once per process"
    assert SecretHasher(lambda: encryptor.decrypt(blob, SECRET_HASH_KEY_CONTEXT)).hash("vgs_secret") == stored
    with pytest.raises(DecryptionFailed):
        encryptor.decrypt(blob, {"purpose": "webhook-secret"})
