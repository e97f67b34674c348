"""Federated agents' pure rules (chalicelib/domain/federation.py): which claim names the
subject, which URLs may be issuers or jwks_uri."""

from __future__ import annotations

import pytest

from chalicelib.domain.federation import subject_of, url_problem


@pytest.mark.parametrize(
    ("claims", "subject"),
    [
        ({"sub": "abc@clients", "azp": "abc"}, "abc@clients"),  # Auth0 M2M
        ({"client_id": "agent-1"}, "agent-1"),  # RFC 9068 without sub
        ({"azp": "agent-2"}, "agent-2"),
        ({"sub": ""}, None),
        ({"sub": 42}, None),
        ({"sub": "x" * 256}, None),
        ({}, None),
    ],
)
def test_subject_of(claims: dict[str, object], subject: str | None) -> None:
    assert subject_of(claims) == subject


@pytest.mark.parametrize(
    ("url", "local", "ok"),
    [
        ("https://tenant.auth0.com/", False, True),
        ("https://token.actions.githubusercontent.com", False, True),
        ("http://127.0.0.1:3000", True, True),
        ("http://127.0.0.1:3000", False, False),
        ("http://idp.example", True, False),
        ("https://user:pw@idp.example", False, False),
        ("https://idp.example/?x=1", False, False),
        ("https://idp.example/#f", False, False),
        ("https://idp.example:99999", False, False),
        ("ftp://idp.example", False, False),
        ("https://" + "a" * 600 + ".example", False, False),
    ],
)
def test_url_problem(url: str, local: bool, ok: bool) -> None:
    assert (url_problem(url, local=local) is None) is ok
