"""DelegationVerifier(status_list=...): offline revocation through the issuer's status lists
(draft-ietf-oauth-status-list). Lists are served by a stub; refreshes are driven by hand."""

from __future__ import annotations

import base64
import time
import zlib
from typing import Any

import pytest
from vaultguard import DelegationVerifier, InvalidDelegationToken, JWKSCache, ServiceUnavailable, StatusLists

from tests.sdk._tokens import ISSUER, StubJWKS, header, rs256, rsa_key, token

URI = f"{ISSUER}/statuslists/sl_AAAAAAAAAAAAAAAAAAAAAA"


def lst(*invalid: int, size: int = 1 << 17) -> str:
    raw = bytearray(size // 8)
    for idx in invalid:
        raw[idx // 8] |= 1 << (idx % 8)
    return base64.urlsafe_b64encode(zlib.compress(bytes(raw))).rstrip(b"=").decode()


def list_token(*invalid: int, key: Any = None, typ: str = "statuslist+jwt", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "sub": URI, "iat": now, "exp": now + 30, "ttl": 2,
            "status_list": {"bits": 1, "lst": lst(*invalid)}}  # fmt: skip
    body.update(claims)
    return rs256(key or rsa_key(0), header(key, typ=typ), body)


class Lists:
    """The stub status list endpoint: serves `current`, counts fetches."""

    def __init__(self, current: str) -> None:
        self.current = current
        self.calls = 0

    def __call__(self, uri: str) -> str:
        self.calls += 1
        return self.current


def setup(served: str, **options: Any) -> tuple[DelegationVerifier, StatusLists, Lists]:
    jwks = JWKSCache(f"{ISSUER}/.well-known/jwks.json", fetch=StubJWKS())
    stub = Lists(served)
    lists = StatusLists(ISSUER, jwks, fetch=stub, **options)
    return (
        DelegationVerifier(ISSUER, "urn:vaultguard:tenant:natsupply", jwks=jwks, status_list=lists),
        lists,
        stub,
    )


def delegation(idx: int = 7, uri: str = URI) -> str:
    return token(status={"status_list": {"idx": idx, "uri": uri}})


def test_a_valid_entry_passes_and_an_invalid_one_is_refused() -> None:
    verifier, lists, _ = setup(list_token(9))
    try:
        assert verifier.verify(delegation(7)).delegation_id == "dlg-0001"
        with pytest.raises(InvalidDelegationToken) as refused:
            verifier.verify(delegation(9))
        assert refused.value.reason == "revoked"
    finally:
        lists.close()


def test_revocation_is_seen_after_a_refresh_without_a_call_per_token() -> None:
    verifier, lists, stub = setup(list_token())
    try:
        verifier.verify(delegation(7))
        calls = stub.calls
        for _ in range(100):
            verifier.verify(delegation(7))
        assert stub.calls - calls <= 1
        stub.current = list_token(7)
        lists.refresh_now()
        with pytest.raises(InvalidDelegationToken):
            verifier.verify(delegation(7))
    finally:
        lists.close()


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda: list_token(typ="at+jwt"), id="wrong typ"),
        pytest.param(lambda: list_token(key=rsa_key(3)), id="foreign key"),
        pytest.param(
            lambda: list_token(sub=f"{ISSUER}/statuslists/sl_BBBBBBBBBBBBBBBBBBBBBB"), id="another list"
        ),
        pytest.param(lambda: list_token(iss="https://evil.example"), id="another issuer"),
        pytest.param(lambda: list_token(exp=int(time.time()) - 1), id="expired"),
        pytest.param(lambda: list_token(iat=int(time.time()) - 100), id="older than the one held"),
        pytest.param(
            lambda: (lambda t: t[: t.rindex(".") - 8] + "AAAAAAAA" + t[t.rindex(".") :])(list_token()),
            id="tampered payload",
        ),
    ],
)
def test_a_bad_list_is_refused_and_the_last_good_one_kept(bad: Any) -> None:
    verifier, lists, stub = setup(list_token(9))
    try:
        verifier.verify(delegation(7))
        stub.current = bad()  # e.g. an attacker's list with bit 9 cleared
        lists.refresh_now()
        with pytest.raises(InvalidDelegationToken):
            verifier.verify(delegation(9))  # still refused from the last good list
        assert verifier.verify(delegation(7))
    finally:
        lists.close()


def test_a_first_list_that_is_tampered_gives_service_unavailable() -> None:
    good = list_token()
    verifier, lists, _ = setup(good[:-6] + "AAAAAA", first_fetch_timeout=1.0)
    try:
        with pytest.raises(ServiceUnavailable):
            verifier.verify(delegation(7))
    finally:
        lists.close()


def test_after_the_held_list_expires_verification_fails_closed() -> None:
    clock = [time.time()]
    verifier, lists, stub = setup(list_token(), clock=lambda: clock[0])
    try:
        verifier.verify(delegation(7))
        stub.current = "not-a-jwt"
        clock[0] += 31  # past the held list's exp, no good list since
        lists.refresh_now()
        with pytest.raises(ServiceUnavailable):
            verifier.verify(delegation(7))
    finally:
        lists.close()


def test_a_token_without_a_status_entry_or_naming_a_foreign_list_is_refused() -> None:
    verifier, lists, stub = setup(list_token())
    try:
        with pytest.raises(InvalidDelegationToken):
            verifier.verify(token())
        with pytest.raises(InvalidDelegationToken):
            verifier.verify(delegation(uri="https://evil.example/statuslists/x"))
        assert stub.calls == 0  # never fetched a URL the issuer did not publish
    finally:
        lists.close()
