"""Self-registration (VAULTGUARD_SELF_SIGNUP, off by default): a person the identity provider
signed in, with no account anywhere, creates an organisation and becomes its admin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.auth.oidc import OidcClient, ProviderConfig
from tests.functional import fake_idp
from tests.functional.conftest import Stack, stack_with
from tests.functional.fake_idp import FakeIdp, Person
from tests.functional.people import PEOPLE_ENV, PEOPLE_ROUTES, PUBLIC_URL, Browser, body_text, header

REGISTER = "__Host-vg_register"
FOUNDER = Person(sub="idp|founder", email="founder@newclinic.example", name="Fay Founder")


@pytest.fixture
def open_stack(aws_env: None, monkeypatch: pytest.MonkeyPatch, idp: FakeIdp) -> Iterator[Stack]:
    with stack_with(monkeypatch, **PEOPLE_ENV, VAULTGUARD_SELF_SIGNUP="1") as stack:
        config = ProviderConfig(
            issuer=fake_idp.ISSUER, client_id=fake_idp.CLIENT_ID, client_secret=fake_idp.CLIENT_SECRET
        )
        stack.container.oidc_client = OidcClient(config, transport=idp)
        yield stack


def _form(browser: Browser, organisation: str, origin: str | None = PUBLIC_URL) -> Any:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if origin:
        headers["origin"] = origin
    jar = "; ".join(f"{k}={v}" for k, v in browser.cookies.items() if v)
    if jar:
        headers["cookie"] = jar
    from urllib.parse import urlencode

    reply = browser.stack.call(
        "POST", "/auth/register", raw=urlencode({"organisation": organisation}), headers=headers
    )
    from tests.functional.people import set_cookies

    browser.cookies.update(set_cookies(reply))
    return reply


def test_a_person_without_an_account_creates_an_organisation_and_becomes_its_admin(
    open_stack: Stack, idp: FakeIdp
) -> None:
    browser = Browser(open_stack, idp)
    reply = browser.sign_in(FOUNDER)
    assert reply.status == 302, reply.body
    assert header(reply, "location") == f"{PUBLIC_URL}/auth/register"
    assert browser.cookies.get(REGISTER)
    assert browser.get("/auth/session").status == 401  # no account, no session yet

    form = browser.get("/auth/register")
    assert form.status == 200
    assert "founder@newclinic.example" in body_text(form) and "Organisation name" in body_text(form)

    created = _form(browser, "New Clinic")
    assert created.status == 303, created.body
    assert header(created, "location") == f"{PUBLIC_URL}/dashboard/"
    session = browser.get("/auth/session").body
    assert (session["role"], session["tenant_name"], session["email"]) == (
        "admin",
        "New Clinic",
        "founder@newclinic.example",
    )
    tenants = open_stack.call("GET", "/tenants", open_stack.platform_token).body["tenants"]
    assert [t["tenant_id"] for t in tenants if t["name"] == "New Clinic"] == [session["tenant_id"]]

    # Used once; and next time the founder simply signs in.
    assert _form(browser, "Another").status == 400
    again = Browser(open_stack, idp)
    assert again.sign_in(FOUNDER).status == 302
    assert again.get("/auth/session").body["tenant_id"] == session["tenant_id"]


def test_a_registration_needs_the_deployments_origin_and_a_verified_email(
    open_stack: Stack, idp: FakeIdp
) -> None:
    browser = Browser(open_stack, idp)
    browser.sign_in(FOUNDER)
    refused = _form(browser, "Evil Corp", origin="https://evil.example")
    assert refused.status == 403
    assert _form(browser, "Evil Corp", origin=None).status == 403
    names = [t["name"] for t in open_stack.call("GET", "/tenants", open_stack.platform_token).body["tenants"]]
    assert "Evil Corp" not in names

    unverified = Browser(open_stack, idp)
    reply = unverified.sign_in(Person(sub="idp|u", email="u@x.example", email_verified=False))
    assert reply.status == 400
    assert not unverified.cookies.get(REGISTER)


def test_registration_routes_stay_within_their_round_trip_budgets(open_stack: Stack, idp: FakeIdp) -> None:
    from tests.functional.test_round_trips import dynamodb_calls

    browser = Browser(open_stack, idp)
    browser.sign_in(FOUNDER)
    with dynamodb_calls() as page:
        assert browser.get("/auth/register").status == 200
    with dynamodb_calls() as create:
        assert _form(browser, "Budget Clinic").status == 303
    assert sum(page.values()) <= PEOPLE_ROUTES[("GET", "/auth/register")]
    assert sum(create.values()) <= PEOPLE_ROUTES[("POST", "/auth/register")]
