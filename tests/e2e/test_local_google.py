"""local-google: the local identity provider's second face, the stand-in for Google that the
token vault is tested against (`local-idp/google.mjs`, under /google of the same server), over
HTTP as the vault will use it: connect with code + PKCE and consent, refresh (down-scoped,
with and without rotation), revocation, introspection, and its calendar API."""

from __future__ import annotations

import secrets
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from chalicelib.local.idp import LocalIdentityProvider
from tests.e2e.conftest import free_port
from tests.e2e.test_local_idp import Page, browse, pkce_pair, sign_in_form, submit

VAULT_CALLBACK = "http://127.0.0.1:9/vault/callback"  # never followed
CLIENT_ID = "vaultguard-vault-local"
PERSON = {
    "email": "admin@medicore.example",
    "password": "admin-" + secrets.token_urlsafe(12),
    "name": "Marc Admin",
    "sub": "local|medicore_admin",
}
OTHER = {"email": "admin@natsupply.example", "password": "other-" + secrets.token_urlsafe(12)}
CONNECT_SCOPES = "openid email offline_access calendar.readonly gmail.readonly"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIdentityProvider]:
    provider = LocalIdentityProvider(
        tmp_path_factory.mktemp("google") / "state",
        free_port(),
        clients=[],
        users=[PERSON, OTHER],
        vault_redirect_uri=VAULT_CALLBACK,
    )
    provider.start()
    yield provider
    provider.stop()


@contextmanager
def reconfigured(idp: LocalIdentityProvider, **settings: Any) -> Iterator[None]:
    """The same provider (same state) restarted with other settings, then restored."""
    before = {name: getattr(idp, name) for name in settings}
    idp.stop()
    for name, value in settings.items():
        setattr(idp, name, value)
    idp.start()
    try:
        yield
    finally:
        idp.stop()
        for name, value in before.items():
            setattr(idp, name, value)
        idp.start()


# --- the vault's side of the protocol ----------------------------------------------------------


def client_auth(idp: LocalIdentityProvider) -> tuple[str, str]:
    client = idp.google_client()
    assert client is not None
    return client["client_id"], client["client_secret"]


