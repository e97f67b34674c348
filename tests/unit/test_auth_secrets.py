"""Unit tests for chalicelib.auth.secrets: scrypt hashing of client secrets (RFC 7914)."""

from __future__ import annotations

import base64

import pytest

from chalicelib.auth.secrets import burn_time, hash_secret, verify_secret

N = 16  # the cheapest cost scrypt accepts: these tests check logic, not strength
SECRET = "vgs_Zm9vYmFyYmF6cXV4LXNlY3JldC12YWx1ZS0xMjM0NTY3ODk"


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_secret(SECRET, N)


def test_round_trip(stored: str) -> None:
    assert verify_secret(SECRET, stored) is True


def test_round_trip_at_the_default_cost() -> None:
    stored = hash_secret("s3cret", 2**14)
    assert stored.split("$")[1] == str(2**14)
    assert verify_secret("s3cret", stored) is True
    assert verify_secret("s3cret!", stored) is False


@pytest.mark.parametrize(
    "secret",
    ["", "x", "päßwörd-ünïcode-✓", "a" * 4096, "with$dollar$signs", "trailing space "],
    ids=["empty", "one-char", "unicode", "long", "dollars", "space"],
)
def test_round_trip_any_secret(secret: str) -> None:
    stored = hash_secret(secret, N)
    assert verify_secret(secret, stored) is True
    assert verify_secret(secret + "x", stored) is False


@pytest.mark.parametrize(
    "wrong",
    [
        "",
        SECRET[:-1],
        SECRET + "x",
        SECRET.upper(),
        SECRET[:-1] + chr(ord(SECRET[-1]) ^ 1),
        " " + SECRET,
        SECRET + "\n",
    ],
    ids=["empty", "truncated", "extended", "case", "one-bit", "leading-space", "newline"],
)
def test_wrong_secret(stored: str, wrong: str) -> None:
    assert verify_secret(wrong, stored) is False


def test_format(stored: str) -> None:
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(N), "8", "1")
    assert len(base64.b64decode(salt, validate=True)) == 16
    assert len(base64.b64decode(digest, validate=True)) == 32


def test_hash_never_contains_the_secret() -> None:
    for secret in (SECRET, "s3cret", "abcdefgh"):
        stored = hash_secret(secret, N)
        assert secret not in stored
        assert secret.encode().hex() not in stored
        assert base64.b64encode(secret.encode()).decode().rstrip("=") not in stored


def test_two_hashes_of_the_same_secret_differ() -> None:
    hashes = {hash_secret(SECRET, N) for _ in range(5)}
    assert len(hashes) == 5
    salts = {h.split("$")[4] for h in hashes}
    assert len(salts) == 5
    assert all(verify_secret(SECRET, h) for h in hashes)


def test_the_stored_parameters_are_the_ones_used(stored: str) -> None:
    """A hash made at one cost still verifies after the configured cost changes."""
    older = hash_secret(SECRET, 32)
    assert verify_secret(SECRET, older) is True
    assert verify_secret(SECRET, stored) is True


def _replace(stored: str, index: int, value: str) -> str:
    parts = stored.split("$")
    parts[index] = value
    return "$".join(parts)


def _malformed(stored: str) -> list[tuple[str, str]]:
    return [
        ("empty", ""),
        ("garbage", "not a hash"),
        ("plaintext secret", SECRET),
        ("too few fields", "$".join(stored.split("$")[:5])),
        ("too many fields", stored + "$extra"),
        ("other scheme", _replace(stored, 0, "bcrypt")),
        ("upper-case scheme", _replace(stored, 0, "SCRYPT")),
        ("n not a number", _replace(stored, 1, "sixteen")),
        ("n not a power of two", _replace(stored, 1, "17")),
        ("n zero", _replace(stored, 1, "0")),
        ("n negative", _replace(stored, 1, "-16")),
        ("n absurd", _replace(stored, 1, str(2**70))),
        ("n over the memory limit", _replace(stored, 1, str(2**40))),
        ("r zero", _replace(stored, 2, "0")),
        ("r empty", _replace(stored, 2, "")),
        ("p zero", _replace(stored, 3, "0")),
        ("p absurd", _replace(stored, 3, str(2**70))),
        ("salt not base64", _replace(stored, 4, "%%%")),
        ("digest not base64", _replace(stored, 5, "a")),
        ("digest empty", _replace(stored, 5, "")),
        ("digest of another secret", _replace(stored, 5, hash_secret("other", N).split("$")[5])),
        ("salt of another hash", _replace(stored, 4, hash_secret(SECRET, N).split("$")[4])),
        ("non-ascii", "scrypt$16$8$1$é$é"),
    ]


@pytest.mark.parametrize("case", [c for c, _ in _malformed("scrypt$16$8$1$AAAA$AAAA")])
def test_malformed_stored_hash_is_false(stored: str, case: str) -> None:
    value = dict(_malformed(stored))[case]
    assert verify_secret(SECRET, value) is False


def test_burn_time_runs() -> None:
    burn_time(N)  # spends the cost of one check and raises nothing
