"""People sign in through the identity provider (OIDC code flow + PKCE, backend-for-frontend)
and act through their session cookie, with the CSRF header on every write."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from chalicelib.auth.session import LOGIN_COOKIE as LOGIN
from chalicelib.auth.session import SESSION_COOKIE as SESSION
from chalicelib.store.models import InvitationModel, SessionModel
from tests.functional import fake_idp
from tests.functional.conftest import Reply, Stack, Tenant
from tests.functional.fake_idp import FakeIdp, Person
from tests.functional.people import Browser, body_text, header, invite


def _raw_cookies(reply: Reply) -> list[str]:
    raw = header(reply, "set-cookie") or []
    return raw if isinstance(raw, list) else [raw]


ANA = Person(sub="idp|ana", email="Ana@NatSupply.example", name="Ana Approver")


def test_an_invited_person_signs_in_and_the_session_names_them(people: Stack, idp: FakeIdp) -> None:
    nat = people.tenant("NatSupply")
    code = invite(people, nat.admin_token, "ana@natsupply.example", "approver")
    browser = Browser(people, idp)
    reply = browser.sign_in(ANA, invitation=code, return_to="/dashboard/queue")
    assert reply.status == 302, reply.body
    assert header(reply, "location") == "http://vaultguard.test/dashboard/queue"
    session = browser.get("/auth/session")
    assert session.status == 200, session.body
    assert session.body["email"] == "ana@natsupply.example"
    assert session.body["role"] == "approver"
    assert session.body["tenant_id"] == nat.tenant_id
    assert session.body["tenant_name"] == "NatSupply"


# -- helpers -----------------------------------------------------------------------------------


def _signed_in(people: Stack, idp: FakeIdp, tenant: Tenant, email: str, role: str, sub: str) -> Browser:
    code = invite(people, tenant.admin_token, email, role)
    browser = Browser(people, idp)
    reply = browser.sign_in(Person(sub=sub, email=email), invitation=code)
    assert reply.status == 302, reply.body
    assert browser.csrf
    return browser


def _no_session(browser: Browser) -> None:
    assert SESSION not in browser.cookies or not browser.cookies[SESSION]
    assert browser.get("/auth/session").status == 401


def _session_item(people: Stack, browser: Browser) -> SessionModel:
    from chalicelib.auth.scope import people_partition
    from chalicelib.domain import ids
    from chalicelib.store.keys import session_key

    secret = browser.cookies[SESSION]
    owner = ids.session_owner(secret)
    assert owner is not None
    key = session_key(people_partition(owner[0]), people.container.secret_hasher.fingerprint(secret))
    return SessionModel.get(key.pk, key.sk, consistent_read=True)


# -- the callback's checks ---------------------------------------------------------------------


def test_a_callback_replayed_or_from_another_browser_starts_no_session(people: Stack, idp: FakeIdp) -> None:
    nat = people.tenant("NatSupply")
    code = invite(people, nat.admin_token, "ana@natsupply.example", "approver")
    browser = Browser(people, idp)
    _, authorize_url = browser.start(invitation=code)
    idp_code = idp.authorize(authorize_url, ANA)
    callback_url_cookie = dict(browser.cookies)

    # Another browser (no pre-login cookie, or its own) presenting this state: refused.
    thief = Browser(people, idp)
    assert thief.callback(authorize_url, idp_code).status == 400
    thief.start()
    assert thief.callback(authorize_url, idp_code).status == 400
    _no_session(thief)

    assert browser.callback(authorize_url, idp_code).status == 302
    # The same callback again (same cookie, state and a fresh code): the sign-in was consumed.
    replay = Browser(people, idp)
    replay.cookies = callback_url_cookie
    again = replay.callback(authorize_url, idp.authorize(authorize_url, ANA))
    assert again.status == 400
    assert "already used" in body_text(again)


def test_a_foreign_state_is_refused(people: Stack, idp: FakeIdp) -> None:
    people.tenant("NatSupply")
    browser = Browser(people, idp)
    _, authorize_url = browser.start()
    reply = browser.callback(authorize_url, idp.authorize(authorize_url, ANA), state="x" * 43)
    assert reply.status == 400
    _no_session(browser)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"nonce": "another-nonce"}, "nonce mismatch"),
        ({"iss": "https://evil.example/"}, "wrong issuer"),
        ({"aud": "someone-else"}, "wrong audience"),
        ({"exp": 1_000_000_000}, "expired"),
    ],
)
def test_an_id_token_that_fails_a_check_starts_no_session(
    people: Stack, idp: FakeIdp, change: dict[str, Any], why: str
) -> None:
    nat = people.tenant("NatSupply")
    code = invite(people, nat.admin_token, "ana@natsupply.example", "approver")
    idp.token_overrides = change
    browser = Browser(people, idp)
    reply = browser.sign_in(ANA, invitation=code)
    assert reply.status == 400, why
    assert "could not be verified" in body_text(reply)
    _no_session(browser)


@pytest.mark.parametrize("attack", ["alg_none", "hs256_with_public_key", "foreign_key"])
def test_a_forged_id_token_starts_no_session(people: Stack, idp: FakeIdp, attack: str) -> None:
    from cryptography.hazmat.primitives import serialization

    from tests.functional.fake_idp import OTHER_KEY

    nat = people.tenant("NatSupply")
    code = invite(people, nat.admin_token, "ana@natsupply.example", "approver")
    if attack == "alg_none":
        idp.algorithm, idp.sign_with = "none", None
    elif attack == "hs256_with_public_key":
        public_pem = OTHER_KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        idp.algorithm, idp.sign_with = "HS256", public_pem.decode()
    else:
        idp.sign_with = OTHER_KEY
    browser = Browser(people, idp)
    reply = browser.sign_in(ANA, invitation=code)
    assert reply.status == 400
    _no_session(browser)


def test_an_iss_parameter_of_another_issuer_is_refused(people: Stack, idp: FakeIdp) -> None:
    nat = people.tenant("NatSupply")
    code = invite(people, nat.admin_token, "ana@natsupply.example", "approver")
    browser = Browser(people, idp)
    _, authorize_url = browser.start(invitation=code)
    reply = browser.callback(authorize_url, idp.authorize(authorize_url, ANA), iss="https://evil.example/")
    assert reply.status == 400
    _no_session(browser)


def test_a_person_without_an_invitation_gets_a_clear_page_and_no_session(people: Stack, idp: FakeIdp) -> None:
    people.tenant("NatSupply")
    browser = Browser(people, idp)
    reply = browser.sign_in(Person(sub="idp|stranger", email="stranger@example.com"))
    assert reply.status == 403
    assert "invitation" in body_text(reply)
    assert "text/html" in str(header(reply, "content-type"))
    _no_session(browser)


def test_an_invitation_works_once_for_its_own_verified_email(people: Stack, idp: FakeIdp) -> None:
    nat = people.tenant("NatSupply")
    code = invite(people, nat.admin_token, "ana@natsupply.example", "approver")

    other = Browser(people, idp)  # someone else's email with Ana's link
    assert other.sign_in(Person(sub="idp|eve", email="eve@example.com"), invitation=code).status == 400
    unverified = Browser(people, idp)
    person = Person(sub="idp|ana", email="ana@natsupply.example", email_verified=False)
    reply = unverified.sign_in(person, invitation=code)
    assert reply.status == 400
    assert "verified" in body_text(reply)

    assert Browser(people, idp).sign_in(ANA, invitation=code).status == 302
    # Used: nobody else can join with it.
    reused = Browser(people, idp).sign_in(
        Person(sub="idp|bob", email="ana@natsupply.example"), invitation=code
    )
    assert reused.status == 400
    # Ana herself signs in again with the link: she is bound already, so it just works.
    assert Browser(people, idp).sign_in(ANA, invitation=code).status == 302


def test_an_expired_invitation_is_refused(people: Stack, idp: FakeIdp) -> None:
    nat = people.tenant("NatSupply")
    code = invite(people, nat.admin_token, "ana@natsupply.example", "approver")
    for item in InvitationModel.query(f"T#{nat.tenant_id}", InvitationModel.sk.startswith("INVITE#")):
        item.update(actions=[InvitationModel.expires_at.set(int(time.time()) - 1)])
    reply = Browser(people, idp).sign_in(ANA, invitation=code)
    assert reply.status == 400
    assert "expired" in body_text(reply)


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_return_to_never_leaves_the_origin(people: Stack, idp: FakeIdp, target: str) -> None:
    nat = people.tenant("NatSupply")
    code = invite(people, nat.admin_token, "ana@natsupply.example", "approver")
    reply = Browser(people, idp).sign_in(ANA, invitation=code, return_to=target)
    assert reply.status == 302
    assert header(reply, "location") == "http://vaultguard.test/dashboard/"


# -- the session ---------------------------------------------------------------------------------


def test_the_cookies_are_host_only_httponly_secure_and_the_session_id_is_stored_hashed(
    people: Stack, idp: FakeIdp
) -> None:
    nat = people.tenant("NatSupply")
    code = invite(people, nat.admin_token, "ana@natsupply.example", "approver")
    browser = Browser(people, idp)
    login, authorize_url = browser.start(invitation=code)
    reply = browser.callback(authorize_url, idp.authorize(authorize_url, ANA))
    for cookie in [*_raw_cookies(login), *_raw_cookies(reply)]:
        assert cookie.startswith("__Host-")
        for attribute in ("Path=/", "Secure", "HttpOnly", "SameSite=Lax"):
            assert attribute in cookie
        assert "Domain" not in cookie
    secret = browser.cookies[SESSION]
    stored = _session_item(people, browser)
    assert secret not in json.dumps(stored.attribute_values)
    assert secret not in stored.sk


def test_the_pre_login_cookie_is_not_a_session(people: Stack, idp: FakeIdp) -> None:
    people.tenant("NatSupply")
    browser = Browser(people, idp)
    browser.start()
    login_value = browser.cookies[LOGIN]
    reply = people.call("GET", "/auth/session", headers={"cookie": f"{SESSION}={login_value}"})
    assert reply.status == 401


def test_a_tampered_session_cookie_is_refused(people: Stack, idp: FakeIdp) -> None:
    nat = people.tenant("NatSupply")
    browser = _signed_in(people, idp, nat, "ana@natsupply.example", "approver", "idp|ana")
    secret = browser.cookies[SESSION]
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    reply = people.call("GET", "/auth/session", headers={"cookie": f"{SESSION}={tampered}"})
    assert reply.status == 401
    assert reply.body["error"] == "not_signed_in"


def test_logout_ends_the_session_on_the_server(people: Stack, idp: FakeIdp) -> None:
    nat = people.tenant("NatSupply")
    browser = _signed_in(people, idp, nat, "ana@natsupply.example", "approver", "idp|ana")
    stolen = browser.cookies[SESSION]
    reply = browser.request("POST", "/auth/logout")
    assert reply.status == 200, reply.body
    assert reply.body["signed_out"] is True
    assert reply.body["end_session_url"].startswith(fake_idp.ISSUER + "logout")
    assert browser.cookies[SESSION] == ""
    replay = people.call("GET", "/auth/session", headers={"cookie": f"{SESSION}={stolen}"})
    assert replay.status == 401
    types = [e["type"] for e in people.audit(nat)]
    assert "session.started" in types and "session.ended" in types


def test_idle_and_absolute_timeouts_end_the_session(people: Stack, idp: FakeIdp) -> None:
    nat = people.tenant("NatSupply")
    idle = _signed_in(people, idp, nat, "ana@natsupply.example", "approver", "idp|ana")
    item = _session_item(people, idle)
    item.update(actions=[SessionModel.last_seen_at.set(int(time.time()) - 31 * 60)])
    assert idle.get("/auth/session").status == 401

    absolute = _signed_in(people, idp, nat, "bo@natsupply.example", "auditor", "idp|bo")
    item = _session_item(people, absolute)
    item.update(actions=[SessionModel.expires_at.set(int(time.time()) - 1)])
    assert absolute.get("/auth/session").status == 401


def test_activity_keeps_a_session_alive(people: Stack, idp: FakeIdp) -> None:
    nat = people.tenant("NatSupply")
    browser = _signed_in(people, idp, nat, "ana@natsupply.example", "approver", "idp|ana")
    item = _session_item(people, browser)
    item.update(actions=[SessionModel.last_seen_at.set(int(time.time()) - 29 * 60)])
    assert browser.get("/delegations").status == 200  # within the idle time: counts as activity
    assert int(_session_item(people, browser).last_seen_at) >= int(time.time()) - 5


# -- writes need the CSRF token and the deployment's origin --------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://vaultguard.test"},  # no token
        {"origin": "http://vaultguard.test", "x-csrf-token": "wrong"},
        {"x-csrf-token": None},  # the right token, no Origin
        {"origin": "https://evil.example", "x-csrf-token": None},  # the right token, another origin
    ],
)
def test_a_write_without_the_csrf_token_or_from_another_origin_is_refused(
    people: Stack, idp: FakeIdp, headers: dict[str, str | None]
) -> None:
    nat = people.tenant("NatSupply")
    admin = _signed_in(people, idp, nat, "ad@natsupply.example", "admin", "idp|ad")
    sent = {k: (v if v is not None else str(admin.csrf)) for k, v in headers.items()}
    reply = admin.request("POST", "/agents", {"name": "sneaky"}, csrf=False, headers=sent)
    assert reply.status == 403, reply.body
    assert reply.body["error"] == "csrf_failed"
    assert people.call("GET", "/agents", nat.admin_token).body["agents"] == []


def test_a_write_with_the_csrf_token_works(people: Stack, idp: FakeIdp) -> None:
    nat = people.tenant("NatSupply")
    admin = _signed_in(people, idp, nat, "ad@natsupply.example", "admin", "idp|ad")
    reply = admin.request("POST", "/agents", {"name": "made by a person"})
    assert reply.status == 201, reply.body
    created = [e for e in people.audit(nat) if e["type"] == "agent.created"]
    assert created[-1]["actor"]["type"] == "admin"


# -- cost --------------------------------------------------------------------------------------


def test_people_routes_stay_within_their_round_trip_budgets(people: Stack, idp: FakeIdp) -> None:
    from tests.functional.people import PEOPLE_ROUTES
    from tests.functional.test_round_trips import dynamodb_calls

    nat = people.tenant("NatSupply")
    admin = _signed_in(people, idp, nat, "ad@natsupply.example", "admin", "idp|ad")
    bo = _signed_in(people, idp, nat, "bo@natsupply.example", "auditor", "idp|bo")
    bo_id = bo.get("/auth/session").body["user_id"]
    measured: dict[tuple[str, str], int] = {}

    def count(route: tuple[str, str], run: Any) -> Any:
        with dynamodb_calls() as calls:
            reply = run()
        measured[route] = sum(calls.values())
        return reply

    code = count(
        ("POST", "/users/invitations"),
        lambda: invite(people, nat.admin_token, "cy@natsupply.example", "approver"),
    )
    cy = Browser(people, idp)
    _, authorize_url = count(("GET", "/auth/login"), lambda: cy.start(invitation=code))
    idp_code = idp.authorize(authorize_url, Person(sub="idp|cy", email="cy@natsupply.example"))
    assert count(("GET", "/auth/callback"), lambda: cy.callback(authorize_url, idp_code)).status == 302
    _age_activity(people, admin)  # the session's activity is refreshed in the same budget
    assert count(("GET", "/auth/session"), lambda: admin.get("/auth/session")).status == 200
    assert count(("GET", "/users"), lambda: admin.get("/users")).status == 200
    patch = count(
        ("PATCH", "/users/{user_id}"), lambda: admin.request("PATCH", f"/users/{bo_id}", {"role": "approver"})
    )
    assert patch.status == 200, patch.body
    delete = count(("DELETE", "/users/{user_id}"), lambda: admin.request("DELETE", f"/users/{bo_id}"))
    assert delete.status == 200, delete.body
    assert count(("POST", "/auth/logout"), lambda: admin.request("POST", "/auth/logout")).status == 200
    assert set(measured) == set(PEOPLE_ROUTES) - {("GET", "/auth/register"), ("POST", "/auth/register")}
    over = {route: n for route, n in measured.items() if n > PEOPLE_ROUTES[route]}
    assert over == {}, measured


def _age_activity(people: Stack, browser: Browser) -> None:
    item = _session_item(people, browser)
    item.update(actions=[SessionModel.last_seen_at.set(int(time.time()) - 120)])


def test_a_person_whose_organisation_at_the_provider_changed_is_refused(people: Stack, idp: FakeIdp) -> None:
    from chalicelib.auth.oidc import OidcClient, ProviderConfig

    config = ProviderConfig(
        issuer=fake_idp.ISSUER,
        client_id=fake_idp.CLIENT_ID,
        client_secret=fake_idp.CLIENT_SECRET,
        tenant_claim="org_id",
    )
    people.container.oidc_client = OidcClient(config, transport=idp)
    nat = people.tenant("NatSupply")
    code = invite(people, nat.admin_token, "ana@natsupply.example", "approver")
    idp.token_overrides = {"org_id": "org_natsupply"}
    assert Browser(people, idp).sign_in(ANA, invitation=code).status == 302
    assert Browser(people, idp).sign_in(ANA).status == 302  # same organisation: fine
    idp.token_overrides = {"org_id": "org_other"}
    moved = Browser(people, idp)
    reply = moved.sign_in(ANA)
    assert reply.status == 400
    assert "organisation" in body_text(reply)
    _no_session(moved)
