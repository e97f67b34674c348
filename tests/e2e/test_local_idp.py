"""The local identity provider (node-oidc-provider, `local-idp/`) over HTTP, as VaultGuard's
sign-in will use it: code flow with PKCE, the sign-in form, ID tokens checked against its
JWKS, refresh tokens, re-authentication, logout, and a restart that keeps its state."""

from __future__ import annotations

import base64
import hashlib
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import pytest
import requests

from chalicelib.local.idp import LocalIdentityProvider, LocalIdentityProviderError
from tests.e2e.conftest import free_port

CLIENT_ID = "vaultguard-local"
CLIENT_SECRET = "client-secret-" + secrets.token_urlsafe(16)
REDIRECT_URI = "http://127.0.0.1:9/auth/callback"  # never followed
POST_LOGOUT_URI = "http://127.0.0.1:9/"
APPROVER = {
    "email": "approver@natsupply.example",
    "password": "approver-" + secrets.token_urlsafe(12),
    "name": "Nadia Approver",
}
ADMIN = {
    "email": "admin@medicore.example",
    "password": "admin-" + secrets.token_urlsafe(12),
    "name": "Mo Admin",
    "email_verified": False,
    "sub": "medicore-admin-1",
}


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIdentityProvider]:
    provider = LocalIdentityProvider(
        tmp_path_factory.mktemp("idp") / "state",
        free_port(),
        clients=[
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "client_name": "VaultGuard",
                "redirect_uris": [REDIRECT_URI],
                "post_logout_redirect_uris": [POST_LOGOUT_URI],
            }
        ],
        users=[APPROVER, ADMIN],
    )
    provider.start()
    yield provider
    provider.stop()


# --- a person with a browser, reduced to what the pages offer ---------------------------------


@dataclass
class Form:
    action: str
    method: str
    inputs: dict[str, str] = field(default_factory=dict)
    buttons: list[str] = field(default_factory=list)