def discovery(idp: LocalIdentityProvider) -> dict[str, Any]:
    response = requests.get(f"{idp.google_issuer}/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    return dict(response.json())


@dataclass
class Connect:
    verifier: str
    state: str
    nonce: str
    url: str


def start_connect(idp: LocalIdentityProvider, **extra: str) -> Connect:
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": VAULT_CALLBACK,
        "scope": CONNECT_SCOPES,
        "prompt": "consent",
        "access_type": "offline",  # Google's parameter: accepted, offline_access decides
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    params = {k: v for k, v in params.items() if v != ""}
    url = requests.Request("GET", discovery(idp)["authorization_endpoint"], params=params).prepare().url
    assert url is not None
    return Connect(verifier, state, nonce, url)


def to_the_vault(response: requests.Response) -> dict[str, str]:
    assert response.is_redirect, f"expected a redirect to the vault, got {response.status_code}"
    location = response.headers["Location"]
    assert location.startswith(VAULT_CALLBACK + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def consent_to(
    idp: LocalIdentityProvider, browser: requests.Session, person: dict[str, str], **extra: str
) -> tuple[Connect, dict[str, str], list[str]]:
    """A person connects their account: signs in (unless already), consents; what the vault's
    callback receives, and the consent page's text (empty if none was shown)."""
    connect = start_connect(idp, **extra)
    page = browse(browser, browser.get(connect.url, allow_redirects=False, timeout=10))
    if page.status_code == 200 and Page(page.text).form_with_button("Sign in"):
        parsed, form = sign_in_form(page)
        email_field, password_field = parsed.field_labelled("Email"), parsed.field_labelled("Password")
        assert email_field and password_field
        page = submit(
            browser, page, form, **{email_field: person["email"], password_field: person["password"]}
        )
    consent_text: list[str] = []
    if page.status_code == 200:
        consent = Page(page.text).form_with_button("Continue")
        assert consent is not None, page.text[:500]
        consent_text = [page.text]
        page = submit(browser, page, consent)
    return connect, to_the_vault(page), consent_text


def token(idp: LocalIdentityProvider, **data: str) -> requests.Response:
    return requests.post(discovery(idp)["token_endpoint"], data=data, auth=client_auth(idp), timeout=10)


def redeem(idp: LocalIdentityProvider, connect: Connect, params: dict[str, str]) -> dict[str, Any]:
    response = token(
        idp,
        grant_type="authorization_code",
        code=params["code"],
        redirect_uri=VAULT_CALLBACK,
        code_verifier=connect.verifier,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def connected(idp: LocalIdentityProvider, person: dict[str, str] = PERSON) -> dict[str, Any]:
    connect, params, _ = consent_to(idp, requests.Session(), person)
    return redeem(idp, connect, params)


def refresh(idp: LocalIdentityProvider, refresh_token: str, **extra: str) -> requests.Response:
    return token(idp, grant_type="refresh_token", refresh_token=refresh_token, **extra)


def revoke(idp: LocalIdentityProvider, value: str, hint: str = "refresh_token") -> None:
    response = requests.post(
        discovery(idp)["revocation_endpoint"],
        data={"token": value, "token_type_hint": hint},
        auth=client_auth(idp),
        timeout=10,
    )
    assert response.status_code == 200, response.text


def introspect(idp: LocalIdentityProvider, value: str) -> dict[str, Any]:
    response = requests.post(
        discovery(idp)["introspection_endpoint"], data={"token": value}, auth=client_auth(idp), timeout=10
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def calendar(idp: LocalIdentityProvider, access_token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
    return requests.get(
        f"{idp.google_issuer}/calendar/v3/calendars/primary/events", headers=headers, timeout=10
    )


# --- behaviour ---------------------------------------------------------------------------------


def test_discovery_names_its_own_issuer_endpoints_and_scopes(idp: LocalIdentityProvider) -> None:
    doc = discovery(idp)
    assert doc["issuer"] == idp.google_issuer == f"{idp.issuer}/google"
    for endpoint in (
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ):
        assert doc[endpoint].startswith(f"{idp.google_issuer}/"), endpoint
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert {"openid", "email", "offline_access", "calendar.readonly", "gmail.readonly"} <= set(
        doc["scopes_supported"]
    )
    assert doc["token_endpoint_auth_methods_supported"][0] == "client_secret_basic"
    # Its own signing key, not the local IdP's.
    root = requests.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert root["issuer"] == idp.issuer
    kids = {k["kid"] for k in requests.get(doc["jwks_uri"], timeout=10).json()["keys"]}
    root_kids = {k["kid"] for k in requests.get(root["jwks_uri"], timeout=10).json()["keys"]}
    assert kids and not kids & root_kids


def test_connect_with_consent_yields_a_refresh_token_and_a_verifiable_id_token(
    idp: LocalIdentityProvider,
) -> None:
    connect, params, consent = consent_to(idp, requests.Session(), PERSON)
    assert params["state"] == connect.state
    assert params["iss"] == idp.google_issuer  # RFC 9207: not the local IdP's issuer
    assert consent and "calendar.readonly" in consent[0] and "gmail.readonly" in consent[0]
    tokens = redeem(idp, connect, params)
    assert tokens["refresh_token"] and tokens["access_token"] and tokens["token_type"] == "Bearer"
    assert set(tokens["scope"].split()) == set(CONNECT_SCOPES.split())
    assert 3500 <= tokens["expires_in"] <= 3600  # Google's hour by default

    key = jwt.PyJWKClient(discovery(idp)["jwks_uri"], cache_keys=False).get_signing_key_from_jwt(
        tokens["id_token"]
    )
    claims = jwt.decode(
        tokens["id_token"], key.key, algorithms=["RS256"], audience=CLIENT_ID, issuer=idp.google_issuer
    )
    assert (claims["sub"], claims["email"], claims["nonce"]) == (
        PERSON["sub"],
        PERSON["email"],
        connect.nonce,
    )

    access = introspect(idp, tokens["access_token"])
    assert access["active"] is True and access["sub"] == PERSON["sub"] and access["client_id"] == CLIENT_ID
    assert set(access["scope"].split()) == {"calendar.readonly", "gmail.readonly"}


def test_without_prompt_consent_there_is_no_refresh_token(idp: LocalIdentityProvider) -> None:
    browser = requests.Session()
    consent_to(idp, browser, PERSON)  # signed in at local-google, consented once
    connect, params, consent = consent_to(idp, browser, PERSON, prompt="")
    assert consent == []  # already granted: straight back to the vault
    tokens = redeem(idp, connect, params)
    assert tokens["access_token"] and "refresh_token" not in tokens
    assert "offline_access" not in tokens["scope"].split()


def test_the_same_form_refuses_a_wrong_password(idp: LocalIdentityProvider) -> None:
    browser = requests.Session()
    page = browse(browser, browser.get(start_connect(idp).url, allow_redirects=False, timeout=10))
    parsed, form = sign_in_form(page)
    assert form.action.startswith("/google/interaction/")
    assert "standing in for Google" in page.text
    email_field, password_field = parsed.field_labelled("Email"), parsed.field_labelled("Password")
    assert email_field and password_field
    again = submit(browser, page, form, **{email_field: PERSON["email"], password_field: "wrong"})
    assert not again.is_redirect and Page(again.text).alerts == ["Wrong email or password."]


@pytest.mark.parametrize(
    "change",
    [
        {"code_challenge": "", "code_challenge_method": ""},
        {"code_challenge_method": "plain"},
        {"redirect_uri": "http://127.0.0.1:9/elsewhere"},
    ],
)
def test_connect_without_pkce_s256_or_with_another_redirect_uri_is_refused(
    idp: LocalIdentityProvider, change: dict[str, str]
) -> None:
    response = requests.get(start_connect(idp, **change).url, allow_redirects=False, timeout=10)
    if "redirect_uri" in change:  # never sent to an unregistered address
        assert response.status_code == 400 and "redirect_uri" in response.text
    else:
        params = to_the_vault(response)
        assert params["error"] == "invalid_request" and "code" not in params


def test_refresh_keeps_the_refresh_token_and_can_narrow_the_scopes(idp: LocalIdentityProvider) -> None:
    tokens = connected(idp)
    first = refresh(idp, tokens["refresh_token"])
    assert first.status_code == 200, first.text
    assert (
        first.json().get("refresh_token", tokens["refresh_token"]) == tokens["refresh_token"]
    )  # no rotation
    assert set(first.json()["scope"].split()) == set(CONNECT_SCOPES.split())

    narrow = refresh(idp, tokens["refresh_token"], scope="calendar.readonly")
    assert narrow.status_code == 200, narrow.text
    assert narrow.json()["scope"] == "calendar.readonly"
    assert introspect(idp, narrow.json()["access_token"])["scope"] == "calendar.readonly"
    assert calendar(idp, narrow.json()["access_token"]).status_code == 200

    gmail_only = refresh(idp, tokens["refresh_token"], scope="gmail.readonly")
    assert gmail_only.status_code == 200 and gmail_only.json()["scope"] == "gmail.readonly"
    refused = calendar(idp, gmail_only.json()["access_token"])
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]

    wider = refresh(idp, tokens["refresh_token"], scope="calendar.readonly drive.readonly")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    # The refresh token still works for everything granted.
    assert refresh(idp, tokens["refresh_token"]).status_code == 200


def test_with_rotation_each_refresh_token_works_once_and_reuse_ends_the_grant(
    idp: LocalIdentityProvider,
) -> None:
    with reconfigured(idp, google_rotate_refresh_tokens=True):
        tokens = connected(idp)
        rotated = refresh(idp, tokens["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        new_refresh = rotated.json()["refresh_token"]
        assert new_refresh != tokens["refresh_token"]
        again = refresh(idp, new_refresh, scope="calendar.readonly")
        assert again.status_code == 200 and again.json()["scope"] == "calendar.readonly"
        newest = again.json()["refresh_token"]

        # Presenting a spent refresh token is taken as theft: the whole grant ends.
        reused = refresh(idp, tokens["refresh_token"])
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        assert refresh(idp, newest).json()["error"] == "invalid_grant"


def test_revoking_the_refresh_token_ends_the_grant(idp: LocalIdentityProvider) -> None:
    tokens = connected(idp)
    assert calendar(idp, tokens["access_token"]).status_code == 200
    revoke(idp, tokens["refresh_token"])
    after = refresh(idp, tokens["refresh_token"])
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
    assert calendar(idp, tokens["access_token"]).status_code == 401  # its access tokens too
    assert introspect(idp, tokens["access_token"]) == {"active": False}
    revoke(idp, tokens["refresh_token"])  # revoking again is not an error (RFC 7009)


def test_revoking_an_access_token_ends_the_grant_as_at_google(idp: LocalIdentityProvider) -> None:
    tokens = connected(idp)
    revoke(idp, tokens["access_token"], hint="access_token")
    assert refresh(idp, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_one_authorization_per_person_revoking_an_older_refresh_token_ends_a_newer_one(
    idp: LocalIdentityProvider,
) -> None:
    """As at Google (one authorization per user and project): connecting again, even from
    another browser, adds to the same grant, so revoking the first refresh token ends both."""
    first, second = connected(idp, OTHER), connected(idp, OTHER)
    assert first["refresh_token"] != second["refresh_token"]
    assert refresh(idp, second["refresh_token"]).status_code == 200
    revoke(idp, first["refresh_token"])
    assert refresh(idp, second["refresh_token"]).json()["error"] == "invalid_grant"
    # After that, connecting again starts a new grant that works.
    third = connected(idp, OTHER)
    assert refresh(idp, third["refresh_token"]).status_code == 200


def test_calendar_lists_the_persons_events_for_a_calendar_token(idp: LocalIdentityProvider) -> None:
    tokens = connected(idp)
    response = calendar(idp, tokens["access_token"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["summary"] == PERSON["email"]
    items = body["items"]
    assert len(items) == 3 and len({item["id"] for item in items}) == 3
    for item in items:
        assert item["summary"] and item["start"]["dateTime"] < item["end"]["dateTime"]
    # The same events on every read (deterministic), and another person's differ.
    assert (
        calendar(idp, refresh(idp, tokens["refresh_token"]).json()["access_token"]).json()["items"] == items
    )
    others = calendar(idp, connected(idp, OTHER)["access_token"]).json()
    assert others["summary"] == OTHER["email"] and {i["id"] for i in others["items"]}.isdisjoint(
        {i["id"] for i in items}
    )


def test_calendar_refuses_missing_unknown_and_expired_tokens(idp: LocalIdentityProvider) -> None:
    missing = calendar(idp, None)
    assert missing.status_code == 401 and "error=" not in missing.headers["WWW-Authenticate"]
    unknown = calendar(idp, secrets.token_urlsafe(32))
    assert unknown.status_code == 401
    assert 'error="invalid_token"' in unknown.headers["WWW-Authenticate"]

    ttl = 2
    with reconfigured(idp, google_access_token_ttl=ttl):
        tokens = connected(idp)
        assert tokens["expires_in"] <= ttl
        assert calendar(idp, tokens["access_token"]).status_code == 200
        time.sleep(ttl + 1)
        expired = calendar(idp, tokens["access_token"])
        assert expired.status_code == 401
        assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
        # The refresh token outlives it: a fresh access token works.
        fresh = refresh(idp, tokens["refresh_token"]).json()["access_token"]
        assert calendar(idp, fresh).status_code == 200


def test_the_vault_client_secret_is_kept_owner_only_and_never_logged(idp: LocalIdentityProvider) -> None:
    client_id, secret = client_auth(idp)
    assert client_id == CLIENT_ID and len(secret) >= 40
    providers = idp.vault_providers()
    assert providers == {
        "local-google": {
            "issuer": idp.google_issuer,
            "client_id": CLIENT_ID,
            "client_secret": secret,
            "redirect_uri": VAULT_CALLBACK,
        }
    }
    google_dir = idp.idp_dir / "google"
    for path in [google_dir, *google_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path} is {oct(mode)}"
    # Never in the log, which counts the tokens issued (so tests can count refreshes).
    tokens = connected(idp)
    assert refresh(idp, tokens["refresh_token"]).status_code == 200
    log = idp.log_path.read_text()
    assert "local-google on" in log and "token issued (refresh_token)" in log
    for value in (secret, PERSON["password"], tokens["refresh_token"], tokens["access_token"]):
        assert value not in log
    # Kept across restarts (the vault stored it).
    with reconfigured(idp):
        assert client_auth(idp) == (client_id, secret)
