"""Unit tests for chalicelib.tokens: thumbprints, signers, JWKS, JWS, verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import pathlib
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib.tokens import (
    KeySet,
    LocalKeySigner,
    Signer,
    TokenRejected,
    TokenVerifier,
    encode_jwt,
    jwk_thumbprint,
    public_jwk,
    token_fingerprint,
)

ISSUER = "http://127.0.0.1:8000"
AUDIENCE = "urn:vaultguard:tenant:natsupply"
DELEGATION_TYP = "at+jwt"
API_TYP = "vg-api+jwt"
REQUIRED = ("scope", "tenant_id")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def make_claims(**overrides: Any) -> dict[str, Any]:
    """Valid delegation claims; an override of None removes the claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "agent-medicore-1",
        "aud": AUDIENCE,
        "client_id": "agent-medicore-1",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "dlg-0001",
        "scope": "stock.write",
        "tenant_id": "medicore",
        "receiving_tenant_id": "natsupply",
        "act": {"sub": "agent-medicore-1"},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def rs256(key: rsa.RSAPrivateKey, header: dict[str, Any], claims: Any) -> str:
    """Hand-made RS256 JWS, so tests can put anything in the header."""
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(sig)}"


@dataclass
class Ctx:
    key: rsa.RSAPrivateKey
    signer: LocalKeySigner
    foreign: rsa.RSAPrivateKey
    verifier: TokenVerifier

    def header(self, **overrides: Any) -> dict[str, Any]:
        header = {"alg": "RS256", "typ": DELEGATION_TYP, "kid": self.signer.kid}
        header.update(overrides)
        return {k: v for k, v in header.items() if v is not None}

    def token(self, typ: str = DELEGATION_TYP, **claim_overrides: Any) -> str:
        return encode_jwt(self.signer, make_claims(**claim_overrides), typ=typ)

    def verify(self, token: Any, typ: str = DELEGATION_TYP) -> dict[str, Any]:
        return self.verifier.verify(
            token, typ=typ, audience=AUDIENCE, required_claims=REQUIRED
        )


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    return tuple(  # type: ignore[return-value]
        rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)
    )


@pytest.fixture(scope="module")
def ctx(rsa_keys: tuple[rsa.RSAPrivateKey, ...]) -> Ctx:
    key, foreign, _ = rsa_keys
    signer = LocalKeySigner.from_private_key(key)
    return Ctx(key, signer, foreign, TokenVerifier(KeySet(signer), ISSUER))


# --- keys -------------------------------------------------------------------

RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
    "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
    "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
    "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
    "Cur-kEgU8awapJzKnqDKgw"
)


def test_thumbprint_matches_rfc7638_example() -> None:
    n = int.from_bytes(base64.urlsafe_b64decode(RFC7638_N + "=="), "big")
    key = rsa.RSAPublicNumbers(e=65537, n=n).public_key()
    assert jwk_thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    jwk = public_jwk(key, "k1")
    assert jwk == {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": "k1",
        "n": RFC7638_N,
        "e": "AQAB",
    }


def test_local_signer_create_then_reload(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "nested" / "keys" / "signing.pem"
    first = LocalKeySigner.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]  # no temp left
    second = LocalKeySigner.load_or_create(path)
    assert second.kid == first.kid == jwk_thumbprint(first.public_key())
    assert first.public_key().key_size == 2048
    assert isinstance(first, Signer)


# --- encoding -----------------------------------------------------------------


def test_round_trip_and_header(ctx: Ctx) -> None:
    token = ctx.token()
    assert jwt.get_unverified_header(token) == {
        "alg": "RS256",
        "typ": DELEGATION_TYP,
        "kid": ctx.signer.kid,
    }
    claims = ctx.verify(token)
    assert claims["act"] == {"sub": "agent-medicore-1"}
    assert claims["scope"] == "stock.write"
    # interoperable with plain PyJWT and the public key
    assert (
        jwt.decode(token, ctx.key.public_key(), algorithms=["RS256"], audience=AUDIENCE)
        == claims
    )


def test_encoding_is_deterministic(ctx: Ctx) -> None:
    claims = make_claims()
    reordered = dict(reversed(list(claims.items())))
    first = encode_jwt(ctx.signer, claims, typ=DELEGATION_TYP)
    assert encode_jwt(ctx.signer, claims, typ=DELEGATION_TYP) == first
    assert encode_jwt(ctx.signer, reordered, typ=DELEGATION_TYP) == first
    assert token_fingerprint(first) == hashlib.sha256(first.encode()).hexdigest()
    assert token_fingerprint(first) != token_fingerprint(ctx.token(jti="dlg-0002"))


# --- JWKS ---------------------------------------------------------------------