class Page(HTMLParser):
    """The forms, labels (by `for`) and alerts of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.labels: dict[str, str] = {}
        self.input_ids: dict[str, str] = {}  # id -> name
        self.alerts: list[str] = []
        self._form: Form | None = None
        self._text_into: tuple[str, str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
        elif tag == "input":
            if self._form is not None and "name" in a:
                self._form.inputs[a["name"]] = a.get("value", "")
            if "id" in a:
                self.input_ids[a["id"]] = a.get("name", "")
        elif tag == "label":
            self._text_into = ("label", a.get("for", ""))
        elif tag == "button" and self._form is not None:
            self._text_into = ("button", "")
        elif a.get("role") == "alert":
            self._text_into = ("alert", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        if tag in ("label", "button", "p"):
            self._text_into = None

    def handle_data(self, data: str) -> None:
        if self._text_into is None or not data.strip():
            return
        kind, target = self._text_into
        if kind == "label":
            self.labels[target] = data.strip()
        elif kind == "button" and self._form is not None:
            self._form.buttons.append(data.strip())
        elif kind == "alert":
            self.alerts.append(data.strip())

    def form_with_button(self, name: str) -> Form | None:
        return next((f for f in self.forms if name in f.buttons), None)

    def field_labelled(self, label: str) -> str | None:
        """The name of the input whose <label for> reads `label`."""
        input_id = next((i for i, text in self.labels.items() if text == label), None)
        return self.input_ids.get(input_id or "")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Login:
    verifier: str
    state: str
    nonce: str
    url: str


def start_login(idp: LocalIdentityProvider, **extra: str) -> Login:
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    params = {k: v for k, v in params.items() if v != ""}
    url = requests.Request("GET", f"{idp.issuer}/auth", params=params).prepare().url
    assert url is not None
    return Login(verifier, state, nonce, url)


def browse(session: requests.Session, response: requests.Response) -> requests.Response:
    """Follow redirects on the IdP; stop at a page or at the redirect to the client."""
    while response.is_redirect:
        location = urljoin(response.url, response.headers["Location"])
        here = urlsplit(response.url)
        if not location.startswith(f"{here.scheme}://{here.netloc}/"):
            return response  # leaving the IdP: the client's redirect_uri, not followed
        response = session.get(location, allow_redirects=False, timeout=10)
    return response


def submit(
    session: requests.Session, response: requests.Response, form: Form, **values: str
) -> requests.Response:
    assert form.method == "post"
    posted = session.post(
        urljoin(response.url, form.action), data={**form.inputs, **values}, allow_redirects=False, timeout=10
    )
    return browse(session, posted)


def sign_in_form(page: requests.Response) -> tuple[Page, Form]:
    parsed = Page(page.text)
    form = parsed.form_with_button("Sign in")
    assert page.status_code == 200 and form is not None, page.text[:500]
    return parsed, form


def fill_in(
    session: requests.Session, page: requests.Response, email: str, password: str
) -> requests.Response:
    parsed, form = sign_in_form(page)
    email_field, password_field = parsed.field_labelled("Email"), parsed.field_labelled("Password")
    assert email_field and password_field, "the form's inputs are labelled Email and Password"
    response = submit(session, page, form, **{email_field: email, password_field: password})
    consent = Page(response.text).form_with_button("Continue") if response.status_code == 200 else None
    if consent is not None:
        response = submit(session, response, consent)
    return response


def callback_params(response: requests.Response) -> dict[str, str]:
    assert response.is_redirect, f"expected a redirect to the client, got {response.status_code}"
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in(
    idp: LocalIdentityProvider, session: requests.Session, person: dict[str, Any], **extra: str
) -> tuple[Login, dict[str, str]]:
    login = start_login(idp, **extra)
    page = browse(session, session.get(login.url, allow_redirects=False, timeout=10))
    return login, callback_params(fill_in(session, page, person["email"], person["password"]))


def token_request(idp: LocalIdentityProvider, **data: str) -> requests.Response:
    return requests.post(f"{idp.issuer}/token", data=data, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)


def exchange(idp: LocalIdentityProvider, login: Login, params: dict[str, str]) -> dict[str, Any]:
    response = token_request(
        idp,
        grant_type="authorization_code",
        code=params["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=login.verifier,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def verify_id_token(idp: LocalIdentityProvider, id_token: str, nonce: str) -> dict[str, Any]:
    jwks_uri = requests.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=10).json()["jwks_uri"]
    key = jwt.PyJWKClient(jwks_uri, cache_keys=False).get_signing_key_from_jwt(id_token)
    claims: dict[str, Any] = jwt.decode(
        id_token, key.key, algorithms=["RS256"], audience=CLIENT_ID, issuer=idp.issuer
    )
    assert jwt.get_unverified_header(id_token)["alg"] == "RS256"
    assert claims["nonce"] == nonce
    return claims


# --- behaviour ---------------------------------------------------------------------------------


def test_sign_in_with_code_and_pkce_yields_an_id_token_that_verifies(idp: LocalIdentityProvider) -> None:
    session = requests.Session()
    login, params = sign_in(idp, session, APPROVER)
    assert params["state"] == login.state
    assert params["iss"] == idp.issuer  # RFC 9207
    tokens = exchange(idp, login, params)
    claims = verify_id_token(idp, tokens["id_token"], login.nonce)
    assert claims["email"] == APPROVER["email"]
    assert claims["email_verified"] is True
    assert claims["name"] == APPROVER["name"]
    assert claims["sub"] and isinstance(claims["auth_time"], int)
    assert tokens["token_type"].lower() == "bearer" and tokens["access_token"]

    # The code is single use.
    again = token_request(
        idp,
        grant_type="authorization_code",
        code=params["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=login.verifier,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_configured_sub_and_email_verified_false_reach_the_id_token(idp: LocalIdentityProvider) -> None:
    login, params = sign_in(idp, requests.Session(), ADMIN)
    claims = verify_id_token(idp, exchange(idp, login, params)["id_token"], login.nonce)
    assert (claims["sub"], claims["email_verified"]) == ("medicore-admin-1", False)


def test_wrong_password_shows_the_form_again_with_an_error_and_no_code(idp: LocalIdentityProvider) -> None:
    session = requests.Session()
    login = start_login(idp)
    page = browse(session, session.get(login.url, allow_redirects=False, timeout=10))
    for email, password in (
        (APPROVER["email"], "not-the-password"),
        ("nobody@example.com", APPROVER["password"]),
    ):
        response = fill_in(session, page, email, password)
        assert not response.is_redirect
        parsed, _ = sign_in_form(response)
        assert parsed.alerts == ["Wrong email or password."]
        assert "code=" not in response.text and password not in response.text
    # The same form still signs the right person in.
    assert "code" in callback_params(fill_in(session, page, APPROVER["email"], APPROVER["password"]))


@pytest.mark.parametrize(
    "pkce", [{"code_challenge": "", "code_challenge_method": ""}, {"code_challenge_method": "plain"}]
)
def test_authorization_without_pkce_s256_is_refused(idp: LocalIdentityProvider, pkce: dict[str, str]) -> None:
    session = requests.Session()
    login = start_login(idp, **pkce)
    response = session.get(login.url, allow_redirects=False, timeout=10)
    params = callback_params(response)
    assert params["error"] == "invalid_request" and "code" not in params


def test_code_exchange_needs_the_matching_verifier(idp: LocalIdentityProvider) -> None:
    login, params = sign_in(idp, requests.Session(), APPROVER)
    wrong = token_request(
        idp,
        grant_type="authorization_code",
        code=params["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=pkce_pair()[0],
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    bad_secret = requests.post(
        f"{idp.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": login.verifier,
        },
        auth=(CLIENT_ID, "wrong-secret"),
        timeout=10,
    )
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"


def test_refresh_token_gives_new_tokens(idp: LocalIdentityProvider) -> None:
    login, params = sign_in(idp, requests.Session(), APPROVER)
    tokens = exchange(idp, login, params)
    refreshed = token_request(idp, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["access_token"] != tokens["access_token"]
    assert jwt.decode(body["id_token"], options={"verify_signature": False})["email"] == APPROVER["email"]
    unknown = token_request(idp, grant_type="refresh_token", refresh_token=secrets.token_urlsafe(32))
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_grant"


def test_discovery_document(idp: LocalIdentityProvider) -> None:
    doc = requests.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert doc["issuer"] == idp.issuer
    assert doc["end_session_endpoint"].startswith(idp.issuer)
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert "refresh_token" in doc["grant_types_supported"]


def test_a_signed_in_person_is_not_asked_again_unless_prompt_login_or_max_age(
    idp: LocalIdentityProvider,
) -> None:
    session = requests.Session()
    sign_in(idp, session, APPROVER)
    silent = start_login(idp)
    assert "code" in callback_params(session.get(silent.url, allow_redirects=False, timeout=10))

    for extra in ({"prompt": "login"}, {"max_age": "0"}):
        login = start_login(idp, **extra)
        page = browse(session, session.get(login.url, allow_redirects=False, timeout=10))
        sign_in_form(page)  # the form again, despite the IdP session
        params = callback_params(fill_in(session, page, APPROVER["email"], APPROVER["password"]))
        claims = verify_id_token(idp, exchange(idp, login, params)["id_token"], login.nonce)
        assert claims["email"] == APPROVER["email"] and "auth_time" in claims


def test_logout_at_the_end_session_endpoint_ends_the_idp_session(idp: LocalIdentityProvider) -> None:
    session = requests.Session()
    login, params = sign_in(idp, session, APPROVER)
    id_token = exchange(idp, login, params)["id_token"]
    end_session = requests.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=10).json()[
        "end_session_endpoint"
    ]
    page = session.get(
        end_session,
        params={"id_token_hint": id_token, "post_logout_redirect_uri": POST_LOGOUT_URI, "state": "bye"},
        allow_redirects=False,
        timeout=10,
    )
    form = Page(page.text).form_with_button("Sign out")
    assert form is not None, page.text[:500]
    out = session.post(
        urljoin(page.url, form.action),
        data={**form.inputs, "logout": "yes"},
        allow_redirects=False,
        timeout=10,
    )
    assert out.is_redirect and out.headers["Location"].startswith(POST_LOGOUT_URI), out.text[:300]

    again = browse(session, session.get(start_login(idp).url, allow_redirects=False, timeout=10))
    sign_in_form(again)  # signed out: the form, not a code


def test_state_is_owner_only_and_the_log_holds_no_secret(idp: LocalIdentityProvider) -> None:
    sign_in(idp, requests.Session(), APPROVER)
    paths = [idp.idp_dir, *idp.idp_dir.rglob("*")]
    assert len(paths) > 5
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path} is {oct(mode)}"
    log = idp.log_path.read_text()
    assert "listening on" in log
    for secret in (CLIENT_SECRET, APPROVER["password"], ADMIN["password"]):
        assert secret not in log


def test_restart_keeps_signing_key_subjects_sessions_and_refresh_tokens(idp: LocalIdentityProvider) -> None:
    session = requests.Session()
    login, params = sign_in(idp, session, APPROVER)
    tokens = exchange(idp, login, params)
    before = verify_id_token(idp, tokens["id_token"], login.nonce)
    kid = jwt.get_unverified_header(tokens["id_token"])["kid"]

    idp.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{idp.issuer}/jwks", timeout=2)
    idp.start()

    assert [k["kid"] for k in requests.get(f"{idp.issuer}/jwks", timeout=10).json()["keys"]] == [kid]
    verify_id_token(idp, tokens["id_token"], login.nonce)  # tokens from before still verify
    refreshed = token_request(idp, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    # The IdP session survived: no form, and the same person.
    silent = start_login(idp)
    params = callback_params(session.get(silent.url, allow_redirects=False, timeout=10))
    after = verify_id_token(idp, exchange(idp, silent, params)["id_token"], silent.nonce)
    assert after["sub"] == before["sub"]
    # A fresh browser signing in again gets the same sub too.
    login2, params2 = sign_in(idp, requests.Session(), APPROVER)
    assert (
        verify_id_token(idp, exchange(idp, login2, params2)["id_token"], login2.nonce)["sub"] == before["sub"]
    )


def test_start_fails_clearly_without_node(tmp_path: Path) -> None:
    provider = LocalIdentityProvider(tmp_path, free_port(), [], [], node="no-such-node-binary")
    with pytest.raises(LocalIdentityProviderError, match="Node.js"):
        provider.start()


def test_start_fails_with_the_log_tail_when_the_server_dies(
    idp: LocalIdentityProvider, tmp_path: Path
) -> None:
    taken = LocalIdentityProvider(tmp_path, idp.port, [], [{"email": "x@example.com", "password": "pw"}])
    with pytest.raises(LocalIdentityProviderError, match="cannot listen"):
        taken.start()
    # The running provider is untouched.
    assert requests.get(f"{idp.issuer}/jwks", timeout=10).status_code == 200
