"""vaultguard.DelegationVerifier: the receiving side's offline checks, the JWKS cache and the
online revocation check (mirrors the server's negative matrix in tests/unit/test_tokens.py)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from vaultguard import (
    DelegationVerifier,
    Introspector,
    InvalidDelegationToken,
    JWKSCache,
    ServiceUnavailable,
    VerifiedDelegation,
)

from tests.sdk._tokens import (
    API_TYP,
    AUDIENCE,
    ISSUER,
    FakeClock,
    StubJWKS,
    b64json,
    b64url,
    header,
    kid_of,
    make_claims,
    public_jwk,
    rs256,
    rsa_key,
    token,
    verifier,
)

NOW = int(time.time())


def reason_of(v: DelegationVerifier, value: Any, **kwargs: Any) -> str:
    with pytest.raises(InvalidDelegationToken) as exc:
        v.verify(value, **kwargs)
    return exc.value.reason


# --- positive -------------------------------------------------------------------


def test_valid_token_gives_the_delegation() -> None:
    result = verifier().verify(token(jti="dlg-42"))
    assert result == VerifiedDelegation(
        delegation_id="dlg-42",
        agent_id="agent-medicore-1",
        client_id="agent-medicore-1",
        scope="stock.write",
        requesting_tenant_id="medicore",
        receiving_tenant_id="natsupply",
        expires_at=datetime.fromtimestamp(result.claims["exp"], tz=timezone.utc),  # noqa: UP017
        claims={},
    )
    assert result.expires_at.tzinfo is not None
    assert result.claims["act"] == {"sub": "agent-medicore-1"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.scope = "admin.*"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.claims["scope"] = "admin.*"  # type: ignore[index]


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+JWT"])
def test_typ_spellings_accepted(typ: str) -> None:
    assert verifier().verify(token(typ=typ)).agent_id == "agent-medicore-1"


def test_leeway_accepts_small_clock_skew_and_clock_is_injectable() -> None:
    now = int(time.time())
    skewed = token(iat=now + 20, nbf=now + 20, exp=now - 20)
    assert verifier(clock=lambda: now).verify(skewed).delegation_id == "dlg-0001"
    assert reason_of(verifier(leeway=0, clock=lambda: now), skewed) == "expired"
    later = verifier(clock=lambda: now + 400)
    assert reason_of(later, token(exp=now + 300)) == "expired"
    assert verifier(clock=lambda: now + 299).verify(token(exp=now + 300)).scope == "stock.write"


def test_token_from_a_retired_key_still_in_the_jwks_verifies() -> None:
    stub = StubJWKS(rsa_key(0), rsa_key(2))
    assert verifier(stub).verify(token(key=rsa_key(2))).scope == "stock.write"


# --- negative matrix ------------------------------------------------------------

Case = Callable[[], Any]


def _alg_none(spelling: str) -> Case:
    return lambda: f"{b64json(header(alg=spelling))}.{b64json(make_claims())}."


def _hs256_with_public_pem() -> str:
    pem = rsa_key(0).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64json(header(alg='HS256'))}.{b64json(make_claims())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def _foreign(**extra: Any) -> Case:
    def build() -> str:
        foreign = rsa_key(1)
        values = {k: (public_jwk(foreign) if v == "JWK" else v) for k, v in extra.items()}
        return rs256(foreign, header(foreign, **values), make_claims())

    return build


def _tampered() -> str:
    head, _, sig = token().split(".")
    return f"{head}.{b64json(make_claims(scope='admin.*'))}.{sig}"


def _swap_alg(alg: str) -> Case:
    def build() -> str:
        _, payload, sig = token().split(".")
        return f"{b64json(header(alg=alg))}.{payload}.{sig}"

    return build


def _signed(head: dict[str, Any] | None = None, **claims: Any) -> Case:
    return lambda: rs256(rsa_key(0), header(**(head or {})), make_claims(**claims))


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
    "foreign-key-x5c": (_foreign(x5c=["MIIBIjAN"]), "unknown_kid"),
    "foreign-key-our-kid": (lambda: rs256(rsa_key(1), header(), make_claims()), "bad_signature"),
    "foreign-key-our-kid-and-jwk": (
        lambda: rs256(rsa_key(1), header(jwk=public_jwk(rsa_key(1))), make_claims()),
        "bad_signature",
    ),
    "unknown-kid": (_signed({"kid": "not-a-known-kid"}), "unknown_kid"),
    "kid-missing": (_signed({"kid": None}), "bad_header"),
    "kid-not-string": (_signed({"kid": 7}), "bad_header"),
    "tampered-payload": (_tampered, "bad_signature"),
    "signature-stripped": (lambda: token().rsplit(".", 1)[0] + ".", "bad_signature"),
    "wrong-aud": (_signed(aud="urn:vaultguard:tenant:other"), "wrong_audience"),
    "aud-list": (_signed(aud=[AUDIENCE, "vaultguard-api"]), "wrong_audience"),
    "aud-list-only-ours": (_signed(aud=[AUDIENCE]), "wrong_audience"),
    "aud-empty": (_signed(aud=""), "missing_claim"),
    "aud-missing": (_signed(aud=None), "missing_claim"),
    "wrong-iss": (_signed(iss="https://evil.example"), "wrong_issuer"),
    "iss-list": (_signed(iss=[ISSUER]), "wrong_issuer"),
    "iss-trailing-slash": (_signed(iss=ISSUER + "/"), "wrong_issuer"),
    "expired": (_signed(exp=NOW - 3600, iat=NOW - 7200, nbf=NOW - 7200), "expired"),
    "nbf-future": (_signed(nbf=NOW + 3600), "not_yet_valid"),
    "iat-future": (_signed(iat=NOW + 3600), "not_yet_valid"),
    "exp-as-string": (_signed(exp=str(NOW + 300)), "invalid_claim"),
    "exp-infinity": (_signed(exp=float("inf")), "malformed"),
    "iat-as-bool": (_signed(iat=True), "invalid_claim"),
    "missing-jti": (_signed(jti=None), "missing_claim"),
    "missing-exp": (_signed(exp=None), "missing_claim"),
    "missing-iat": (_signed(iat=None), "missing_claim"),
    "missing-sub": (_signed(sub=None), "missing_claim"),
    "missing-required-scope": (_signed(scope=None), "missing_claim"),
    "missing-receiving-tenant": (_signed(receiving_tenant_id=None), "missing_claim"),
    "jti-empty": (_signed(jti=""), "invalid_claim"),
    "jti-not-string": (_signed(jti=42), "invalid_claim"),
    "sub-empty": (_signed(sub=" "), "invalid_claim"),
    "act-not-object": (_signed(act="agent-medicore-1"), "invalid_claim"),
    "crit-unknown": (_signed({"crit": ["exp"], "exp": NOW}), "bad_header"),
    "crit-b64-pyjwt-accepts": (_signed({"crit": ["b64"], "b64": True}), "bad_header"),
    "crit-empty": (_signed({"crit": []}), "bad_header"),
    "b64-without-crit": (_signed({"b64": True}), "bad_header"),
    "typ-api-for-delegation": (lambda: token(typ=API_TYP), "bad_typ"),
    "typ-missing": (_signed({"typ": None}), "bad_typ"),
    "typ-plain-jwt": (_signed({"typ": "JWT"}), "bad_typ"),
    "typ-other-media-prefix": (_signed({"typ": "text/at+jwt"}), "bad_typ"),
    "typ-not-string": (_signed({"typ": ["at+jwt"]}), "bad_typ"),
    "header-not-object": (lambda: f"{b64json([1])}.{b64json(make_claims())}.AA", "malformed"),
    "payload-not-object": (lambda: rs256(rsa_key(0), header(), [1]), "malformed"),
    "oversized": (lambda: token(pad="x" * 9000), "malformed"),
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
def test_rejected(case: str) -> None:
    build, reason = NEGATIVE[case]
    stub = StubJWKS()
    v = verifier(stub)
    assert reason_of(v, build()) == reason
    assert stub.calls <= 1  # nothing in a token makes us fetch more than once, or elsewhere


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_rejected_without_fetching_keys(garbage: Any) -> None:
    stub = StubJWKS()
    assert reason_of(verifier(stub), garbage) == "malformed"
    assert stub.calls == 0


def test_api_token_signed_by_our_key_is_never_a_delegation() -> None:
    api_claims = {"aud": "vaultguard-api", "scope": "delegations:request"}
    assert reason_of(verifier(), token(typ=API_TYP, **api_claims)) == "bad_typ"
    assert reason_of(verifier(), token(**api_claims)) == "wrong_audience"


def test_token_just_under_size_limit_still_verifies() -> None:
    room = 8 * 1024 - len(token(pad=""))
    fitted = token(pad="x" * (room * 3 // 4 - 8))
    assert len(fitted) <= 8 * 1024
    assert verifier().verify(fitted).claims["pad"]


def test_constructor_refuses_empty_issuer_or_audience() -> None:
    with pytest.raises(ValueError):
        DelegationVerifier("", AUDIENCE)
    with pytest.raises(ValueError):
        DelegationVerifier(ISSUER, "")
    assert DelegationVerifier(ISSUER + "/", AUDIENCE).jwks.jwks_url == f"{ISSUER}/.well-known/jwks.json"


# --- require_action -----------------------------------------------------------------


def test_require_action() -> None:
    v = verifier()
    stock_write = v.require_action("stock.write")
    assert stock_write(token()).scope == "stock.write"
    assert stock_write.verify(token()).scope == "stock.write"
    assert v.verify(token(), action="stock.write").scope == "stock.write"
    assert reason_of(v, token(scope="stock.read"), action="stock.write") == "insufficient_scope"
    with pytest.raises(InvalidDelegationToken) as exc:
        stock_write(token(scope="stock.*"))  # a token never grants a wildcard
    assert exc.value.reason == "insufficient_scope"
    # a bad token stays a bad token, whatever the action
    assert reason_of(v, token(aud="other"), action="stock.write") == "wrong_audience"
    for bad in ("stock.*", "", "stock.write stock.read", "*"):
        with pytest.raises(ValueError):
            v.require_action(bad)


# --- JWKS cache -------------------------------------------------------------------------


def test_unknown_kid_refreshes_once_then_is_rate_limited() -> None:
    clock = FakeClock()
    stub = StubJWKS(rsa_key(0))
    v = verifier(stub, min_refresh_interval=30, jwks_clock=clock)
    v.verify(token())
    v.verify(token())
    assert stub.calls == 1  # cached

    stub.keys.append(rsa_key(2))  # the issuer rotates in a new key
    clock.now += 31
    assert v.verify(token(key=rsa_key(2))).scope == "stock.write"
    assert stub.calls == 2  # one refetch found it

    for i in range(20):  # kid spraying
        assert reason_of(v, _signed({"kid": f"spray-{i}"})()) == "unknown_kid"
    assert stub.calls == 2
    clock.now += 31
    for i in range(5):
        assert reason_of(v, _signed({"kid": f"spray-late-{i}"})()) == "unknown_kid"
    assert stub.calls == 3  # one more refetch per interval, no more
    assert v.verify(token()).scope == "stock.write"


def test_at_most_one_fetch_per_call_even_without_rate_limit() -> None:
    stub = StubJWKS()
    v = verifier(stub, min_refresh_interval=0)
    for i in range(3):
        assert reason_of(v, _signed({"kid": f"nope-{i}"})()) == "unknown_kid"
    assert stub.calls == 3


def test_fetch_failure_is_service_unavailable_never_invalid() -> None:
    clock = FakeClock()
    stub = StubJWKS()
    stub.fail = True
    v = verifier(stub, error_backoff=5, jwks_clock=clock)
    with pytest.raises(ServiceUnavailable):
        v.verify(token())
    with pytest.raises(ServiceUnavailable):
        v.verify(token())
    assert stub.calls == 1  # backing off
    stub.fail = False
    clock.now += 6
    assert v.verify(token()).scope == "stock.write"

    # Keys already held keep working while the JWKS is down; an unknown kid is "could not check".
    stub.fail = True
    clock.now += 60
    assert v.verify(token()).scope == "stock.write"
    with pytest.raises(ServiceUnavailable):
        v.verify(token(key=rsa_key(2)))


def test_stale_key_set_is_refetched_so_withdrawn_keys_stop_working() -> None:
    clock = FakeClock()
    stub = StubJWKS(rsa_key(0), rsa_key(2))
    v = verifier(stub, max_age=600, jwks_clock=clock)
    assert v.verify(token(key=rsa_key(2))).scope == "stock.write"
    stub.keys.remove(rsa_key(2))
    clock.now += 601
    assert reason_of(v, token(key=rsa_key(2))) == "unknown_kid"
    assert stub.calls == 2


def test_cache_is_bounded_and_skips_unusable_keys() -> None:
    doc = {
        "keys": [
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {**public_jwk(rsa_key(1)), "use": "enc"},
            {**public_jwk(rsa_key(1)), "alg": "RS512", "kid": "rs512"},
            {k: v for k, v in public_jwk(rsa_key(1)).items() if k != "kid"},
            "not-a-jwk",
            public_jwk(rsa_key(0)),
            public_jwk(rsa_key(2)),
        ]
    }
    cache = JWKSCache("https://issuer.example/jwks", fetch=lambda url: doc, max_keys=1)
    assert cache.get(kid_of(rsa_key(0))) is not None
    with pytest.raises(InvalidDelegationToken):
        cache.get(kid_of(rsa_key(2)))  # over the bound
    with pytest.raises(InvalidDelegationToken):
        cache.get("ec")


def test_concurrent_first_use_fetches_once() -> None:
    stub = StubJWKS()
    slow = lambda url: (time.sleep(0.05), stub(url))[1]  # noqa: E731
    cache = JWKSCache(f"{ISSUER}/.well-known/jwks.json", fetch=slow)
    v = DelegationVerifier(ISSUER, AUDIENCE, jwks=cache)
    tok, errors = token(), []

    def run() -> None:
        try:
            v.verify(tok)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and stub.calls == 1


class _JWKSHandler(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b""
    hits = 0

    def do_GET(self) -> None:  # noqa: N802
        type(self).hits += 1
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        if self.status in (301, 302):
            self.send_header("Location", "https://evil.example/jwks.json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def jwks_server() -> Iterator[tuple[str, type[_JWKSHandler]]]:
    handler = type("Handler", (_JWKSHandler,), {"hits": 0})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", handler
    srv.shutdown()
    srv.server_close()


def test_over_http_from_the_issuers_well_known_url(jwks_server: tuple[str, type[_JWKSHandler]]) -> None:
    url, handler = jwks_server
    handler.body = json.dumps({"keys": [public_jwk(rsa_key(0))]}).encode()
    v = DelegationVerifier(url, AUDIENCE)
    assert v.jwks.jwks_url == f"{url}/.well-known/jwks.json"
    assert v.verify(token(iss=url)).agent_id == "agent-medicore-1"
    assert handler.hits == 1


@pytest.mark.parametrize(
    "status, body",
    [(500, b"{}"), (404, b"{}"), (302, b""), (200, b"not json"), (200, b"[]"), (200, b"{}"),
     (200, b'{"keys": "x"}'), (200, b" " * (300 * 1024))],
    ids=["500", "404", "redirect", "not-json", "array", "no-keys", "keys-not-list", "too-large"],
)  # fmt: skip
def test_http_failures_are_service_unavailable(
    jwks_server: tuple[str, type[_JWKSHandler]], status: int, body: bytes
) -> None:
    url, handler = jwks_server
    handler.status, handler.body = status, body
    with pytest.raises(ServiceUnavailable):
        DelegationVerifier(url, AUDIENCE).verify(token(iss=url))


def test_unreachable_jwks_is_service_unavailable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ServiceUnavailable):
        DelegationVerifier(url, AUDIENCE).verify(token(iss=url))


# --- online revocation check ----------------------------------------------------------------


class FakeReply:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code = status
        self._body = body

    def json(self) -> Any:
        if isinstance(self._body, Exception):
            raise self._body
        return self._body


class FakeSession:
    def __init__(self, reply: FakeReply | Exception) -> None:
        self.reply = reply
        self.calls: list[dict[str, Any]] = []

    def post(self, url: str, **kwargs: Any) -> FakeReply:
        self.calls.append({"url": url, **kwargs})
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def introspected(reply: FakeReply | Exception, **kwargs: Any) -> tuple[DelegationVerifier, FakeSession]:
    session = FakeSession(reply)
    introspector = Introspector(
        "https://vg.example/", "nat:admin", "s3cr%t:x", session=session, **kwargs  # type: ignore[arg-type]
    )
    return verifier(introspect=introspector), session


def test_introspection_active_is_cached_by_fingerprint() -> None:
    clock = FakeClock()
    v, session = introspected(FakeReply(200, {"active": True, "jti": "dlg-0001"}), ttl=10, clock=clock)
    tok = token()
    assert v.verify(tok).delegation_id == "dlg-0001"
    assert v.verify(tok).delegation_id == "dlg-0001"
    assert len(session.calls) == 1
    call = session.calls[0]
    assert call["url"] == "https://vg.example/oauth/introspect"
    assert call["data"]["token"] == tok
    # RFC 6749 §2.3.1: form-urlencoded before Basic
    expected = base64.b64encode(b"nat%3Aadmin:s3cr%25t%3Ax").decode()
    assert call["headers"]["Authorization"] == f"Basic {expected}"
    introspector = v._introspect
    assert isinstance(introspector, Introspector)
    assert tok not in repr(introspector._cache)
    clock.now += 11
    v.verify(tok)
    assert len(session.calls) == 2


def test_revoked_delegation_is_rejected() -> None:
    v, session = introspected(FakeReply(200, {"active": False}))
    assert reason_of(v, token()) == "revoked"
    assert reason_of(v, token()) == "revoked"
    assert len(session.calls) == 1  # the negative answer is cached too


def test_ttl_zero_asks_every_time() -> None:
    v, session = introspected(FakeReply(200, {"active": True}), ttl=0)
    v.verify(token())
    v.verify(token())
    assert len(session.calls) == 2


def test_invalid_tokens_never_reach_introspection() -> None:
    v, session = introspected(FakeReply(200, {"active": True}))
    assert reason_of(v, token(aud="other")) == "wrong_audience"
    assert reason_of(v, token(scope="stock.read"), action="stock.write") == "insufficient_scope"
    assert session.calls == []


@pytest.mark.parametrize(
    "reply",
    [
        FakeReply(500, {}),
        FakeReply(401, {"error": "invalid_client"}),
        FakeReply(200, ValueError("not json")),
        FakeReply(200, {"active": "yes"}),
        requests.ConnectionError("down"),
    ],
    ids=["5xx", "401", "not-json", "active-not-bool", "connection"],
)
def test_introspection_failures_are_service_unavailable(reply: FakeReply | Exception) -> None:
    v, _ = introspected(reply)
    with pytest.raises(ServiceUnavailable):
        v.verify(token())


def test_plain_callable_introspection() -> None:
    assert verifier(introspect=lambda t: True).verify(token()).scope == "stock.write"
    assert reason_of(verifier(introspect=lambda t: {"active": False}), token()) == "revoked"

    def broken(t: str) -> bool:
        raise RuntimeError("boom")

    with pytest.raises(ServiceUnavailable):
        verifier(introspect=broken).verify(token())