def test_jwks_document_has_only_public_members(
    ctx: Ctx, rsa_keys: tuple[rsa.RSAPrivateKey, ...]
) -> None:
    retired = rsa_keys[2].public_key()
    keys = KeySet(ctx.signer, [retired])
    doc = keys.document()
    assert [k["kid"] for k in doc["keys"]] == [ctx.signer.kid, jwk_thumbprint(retired)]
    for jwk in doc["keys"]:
        assert set(jwk) == {"kty", "use", "alg", "kid", "n", "e"}
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
        assert jwk_thumbprint(jwt.PyJWK(jwk).key) == jwk["kid"]
    doc["keys"][0]["kid"] = "mutated"
    doc["keys"].clear()
    assert keys.document()["keys"][0]["kid"] == ctx.signer.kid
    assert keys.get(jwk_thumbprint(retired)) is retired
    assert keys.get("nope") is None


def test_token_from_retired_key_still_verifies(
    ctx: Ctx, rsa_keys: tuple[rsa.RSAPrivateKey, ...]
) -> None:
    old = LocalKeySigner.from_private_key(rsa_keys[2])
    token = encode_jwt(old, make_claims(), typ=DELEGATION_TYP)
    with pytest.raises(TokenRejected) as exc:
        ctx.verify(token)
    assert exc.value.reason == "unknown_kid"
    verifier = TokenVerifier(KeySet(ctx.signer, [old.public_key()]), ISSUER)
    assert (
        verifier.verify(
            token, typ=DELEGATION_TYP, audience=AUDIENCE, required_claims=REQUIRED
        )["jti"]
        == "dlg-0001"
    )


# --- verification: positive ---------------------------------------------------


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
def test_typ_spellings_accepted(ctx: Ctx, typ: str) -> None:
    assert ctx.verify(ctx.token(typ=typ))["sub"] == "agent-medicore-1"


def test_leeway_accepts_small_clock_skew(ctx: Ctx) -> None:
    now = int(time.time())
    token = ctx.token(iat=now + 20, nbf=now + 20, exp=now - 20)
    assert ctx.verify(token)["jti"] == "dlg-0001"
    strict = TokenVerifier(KeySet(ctx.signer), ISSUER, leeway_seconds=0)
    with pytest.raises(TokenRejected):
        strict.verify(
            token, typ=DELEGATION_TYP, audience=AUDIENCE, required_claims=REQUIRED
        )


# --- verification: negative matrix ---------------------------------------------

Case = Callable[[Ctx], Any]
NOW = int(time.time())


def _alg_none(spelling: str) -> Case:
    return lambda c: f"{b64json(c.header(alg=spelling))}.{b64json(make_claims())}."


