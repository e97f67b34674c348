"""Unit tests for chalicelib.auth.secrets: HMAC-SHA256 of generated secrets under a server
key, and the scrypt hashes of earlier releases that still verify until rewritten."""

from __future__ import annotations

import base64
import os

import pytest

from chalicelib.auth.secrets import SecretHasher, scrypt_hash

SECRET = "vgs_Zm9vYmFyYmF6cXV4LXNlY3JldC12YWx1ZS0xMjM0NTY3ODk"
KEY = os.urandom(32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def hasher() -> SecretHasher:
    return SecretHasher(lambda: KEY)


def test_round_trip(hasher: SecretHasher) -> None:
    stored = hasher.hash(SECRET)
    assert stored.startswith("hmac-sha256$")
    assert SECRET not in stored
    assert hasher.verify(SECRET, stored) is True


@pytest.mark.parametrize(
    "secret",
    ["", "x", "päßwörd-ünïcode-✓", "a" * 4096, "with$dollar$signs", "trailing space "],
    ids=["empty", "one-char", "unicode", "long", "dollars", "space"],
)
def test_round_trip_any_secret(hasher: SecretHasher, secret: str) -> None:
    stored = hasher.hash(secret)
    assert hasher.verify(secret, stored) is True
    assert hasher.verify(secret + "x", stored) is False


@pytest.mark.parametrize(
    "wrong",
    ["", SECRET[:-1], SECRET + "x", SECRET.upper(), " " + SECRET],
    ids=["empty", "truncated", "extended", "case", "leading-space"],
)
def test_wrong_secrets_are_refused(hasher: SecretHasher, wrong: str) -> None:
    assert hasher.verify(wrong, hasher.hash(SECRET)) is False


def test_the_key_matters(hasher: SecretHasher) -> None:
    """A stolen table alone is not enough to check guesses: another key gives another hash."""
    other = SecretHasher(lambda: os.urandom(32))
    stored = hasher.hash(SECRET)
    assert other.hash(SECRET) != stored
    assert other.verify(SECRET, stored) is False
    assert other.needs_rehash(stored) is True
    assert hasher.needs_rehash(stored) is False


def test_same_secret_same_hash_is_deterministic_per_key(hasher: SecretHasher) -> None:
    assert hasher.hash(SECRET) == hasher.hash(SECRET)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s.replace("hmac-sha256", "HMAC-SHA256"),
        lambda s: s.rsplit("$", 1)[0] + "$" + _b64(base64.b64decode(s.rsplit("$", 1)[1])[:16]),
        lambda s: s.rsplit("$", 1)[0] + "$not-base64!",
        lambda s: s + "$extra",
        lambda s: "",
        lambda s: "plaintext",
    ],
    ids=["scheme-case", "truncated-digest", "bad-base64", "extra-field", "empty", "no-scheme"],
)
def test_malformed_hashes_never_verify(hasher: SecretHasher, mangle) -> None:  # type: ignore[no-untyped-def]
    assert hasher.verify(SECRET, mangle(hasher.hash(SECRET))) is False


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        SecretHasher(lambda: b"short").hash(SECRET)


def test_legacy_scrypt_hashes_still_verify_and_want_a_rehash(hasher: SecretHasher) -> None:
    legacy = scrypt_hash(SECRET, 16, os.urandom(16))
    assert hasher.verify(SECRET, legacy) is True
    assert hasher.verify(SECRET + "x", legacy) is False
    assert hasher.needs_rehash(legacy) is True


def test_legacy_scrypt_with_a_truncated_digest_is_refused(hasher: SecretHasher) -> None:
    legacy = scrypt_hash(SECRET, 16, os.urandom(16))
    head, digest = legacy.rsplit("$", 1)
    short = base64.b64encode(base64.b64decode(digest)[:8]).decode()
    assert hasher.verify(SECRET, f"{head}${short}") is False
