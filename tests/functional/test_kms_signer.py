"""KmsSigner against moto's KMS: RS256 tokens signed by an AWS KMS RSA_2048 key."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import jwt
import pytest
from botocore.exceptions import NoRegionError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from moto import mock_aws
from moto.kms import responses as kms_responses
from moto.kms.exceptions import ValidationException

from chalicelib.tokens import (
    KeySet,
    KmsSigner,
    SigningUnavailable,
    TokenVerifier,
    encode_jwt,
    jwk_thumbprint,
)

ISSUER = "http://127.0.0.1:8000"
AUDIENCE = "urn:vaultguard:tenant:natsupply"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(autouse=True)
def moto_kms_honours_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto sign a MessageType=DIGEST message as AWS KMS does.

    moto 5.2.5 ignores MessageType and hashes the digest again (getmoto/moto PR #10202),
    so its signature would not verify. Emulated here for RSASSA_PKCS1_V1_5_SHA_256.
    """
    original = kms_responses.KmsResponse.sign

    def sign(self: Any) -> str:
        algorithm = self._get_param("SigningAlgorithm")
        if (
            self._get_param("MessageType") != "DIGEST"
            or algorithm != "RSASSA_PKCS1_V1_5_SHA_256"
        ):
            return original(self)
        key = self.kms_backend.describe_key(self._get_param("KeyId"))
        if key.key_usage != "SIGN_VERIFY":
            return original(self)  # moto raises its own ValidationException
        digest = self._get_param("Message")
        if len(digest) != 32:
            raise ValidationException("Digest is invalid length for algorithm")
        signature = key.private_key.private_key.sign(
            digest, padding.PKCS1v15(), Prehashed(hashes.SHA256())
        )
        return json.dumps(
            {
                "KeyId": key.arn,
                "Signature": base64.b64encode(signature).decode(),
                "SigningAlgorithm": algorithm,
            }
        )

    monkeypatch.setattr(kms_responses.KmsResponse, "sign", sign)


class Factory:
    """Counts client constructions and records every KMS call made through them."""

    def __init__(self) -> None:
        self.built = 0
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self) -> Any:
        self.built += 1
        client = boto3.client("kms", region_name="us-east-1")
        client.meta.events.register("provide-client-params.kms.*", self._record)
        return client

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))


@pytest.fixture
def kms() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1")


@pytest.fixture
def key_id(kms: Any) -> str:
    meta = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    return str(meta["KeyId"])


def kms_public_key(kms: Any, key_id: str) -> rsa.RSAPublicKey:
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    key = serialization.load_der_public_key(der)
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "sub": "agent-medicore-1",
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "dlg-0001",
        "scope": "stock.write",
    }
    return {**base, **overrides}


def test_kms_token_verifies_with_verifier_and_plain_pyjwt(
    kms: Any, key_id: str
) -> None:
    factory = Factory()
    signer = KmsSigner(key_id, factory)
    token_claims = claims()
    token = encode_jwt(signer, token_claims, typ="at+jwt")

    verifier = TokenVerifier(KeySet(signer), ISSUER)
    verified = verifier.verify(
        token, typ="at+jwt", audience=AUDIENCE, required_claims=["scope"]
    )
    assert verified["scope"] == "stock.write"

    public_key = kms_public_key(kms, key_id)
    assert (
        jwt.decode(
            token, public_key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
        )
        == verified
    )
    # RSASSA-PKCS1-v1_5 via KMS is deterministic too: same claims, same token
    assert encode_jwt(signer, dict(token_claims), typ="at+jwt") == token

    signing_input = token.rsplit(".", 1)[0].encode()
    sign_calls = [params for name, params in factory.calls if name == "Sign"]
    assert sign_calls[0] == {
        "KeyId": key_id,
        "Message": hashlib.sha256(signing_input).digest(),
        "MessageType": "DIGEST",
        "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256",
    }


def test_kid_is_thumbprint_of_kms_public_key(kms: Any, key_id: str) -> None:
    signer = KmsSigner(key_id, Factory())
    public_key = kms_public_key(kms, key_id)
    assert signer.kid == jwk_thumbprint(public_key)
    assert jwt.get_unverified_header(encode_jwt(signer, claims(), typ="at+jwt"))[
        "kid"
    ] == jwk_thumbprint(public_key)


def test_client_is_built_lazily_and_public_key_fetched_once(key_id: str) -> None:
    factory = Factory()
    signer = KmsSigner(key_id, factory)
    keys = KeySet(signer)
    TokenVerifier(keys, ISSUER)
    assert factory.built == 0 and factory.calls == []

    for jti in ("a", "b", "c"):
        encode_jwt(signer, claims(jti=jti), typ="at+jwt")
    keys.document()
    assert factory.built == 1
    names = [name for name, _ in factory.calls]
    assert names.count("GetPublicKey") == 1
    assert names.count("Sign") == 3


@pytest.mark.parametrize(
    "make_signer",
    [
        pytest.param(
            lambda kms, _: KmsSigner("alias/does-not-exist", Factory()),
            id="unknown-key",
        ),
        pytest.param(
            lambda kms, _: KmsSigner(
                kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")[
                    "KeyMetadata"
                ]["KeyId"],
                Factory(),
            ),
            id="key-not-for-signing",
        ),
        pytest.param(lambda kms, key_id: KmsSigner(key_id, _no_region), id="no-region"),
    ],
)
def test_kms_errors_surface_as_signing_unavailable(
    kms: Any, key_id: str, make_signer: Callable[[Any, str], KmsSigner]
) -> None:
    signer = make_signer(kms, key_id)
    with pytest.raises(SigningUnavailable):
        encode_jwt(signer, claims(), typ="at+jwt")


def _no_region() -> Any:
    raise NoRegionError()


class _WrongSignatureKms:
    def __init__(self, real: Any) -> None:
        self._real = real

    def get_public_key(self, **kwargs: Any) -> Any:
        return self._real.get_public_key(**kwargs)

    def sign(self, **kwargs: Any) -> dict[str, Any]:
        return {"Signature": b"\x01" * 256}


def test_signature_not_matching_public_key_is_refused(kms: Any, key_id: str) -> None:
    signer = KmsSigner(key_id, lambda: _WrongSignatureKms(kms))
    with pytest.raises(SigningUnavailable):
        encode_jwt(signer, claims(), typ="at+jwt")
