"""CORS: only the origins of VAULTGUARD_CORS_ORIGINS get CORS headers, preflights answer with
the path's methods and the headers the dashboard sends, and a cookie-authenticated write is
accepted from an allow-listed origin but still refused from any other."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.functional.conftest import Stack, stack_with
from tests.functional.fake_idp import FakeIdp, Person
from tests.functional.helpers import header
from tests.functional.people import PEOPLE_ENV, Browser, invite
from tests.functional.test_round_trips import dynamodb_calls

DASHBOARD = "https://dashboard.example"
EVIL = "https://evil.example"
CORS_NAMES = (
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
    "access-control-expose-headers",
)


@pytest.fixture
def cors(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with stack_with(monkeypatch, VAULTGUARD_CORS_ORIGINS=f"{DASHBOARD}, https://other.example") as stack:
        yield stack


def preflight(stack: Stack, path: str, origin: str, method: str = "GET") -> object:
    return stack.call(
        "OPTIONS",
        path,
        headers={
            "origin": origin,
            "access-control-request-method": method,
            "access-control-request-headers": "x-csrf-token, content-type",
        },
    )


def no_cors_headers(headers: dict[str, str]) -> bool:
    return not any(name.lower() in CORS_NAMES for name in headers)


def test_a_preflight_from_an_allowed_origin_gets_the_routes_methods(cors: Stack) -> None:
    reply = preflight(cors, "/delegations/dlg_x/revoke", DASHBOARD, "POST")
    assert reply.status == 204
    assert reply.body is None
    assert header(reply, "access-control-allow-origin") == DASHBOARD
    assert header(reply, "access-control-allow-credentials") == "true"
    assert header(reply, "access-control-allow-methods") == "OPTIONS, POST"
    allowed = {h.strip().lower() for h in str(header(reply, "access-control-allow-headers")).split(",")}
    assert {"x-csrf-token", "authorization", "content-type", "idempotency-key", "x-request-id"} <= allowed
    assert "if-none-match" in allowed
    assert header(reply, "access-control-max-age") == "600"
    assert "Origin" in str(header(reply, "vary"))
    assert header(reply, "x-request-id")
    assert header(reply, "x-content-type-options") == "nosniff"


def test_a_path_with_several_methods_lists_them_all(cors: Stack) -> None:
    reply = preflight(cors, "/agents", "https://other.example", "POST")
    assert header(reply, "access-control-allow-origin") == "https://other.example"
    assert header(reply, "access-control-allow-methods") == "GET, OPTIONS, POST"


@pytest.mark.parametrize(
    "origin", [EVIL, "https://dashboard.example.evil.example", "null", DASHBOARD + ":443"]
)
def test_a_preflight_from_another_origin_gets_no_cors_headers(cors: Stack, origin: str) -> None:
    reply = preflight(cors, "/delegations", origin)
    assert reply.status == 204
    assert no_cors_headers(reply.headers)
    assert header(reply, "allow") == "GET, OPTIONS"


def test_without_an_allowlist_nobody_gets_cors_headers(stack: Stack) -> None:
    reply = preflight(stack, "/delegations", DASHBOARD)
    assert reply.status == 204
    assert no_cors_headers(reply.headers)
    actual = stack.call("GET", "/health", headers={"origin": DASHBOARD})
    assert actual.status == 200
    assert no_cors_headers(actual.headers)


def test_a_preflight_reads_nothing_and_needs_no_credentials(cors: Stack) -> None:
    with dynamodb_calls() as calls:
        reply = preflight(cors, "/delegations/{id}".replace("{id}", "dlg_1"), DASHBOARD, "GET")
    assert reply.status == 204
    assert sum(calls.values()) == 0


def test_every_path_answers_preflights() -> None:
    from app import app

    for path, methods in app.routes.items():
        assert "OPTIONS" in methods, path


def test_actual_responses_for_an_allowed_origin_allow_credentials_and_expose_etag(cors: Stack) -> None:
    nat = cors.tenant("NatSupply")
    reply = cors.call("GET", "/agents", nat.admin_token, headers={"origin": DASHBOARD})
    assert reply.status == 200
    assert header(reply, "access-control-allow-origin") == DASHBOARD
    assert header(reply, "access-control-allow-credentials") == "true"
    exposed = {h.strip().lower() for h in str(header(reply, "access-control-expose-headers")).split(",")}
    assert {"etag", "x-request-id", "retry-after"} <= exposed
    assert "Origin" in str(header(reply, "vary"))
    error = cors.call("GET", "/agents", "not-a-token", headers={"origin": DASHBOARD})
    assert error.status == 401
    assert header(error, "access-control-allow-origin") == DASHBOARD  # the page can read why
    foreign = cors.call("GET", "/agents", nat.admin_token, headers={"origin": EVIL})
    assert foreign.status == 200  # CORS is the browser's check; the token authenticates
    assert no_cors_headers(foreign.headers)


# -- cookie-authenticated writes ----------------------------------------------------------------


@pytest.fixture
def people_with_cors(aws_env: None, monkeypatch: pytest.MonkeyPatch, idp: FakeIdp) -> Iterator[Stack]:
    from chalicelib.auth.oidc import OidcClient, ProviderConfig
    from tests.functional import fake_idp

    with stack_with(monkeypatch, **PEOPLE_ENV, VAULTGUARD_CORS_ORIGINS=DASHBOARD) as stack:
        config = ProviderConfig(
            issuer=fake_idp.ISSUER, client_id=fake_idp.CLIENT_ID, client_secret=fake_idp.CLIENT_SECRET
        )
        stack.container.oidc_client = OidcClient(config, transport=idp)
        yield stack


def test_a_cookie_write_from_an_allowed_origin_works_and_from_another_is_refused(
    people_with_cors: Stack, idp: FakeIdp
) -> None:
    stack = people_with_cors
    nat = stack.tenant("NatSupply")
    code = invite(stack, nat.admin_token, "ad@natsupply.example", "admin")
    admin = Browser(stack, idp)
    assert admin.sign_in(Person(sub="idp|ad", email="ad@natsupply.example"), invitation=code).status == 302

    refused = admin.request("POST", "/agents", {"name": "from evil"}, headers={"origin": EVIL})
    assert refused.status == 403, refused.body
    assert refused.body["error"] == "csrf_failed"
    assert no_cors_headers(refused.headers)

    made = admin.request("POST", "/agents", {"name": "from the dashboard"}, headers={"origin": DASHBOARD})
    assert made.status == 201, made.body
    assert header(made, "access-control-allow-origin") == DASHBOARD
    names = [a["name"] for a in stack.call("GET", "/agents", nat.admin_token).body["agents"]]
    assert names == ["from the dashboard"]