def _hs256_with_public_pem(c: Ctx) -> str:
    pem = c.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64json(c.header(alg='HS256'))}.{b64json(make_claims())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def _foreign(**header: Any) -> Case:
    def build(c: Ctx) -> str:
        pub = c.foreign.public_key()
        kid = jwk_thumbprint(pub)
        extra = {
            k: (public_jwk(pub, kid) if v == "JWK" else v) for k, v in header.items()
        }
        return rs256(c.foreign, c.header(kid=kid, **extra), make_claims())

    return build


def _tampered(c: Ctx) -> str:
    head, _, sig = c.token().split(".")
    return f"{head}.{b64json(make_claims(scope='admin.*'))}.{sig}"


def _swap_alg(alg: str) -> Case:
    def build(c: Ctx) -> str:
        _, payload, sig = c.token().split(".")
        return f"{b64json(c.header(alg=alg))}.{payload}.{sig}"

    return build


def _signed(header: dict[str, Any] | None = None, **claims: Any) -> Case:
    return lambda c: rs256(c.key, c.header(**(header or {})), make_claims(**claims))


NEGATIVE: dict[str, tuple[Case, str]] = {
    "alg-none": (_alg_none("none"), "unsupported_alg"),
    "alg-None": (_alg_none("None"), "unsupported_alg"),
    "alg-NONE": (_alg_none("NONE"), "unsupported_alg"),
    "alg-nOnE": (_alg_none("nOnE"), "unsupported_alg"),
    "alg-missing": (_signed({"alg": None}), "unsupported_alg"),
    "hs256-public-pem-secret": (_hs256_with_public_pem, "unsupported_alg"),
    "alg-RS384": (_swap_alg("RS384"), "unsupported_alg"),
    "alg-PS256": (_swap_alg("PS256"), "unsupported_alg"),
    "alg-rs256-lowercase": (_swap_alg("rs256"), "unsupported_alg"),
    "foreign-key-embedded-jwk": (_foreign(jwk="JWK"), "unknown_kid"),
    "foreign-key-jku": (_foreign(jku="https://evil.example/jwks.json"), "unknown_kid"),
    "foreign-key-x5u": (_foreign(x5u="https://evil.example/cert.pem"), "unknown_kid"),
    "foreign-key-our-kid": (
        lambda c: rs256(c.foreign, c.header(), make_claims()),
        "bad_signature",
    ),
    "unknown-kid": (_signed({"kid": "not-a-known-kid"}), "unknown_kid"),
    "kid-missing": (_signed({"kid": None}), "bad_header"),
    "kid-not-string": (_signed({"kid": 7}), "bad_header"),
    "tampered-payload": (_tampered, "bad_signature"),
    "wrong-aud": (_signed(aud="urn:vaultguard:tenant:other"), "wrong_audience"),
    "aud-list": (_signed(aud=[AUDIENCE, "vaultguard-api"]), "wrong_audience"),
    "aud-empty": (_signed(aud=""), "missing_claim"),
    "wrong-iss": (_signed(iss="https://evil.example"), "wrong_issuer"),
    "iss-list": (_signed(iss=[ISSUER]), "wrong_issuer"),
    "iss-trailing-slash": (_signed(iss=ISSUER + "/"), "wrong_issuer"),
    "expired": (_signed(exp=NOW - 3600, iat=NOW - 7200, nbf=NOW - 7200), "expired"),
    "nbf-future": (_signed(nbf=NOW + 3600), "not_yet_valid"),
    "iat-future": (_signed(iat=NOW + 3600), "not_yet_valid"),
    "exp-as-string": (_signed(exp=str(NOW + 300)), "invalid_claim"),
    "iat-as-bool": (_signed(iat=True), "invalid_claim"),
    "missing-jti": (_signed(jti=None), "missing_claim"),
    "missing-exp": (_signed(exp=None), "missing_claim"),
    "missing-iat": (_signed(iat=None), "missing_claim"),
    "missing-sub": (_signed(sub=None), "missing_claim"),
    "missing-required-scope": (_signed(scope=None), "missing_claim"),
    "jti-empty": (_signed(jti=""), "invalid_claim"),
    "jti-not-string": (_signed(jti=42), "invalid_claim"),
    "sub-empty": (_signed(sub=" "), "invalid_claim"),
    "crit-unknown": (_signed({"crit": ["exp"], "exp": NOW}), "bad_header"),
    "crit-b64-pyjwt-accepts": (_signed({"crit": ["b64"], "b64": True}), "bad_header"),
    "b64-without-crit": (_signed({"b64": True}), "bad_header"),
    "typ-api-for-delegation": (lambda c: c.token(typ=API_TYP), "bad_typ"),
    "typ-missing": (_signed({"typ": None}), "bad_typ"),
    "typ-plain-jwt": (_signed({"typ": "JWT"}), "bad_typ"),
    "typ-other-media-prefix": (_signed({"typ": "text/at+jwt"}), "bad_typ"),
    "typ-not-string": (_signed({"typ": ["at+jwt"]}), "bad_typ"),
    "header-not-object": (
        lambda c: f"{b64json([1])}.{b64json(make_claims())}.AA",
        "malformed",
    ),
    "payload-not-object": (lambda c: rs256(c.key, c.header(), [1]), "malformed"),
    "oversized": (lambda c: c.token(pad="x" * 9000), "malformed"),
}

GARBAGE: list[Any] = [
    "",
    "abc",
    "a.b",
    "a.b.c.d",
    "!!!.!!!.!!!",
    "eyJ.eyJ.",
    " eyJhbGciOiJSUzI1NiJ9.e30.AA",
    "eyJhbGciOiJSUzI1NiJ9.e30.AA==",
    "eyJhbGciOiJSUzI1NiJ9.e30.AA\n",
    "ｅｙＪ.ｅｙＪ.ｅｙＪ",
    "x" * 10_000,
    None,
    42,
    b"eyJhbGciOiJSUzI1NiJ9.e30.AA",
    ["a", "b", "c"],
    {"token": "x"},
]


@pytest.mark.parametrize("case", list(NEGATIVE), ids=list(NEGATIVE))
def test_rejected(ctx: Ctx, case: str) -> None:
    build, reason = NEGATIVE[case]
    with pytest.raises(TokenRejected) as exc:
        ctx.verify(build(ctx))
    assert exc.value.reason == reason


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_rejected(ctx: Ctx, garbage: Any) -> None:
    with pytest.raises(TokenRejected) as exc:
        ctx.verify(garbage)
    assert exc.value.reason == "malformed"


def test_delegation_token_is_not_an_api_token_and_vice_versa(ctx: Ctx) -> None:
    with pytest.raises(TokenRejected) as exc:
        ctx.verify(ctx.token(typ=DELEGATION_TYP), typ=API_TYP)
    assert exc.value.reason == "bad_typ"
    with pytest.raises(TokenRejected) as exc:
        ctx.verify(ctx.token(typ=API_TYP), typ=DELEGATION_TYP)
    assert exc.value.reason == "bad_typ"


def test_token_just_under_size_limit_still_verifies(ctx: Ctx) -> None:
    token = ctx.token(pad="")
    room = 8 * 1024 - len(token)
    fitted = ctx.token(pad="x" * (room * 3 // 4 - 8))
    assert len(fitted) <= 8 * 1024
    assert ctx.verify(fitted)["pad"]
