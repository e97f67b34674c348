"""The platform's operators sign in through the identity provider like a tenant's people, but
belong to no tenant: their session names none, and the tenants page's calls work with it."""

from __future__ import annotations

from tests.functional.conftest import Stack
from tests.functional.fake_idp import FakeIdp, Person
from tests.functional.people import Browser, invite

PAULA = Person(sub="idp|paula", email="paula@vaultguard.example", name="Paula Operator")


def test_an_operator_signs_in_again_after_joining_and_acts_as_the_platform(
    people: Stack, idp: FakeIdp
) -> None:
    code = invite(people, people.platform_token, PAULA.email, "platform")
    joined = Browser(people, idp).sign_in(PAULA, invitation=code)
    assert joined.status == 302, joined.body

    browser = Browser(people, idp)  # another day: the bound identity, no invitation
    reply = browser.sign_in(PAULA)
    assert reply.status == 302, reply.body
    session = browser.get("/auth/session")
    assert session.status == 200, session.body
    assert (session.body["role"], session.body["tenant_id"]) == ("platform", None)
    tenants = browser.get("/tenants")
    assert tenants.status == 200, tenants.body
    assert browser.get("/metrics").status == 200
