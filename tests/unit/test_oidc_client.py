"""Unit tests for chalicelib.auth.oidc: the relying party against an in-memory provider.

Every rejected token differs from an accepted one in exactly one respect, and each test
checks the reason, so that a test passes only for the check it is about.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
import requests.adapters
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from requests.structures import CaseInsensitiveDict

from chalicelib.auth.oidc import (
    IdentityClaims,
    OidcClient,
    ProviderConfig,
    ProviderUnavailable,
    SignInRejected,
    new_pkce_pair,
)
from chalicelib.auth.oidc_http import RequestsTransport, TransportError, basic_authorization

ISSUER = "https://vaultguard-test.eu.auth0.example/"
CLIENT_ID = "vg-dashboard"
CLIENT_SECRET = "s3cret/with+chars="
NONCE = "n-0S6_WzA2Mj"
REDIRECT_URI = "https://vaultguard.example/auth/callback"
T0 = 1_800_000_000.0

_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC_KEY = ec.generate_private_key(ec.SECP256R1())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64url(json.dumps(value).encode())


def public_jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class FakeProvider:
    """An OIDC provider in memory: discovery, JWKS, and a token endpoint for one code."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.discovery: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": ISSUER + "authorize",
            "token_endpoint": ISSUER + "oauth/token",
            "jwks_uri": ISSUER + ".well-known/jwks.json",
            "end_session_endpoint": ISSUER + "oidc/logout",
            "authorization_response_iss_parameter_supported": False,
        }
        self.jwks: dict[str, Any] = {"keys": [public_jwk(_RSA_KEY, "rsa-1"), public_jwk(_EC_KEY, "ec-1")]}
        self.gets: list[str] = []
        self.posts: list[tuple[str, dict[str, str], tuple[str, str] | None]] = []
        self.token_answer: tuple[int, bytes] | None = None  # None: issue a fresh ID token

    def get(self, url: str) -> tuple[int, bytes]:
        self.gets.append(url)
        if url == ISSUER.rstrip("/") + "/.well-known/openid-configuration":
            return 200, json.dumps(self.discovery).encode()
        if url == self.discovery["jwks_uri"]:
            return 200, json.dumps(self.jwks).encode()
        return 404, b"not found"

    def post_form(
        self, url: str, form: Mapping[str, str], basic_auth: tuple[str, str] | None
    ) -> tuple[int, bytes]:
        self.posts.append((url, dict(form), basic_auth))
        if self.token_answer is not None:
            return self.token_answer
        body = {"access_token": "opaque", "token_type": "Bearer", "id_token": self.id_token()}
        return 200, json.dumps(body).encode()

    def jwks_fetches(self) -> int:
        return self.gets.count(self.discovery["jwks_uri"])

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid claims at the clock's time; an override of None removes the claim."""
        now = int(self.clock.now)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": "google-oauth2|1234567890",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 600,
            "nonce": NONCE,
            "auth_time": now - 30,
            "email": "ana@natsupply.example",
            "email_verified": True,
            "name": "Ana Approver",
            "org_id": "org_natsupply",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def id_token(
        self,
        *,
        key: Any = _RSA_KEY,
        alg: str = "RS256",
        kid: str = "rsa-1",
        **overrides: Any,
    ) -> str:
        return jwt.encode(self.claims(**overrides), key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(clock: Clock) -> FakeProvider:
    return FakeProvider(clock)


def make_client(provider: FakeProvider, clock: Clock, **config: Any) -> OidcClient:
    settings: dict[str, Any] = {"issuer": ISSUER, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    settings.update(config)
    return OidcClient(ProviderConfig(**settings), transport=provider, clock=clock)


@pytest.fixture
def client(provider: FakeProvider, clock: Clock) -> OidcClient:
    return make_client(provider, clock, tenant_claim="org_id")


def rejected(client: OidcClient, token: str, **kwargs: Any) -> str:
    with pytest.raises(SignInRejected) as info:
        client.validate_id_token(token, nonce=kwargs.pop("nonce", NONCE), **kwargs)
    return info.value.reason


# -- the happy paths ---------------------------------------------------------------------------


def test_sign_in_exchanges_the_code_and_returns_the_person(
    client: OidcClient, provider: FakeProvider
) -> None:
    verifier, _ = new_pkce_pair()
    identity = client.sign_in(code="code-1", redirect_uri=REDIRECT_URI, code_verifier=verifier, nonce=NONCE)

    assert identity == IdentityClaims(
        issuer=ISSUER,
        subject="google-oauth2|1234567890",
        email="ana@natsupply.example",
        email_verified=True,
        name="Ana Approver",
        auth_time=int(T0) - 30,
        tenant_hint="org_natsupply",
        id_token=identity.id_token,
    )
    url, form, basic_auth = provider.posts[0]
    assert url == ISSUER + "oauth/token"
    assert form == {
        "grant_type": "authorization_code",
        "code": "code-1",
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    assert basic_auth == (CLIENT_ID, CLIENT_SECRET)
    assert "client_secret" not in form


def test_es256_id_tokens_are_accepted(client: OidcClient, provider: FakeProvider) -> None:
    token = provider.id_token(key=_EC_KEY, alg="ES256", kid="ec-1")
    assert client.validate_id_token(token, nonce=NONCE).subject == "google-oauth2|1234567890"


def test_discovery_and_keys_are_fetched_once(client: OidcClient, provider: FakeProvider) -> None:
    for _ in range(3):
        client.validate_id_token(provider.id_token(), nonce=NONCE)
    assert len(provider.gets) == 2  # discovery, JWKS


def test_discovery_is_fetched_again_after_an_hour(
    client: OidcClient, provider: FakeProvider, clock: Clock
) -> None:
    client.metadata()
    provider.discovery["end_session_endpoint"] = ISSUER + "v2/logout"
    clock.now += 3599
    assert client.metadata().end_session_endpoint == ISSUER + "oidc/logout"
    clock.now += 2
    assert client.metadata().end_session_endpoint == ISSUER + "v2/logout"


def test_email_verified_counts_only_when_literally_true(client: OidcClient, provider: FakeProvider) -> None:
    for value in ("true", 1, None):
        token = provider.id_token(email_verified=value)
        assert client.validate_id_token(token, nonce=NONCE).email_verified is False, value


# -- discovery and the authorization response ------------------------------------------------


def test_discovery_naming_another_issuer_is_refused(client: OidcClient, provider: FakeProvider) -> None:
    provider.discovery["issuer"] = "https://attacker.example/"
    with pytest.raises(ProviderUnavailable) as info:
        client.metadata()
    assert info.value.reason == "discovery_issuer_mismatch"


def test_discovery_with_plain_http_endpoints_is_refused(client: OidcClient, provider: FakeProvider) -> None:
    provider.discovery["token_endpoint"] = "http://idp.example/oauth/token"
    with pytest.raises(ProviderUnavailable) as info:
        client.metadata()
    assert info.value.reason == "discovery_bad_token_endpoint"


def test_iss_parameter_must_name_the_issuer(client: OidcClient) -> None:
    client.check_response_issuer(ISSUER)
    client.check_response_issuer(None)  # the provider does not say it sends one
    with pytest.raises(SignInRejected) as info:
        client.check_response_issuer("https://attacker.example/")
    assert info.value.reason == "iss_parameter_mismatch"


def test_iss_parameter_is_required_when_the_provider_supports_it(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.discovery["authorization_response_iss_parameter_supported"] = True
    client.check_response_issuer(ISSUER)
    with pytest.raises(SignInRejected) as info:
        client.check_response_issuer(None)
    assert info.value.reason == "iss_parameter_missing"


def test_authorization_url_carries_every_parameter(client: OidcClient) -> None:
    verifier, challenge = new_pkce_pair()
    url = client.authorization_url(
        redirect_uri=REDIRECT_URI,
        state="st-1",
        nonce=NONCE,
        code_challenge=challenge,
        prompt="login",
        max_age=300,
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == ISSUER + "authorize"
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": [CLIENT_ID],
        "redirect_uri": [REDIRECT_URI],
        "scope": ["openid email profile"],
        "state": ["st-1"],
        "nonce": [NONCE],
        "code_challenge": [challenge],
        "code_challenge_method": ["S256"],
        "prompt": ["login"],
        "max_age": ["300"],
    }
    assert len(verifier) >= 43
    assert challenge == b64url(hashlib.sha256(verifier.encode()).digest())


def test_authorization_url_omits_prompt_and_max_age_unless_asked(client: OidcClient) -> None:
    _, challenge = new_pkce_pair()
    query = parse_qs(
        urlsplit(
            client.authorization_url(
                redirect_uri=REDIRECT_URI, state="st-1", nonce=NONCE, code_challenge=challenge
            )
        ).query
    )
    assert "prompt" not in query and "max_age" not in query


def test_pkce_pairs_are_fresh(client: OidcClient) -> None:
    assert new_pkce_pair()[0] != new_pkce_pair()[0]


def test_end_session_url_when_the_provider_has_one(client: OidcClient) -> None:
    url = client.end_session_url(
        id_token_hint="eyJ.hint", post_logout_redirect_uri="https://vaultguard.example/"
    )
    assert url is not None
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == ISSUER + "oidc/logout"
    assert parse_qs(parts.query) == {
        "client_id": [CLIENT_ID],
        "post_logout_redirect_uri": ["https://vaultguard.example/"],
        "id_token_hint": ["eyJ.hint"],
    }


def test_end_session_url_is_none_without_an_endpoint(client: OidcClient, provider: FakeProvider) -> None:
    del provider.discovery["end_session_endpoint"]
    assert (
        client.end_session_url(id_token_hint=None, post_logout_redirect_uri="https://vaultguard.example/")
        is None
    )


# -- the token endpoint ------------------------------------------------------------------------


def sign_in(client: OidcClient) -> IdentityClaims:
    verifier, _ = new_pkce_pair()
    return client.sign_in(code="code-1", redirect_uri=REDIRECT_URI, code_verifier=verifier, nonce=NONCE)


def test_token_endpoint_400_is_a_rejected_sign_in(client: OidcClient, provider: FakeProvider) -> None:
    provider.token_answer = (
        400,
        b'{"error":"invalid_grant","error_description":"Invalid authorization code"}',
    )
    with pytest.raises(SignInRejected) as info:
        sign_in(client)
    assert info.value.reason == "token_endpoint_error: invalid_grant"
    assert not isinstance(info.value, ProviderUnavailable)


def test_token_endpoint_non_json_answer_is_rejected(client: OidcClient, provider: FakeProvider) -> None:
    provider.token_answer = (200, b"<html>Login</html>")
    with pytest.raises(SignInRejected) as info:
        sign_in(client)
    assert info.value.reason == "token_response_not_json"


def test_token_answer_without_id_token_is_rejected(client: OidcClient, provider: FakeProvider) -> None:
    provider.token_answer = (200, b'{"access_token":"opaque","token_type":"Bearer"}')
    with pytest.raises(SignInRejected) as info:
        sign_in(client)
    assert info.value.reason == "token_response_without_id_token"


def test_token_endpoint_5xx_means_the_provider_is_unavailable(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.token_answer = (503, b"upstream down")
    with pytest.raises(ProviderUnavailable) as info:
        sign_in(client)
    assert info.value.reason == "token_endpoint_http_503"


def test_unreachable_provider_is_unavailable(clock: Clock) -> None:
    class Down:
        def get(self, url: str) -> tuple[int, bytes]:
            raise TransportError("connection refused")

        def post_form(self, url: str, form: Mapping[str, str], basic_auth: Any) -> tuple[int, bytes]:
            raise TransportError("connection refused")

    config = ProviderConfig(issuer=ISSUER, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with pytest.raises(ProviderUnavailable) as info:
        OidcClient(config, transport=Down(), clock=clock).metadata()
    assert info.value.reason.startswith("discovery_unreachable")


def test_sign_in_checks_the_id_token_of_the_answer(client: OidcClient, provider: FakeProvider) -> None:
    body = {"token_type": "Bearer", "id_token": provider.id_token(nonce="another-login")}
    provider.token_answer = (200, json.dumps(body).encode())
    with pytest.raises(SignInRejected) as info:
        sign_in(client)
    assert info.value.reason == "nonce_mismatch"


# -- ID token validation: one defect each -------------------------------------------------------


def test_wrong_issuer(client: OidcClient, provider: FakeProvider) -> None:
    assert rejected(client, provider.id_token(iss="https://attacker.example/")) == "wrong_issuer"


def test_issuer_must_match_exactly(client: OidcClient, provider: FakeProvider) -> None:
    assert rejected(client, provider.id_token(iss=ISSUER.rstrip("/"))) == "wrong_issuer"


def test_wrong_audience(client: OidcClient, provider: FakeProvider) -> None:
    assert rejected(client, provider.id_token(aud="another-client")) == "wrong_audience"


def test_several_audiences_without_azp(client: OidcClient, provider: FakeProvider) -> None:
    assert rejected(client, provider.id_token(aud=[CLIENT_ID, "api"])) == "azp_missing"


def test_several_audiences_with_another_azp(client: OidcClient, provider: FakeProvider) -> None:
    token = provider.id_token(aud=[CLIENT_ID, "api"], azp="another-client")
    assert rejected(client, token) == "azp_mismatch"


def test_several_audiences_with_our_azp_are_accepted(client: OidcClient, provider: FakeProvider) -> None:
    token = provider.id_token(aud=[CLIENT_ID, "api"], azp=CLIENT_ID)
    assert client.validate_id_token(token, nonce=NONCE).subject


def test_alg_none(client: OidcClient, provider: FakeProvider) -> None:
    token = f"{b64json({'alg': 'none', 'kid': 'rsa-1'})}.{b64json(provider.claims())}."
    assert rejected(client, token) == "unsupported_alg"


def test_hs256_with_the_public_key_as_secret(client: OidcClient, provider: FakeProvider) -> None:
    pem = _RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rsa-1'})}.{b64json(provider.claims())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert rejected(client, f"{signing_input}.{b64url(signature)}") == "unsupported_alg"


def test_other_algorithms_are_refused(client: OidcClient, provider: FakeProvider) -> None:
    token = provider.id_token(alg="RS512")
    assert rejected(client, token) == "unsupported_alg"


def test_expired(client: OidcClient, provider: FakeProvider, clock: Clock) -> None:
    token = provider.id_token()
    clock.now += 600 + 61
    assert rejected(client, token) == "expired"


def test_expiry_allows_a_small_clock_skew(client: OidcClient, provider: FakeProvider, clock: Clock) -> None:
    token = provider.id_token()
    clock.now += 600 + 59
    assert client.validate_id_token(token, nonce=NONCE).subject


def test_missing_exp(client: OidcClient, provider: FakeProvider) -> None:
    assert rejected(client, provider.id_token(exp=None)) == "missing_exp_or_iat"


def test_iat_in_future(client: OidcClient, provider: FakeProvider) -> None:
    assert rejected(client, provider.id_token(iat=int(T0) + 120)) == "iat_in_future"


def test_foreign_key_with_a_known_kid(client: OidcClient, provider: FakeProvider) -> None:
    assert rejected(client, provider.id_token(key=_OTHER_RSA_KEY, kid="rsa-1")) == "bad_signature"


def test_rsa_kid_with_an_es256_token(client: OidcClient, provider: FakeProvider) -> None:
    token = provider.id_token(key=_EC_KEY, alg="ES256", kid="rsa-1")
    assert rejected(client, token) == "kid_not_for_this_alg"


def test_unknown_kid_refetches_at_most_once_a_minute(
    client: OidcClient, provider: FakeProvider, clock: Clock
) -> None:
    client.validate_id_token(provider.id_token(), nonce=NONCE)
    assert provider.jwks_fetches() == 1
    clock.now += 61

    assert rejected(client, provider.id_token(key=_OTHER_RSA_KEY, kid="forged-1")) == "unknown_kid"
    assert provider.jwks_fetches() == 2
    assert rejected(client, provider.id_token(key=_OTHER_RSA_KEY, kid="forged-2")) == "unknown_kid"
    assert provider.jwks_fetches() == 2


def test_rotated_key_is_found_by_a_refetch(client: OidcClient, provider: FakeProvider, clock: Clock) -> None:
    client.validate_id_token(provider.id_token(), nonce=NONCE)
    provider.jwks["keys"].append(public_jwk(_OTHER_RSA_KEY, "rsa-2"))
    clock.now += 61
    token = provider.id_token(key=_OTHER_RSA_KEY, kid="rsa-2")
    assert client.validate_id_token(token, nonce=NONCE).subject
    assert provider.jwks_fetches() == 2


def test_nonce_mismatch(client: OidcClient, provider: FakeProvider) -> None:
    assert rejected(client, provider.id_token(nonce="another-login")) == "nonce_mismatch"


def test_missing_nonce(client: OidcClient, provider: FakeProvider) -> None:
    assert rejected(client, provider.id_token(nonce=None)) == "nonce_mismatch"


def test_max_age_exceeded(client: OidcClient, provider: FakeProvider) -> None:
    token = provider.id_token(auth_time=int(T0) - 400)
    assert client.validate_id_token(token, nonce=NONCE, max_age=400).auth_time == int(T0) - 400
    assert rejected(client, token, max_age=300) == "auth_time_too_old"


def test_max_age_without_auth_time(client: OidcClient, provider: FakeProvider) -> None:
    token = provider.id_token(auth_time=None)
    assert client.validate_id_token(token, nonce=NONCE).auth_time is None
    assert rejected(client, token, max_age=300) == "auth_time_missing"


def test_empty_subject(client: OidcClient, provider: FakeProvider) -> None:
    assert rejected(client, provider.id_token(sub="")) == "invalid_sub"


def test_access_token_typ_is_not_an_id_token(client: OidcClient, provider: FakeProvider) -> None:
    token = jwt.encode(
        provider.claims(), _RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1", "typ": "at+jwt"}
    )
    assert rejected(client, token) == "wrong_typ"


def test_tampered_payload(client: OidcClient, provider: FakeProvider) -> None:
    header, _, signature = provider.id_token().split(".")
    forged = b64json(provider.claims(sub="google-oauth2|someone-else"))
    assert rejected(client, f"{header}.{forged}.{signature}") == "bad_signature"


# -- configuration and the default transport --------------------------------------------------


def test_config_requires_https_except_on_loopback() -> None:
    with pytest.raises(ValueError):
        ProviderConfig(issuer="http://idp.example/", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    ProviderConfig(issuer="http://127.0.0.1:8900", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


def test_config_never_shows_the_secret() -> None:
    config = ProviderConfig(issuer=ISSUER, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert CLIENT_SECRET not in repr(config)


def test_requests_transport_refuses_plain_http_to_other_hosts() -> None:
    with pytest.raises(TransportError):
        RequestsTransport().get("http://idp.example/.well-known/openid-configuration")


def test_basic_authorization_form_encodes_both_parts() -> None:
    header = basic_authorization("vg dashboard", CLIENT_SECRET)
    assert base64.b64decode(header.removeprefix("Basic ")) == b"vg+dashboard:s3cret%2Fwith%2Bchars%3D"


class CannedAdapter(requests.adapters.BaseAdapter):
    """Answers every request with one canned response, without a socket."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.status, self.body, self.headers = status, body, headers or {}
        self.sent: list[tuple[requests.PreparedRequest, dict[str, Any]]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append((request, kwargs))
        response = requests.Response()
        response.status_code = self.status
        response.raw = io.BytesIO(self.body)
        response.headers = CaseInsensitiveDict(self.headers)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def canned_transport(adapter: CannedAdapter, **kwargs: Any) -> RequestsTransport:
    session = requests.Session()
    session.mount("https://", adapter)
    return RequestsTransport(session=session, **kwargs)


def test_requests_transport_posts_the_form_with_basic_auth() -> None:
    adapter = CannedAdapter(200, b'{"id_token":"x"}')
    answer = canned_transport(adapter).post_form(ISSUER + "oauth/token", {"code": "c 1"}, (CLIENT_ID, "pw"))
    assert answer == (200, b'{"id_token":"x"}')
    request, kwargs = adapter.sent[0]
    assert request.body == "code=c+1"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"vg-dashboard:pw").decode()
    assert kwargs["timeout"] == (3.05, 10.0)


def test_requests_transport_does_not_follow_redirects() -> None:
    adapter = CannedAdapter(302, b"", {"Location": "https://elsewhere.example/"})
    assert canned_transport(adapter).get(ISSUER + "x") == (302, b"")
    assert len(adapter.sent) == 1


def test_requests_transport_caps_the_body() -> None:
    adapter = CannedAdapter(200, b"x" * 2049)
    with pytest.raises(TransportError):
        canned_transport(adapter, max_bytes=2048).get(ISSUER + "x")
    assert canned_transport(CannedAdapter(200, b"x" * 2048), max_bytes=2048).get(ISSUER + "x")[0] == 200
