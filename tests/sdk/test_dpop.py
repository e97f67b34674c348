"""DPoP (RFC 9449) in the SDK: DPoPKey's proofs, and DelegationVerifier on bound tokens —
the matrix of the issue: no proof, another method or URL, stale iat, replayed jti, wrong
ath, another key, a bound token sent as bearer; plus a proof sent with an unbound token."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from vaultguard import DPoPKey, InvalidDelegationToken, ReplayCache

from tests.sdk._tokens import token, verifier

URL = "https://natsupply.example/stock/items?page=2"


def bound_token(key: DPoPKey, **claims: Any) -> str:
    return token(cnf={"jkt": key.thumbprint}, **claims)


def decoded(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = proof.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(
        base64.urlsafe_b64decode(pad(payload))
    )


def test_a_proof_carries_the_public_key_and_names_the_request_without_query() -> None:
    key = DPoPKey()
    header, claims = decoded(key.proof("post", URL, access_token="tok", nonce="n-1"))
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert set(header["jwk"]) == {"kty", "crv", "x", "y"}  # the public part only
    assert claims["htm"] == "POST" and claims["htu"] == "https://natsupply.example/stock/items"
    assert claims["nonce"] == "n-1" and claims["ath"] and claims["jti"]
    assert abs(claims["iat"] - time.time()) < 5


def test_rotate_changes_the_thumbprint() -> None:
    key = DPoPKey()
    before = key.thumbprint
    assert key.rotate() == key.thumbprint != before


def test_a_bound_token_with_a_proof_by_its_key_is_accepted() -> None:
    key = DPoPKey()
    tok = bound_token(key)
    verified = verifier().verify(
        tok, dpop_proof=key.proof("POST", URL, access_token=tok), method="POST", url=URL
    )
    assert verified.claims["cnf"] == {"jkt": key.thumbprint}


def _refusal(tok: str, **kwargs: Any) -> str:
    with pytest.raises(InvalidDelegationToken) as info:
        verifier(**kwargs.pop("options", {})).verify(tok, **kwargs)
    return info.value.reason


def test_a_bound_token_sent_as_bearer_is_refused() -> None:
    assert _refusal(bound_token(DPoPKey())) == "dpop_bound"


@pytest.mark.parametrize(
    "case",
    ["other method", "other url", "other host", "stale", "future", "wrong ath", "other key", "tampered"],
)
def test_a_proof_that_does_not_fit_the_request_is_refused(case: str) -> None:
    key, other = DPoPKey(), DPoPKey()
    tok = bound_token(key)
    now = time.time()
    proofs = {
        "other method": key.proof("GET", URL, access_token=tok),
        "other url": key.proof("POST", "https://natsupply.example/stock/other", access_token=tok),
        "other host": key.proof("POST", "https://evil.example/stock/items", access_token=tok),
        "stale": key.proof("POST", URL, access_token=tok, now=now - 120),
        "future": key.proof("POST", URL, access_token=tok, now=now + 60),
        "wrong ath": key.proof("POST", URL, access_token=tok + "x"),
        "other key": other.proof("POST", URL, access_token=tok),
        "tampered": key.proof("POST", URL, access_token=tok)[:-4] + "AAAA",
    }
    assert _refusal(tok, dpop_proof=proofs[case], method="POST", url=URL) == "invalid_dpop_proof"


def test_a_replayed_proof_is_refused_within_the_window() -> None:
    key = DPoPKey()
    tok = bound_token(key)
    v = verifier()
    proof = key.proof("POST", URL, access_token=tok)
    v.verify(tok, dpop_proof=proof, method="POST", url=URL)
    with pytest.raises(InvalidDelegationToken) as info:
        v.verify(tok, dpop_proof=proof, method="POST", url=URL)
    assert info.value.reason == "invalid_dpop_proof" and "already used" in str(info.value)
    # a fresh proof for the same request is fine
    v.verify(tok, dpop_proof=key.proof("POST", URL, access_token=tok), method="POST", url=URL)


def test_the_replay_cache_forgets_after_the_window() -> None:
    cache = ReplayCache(window=65)
    assert cache.check_and_add("jkt", "j1", 1000.0)
    assert not cache.check_and_add("jkt", "j1", 1060.0)
    assert cache.check_and_add("jkt", "j1", 1066.0)


def test_a_proof_with_an_unbound_token_is_refused() -> None:
    key = DPoPKey()
    tok = token()
    proof = key.proof("POST", URL, access_token=tok)
    assert _refusal(tok, dpop_proof=proof, method="POST", url=URL) == "not_dpop_bound"


def test_a_proof_with_a_private_key_or_hmac_alg_is_refused() -> None:
    key = DPoPKey()
    tok = bound_token(key)
    header, claims = decoded(key.proof("POST", URL, access_token=tok))
    enc = lambda v: base64.urlsafe_b64encode(json.dumps(v).encode()).rstrip(b"=").decode()  # noqa: E731
    for bad_header in (
        {**header, "alg": "HS256"},
        {**header, "alg": "none"},
        {**header, "jwk": {**header["jwk"], "d": "AA"}},
    ):
        forged = f"{enc(bad_header)}.{enc(claims)}."
        assert _refusal(tok, dpop_proof=forged, method="POST", url=URL) == "invalid_dpop_proof"
