"""The Auth0 Token Vault backend (issue 13, item 7), against a local Auth0 over real HTTP
(`fake_auth0`): a tenant configures `auth0`, its admin connects through Auth0's /authorize
(connection, connection_scope, PKCE), VaultGuard keeps only Auth0's refresh token and agents
get the provider's access token through Auth0's federated-connection token exchange — with
the vault's usual API, statuses, audit and isolation."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from chalicelib.vault.client import ProviderClient
from chalicelib.vault.transport import RequestsProviderTransport
from tests.functional import fake_auth0
from tests.functional.conftest import Reply, Tenant
from tests.functional.fake_auth0 import Answer, FakeAuth0
from tests.functional.vault_helpers import UNKNOWN_ID, VaultWorld, outcome, vault_world

CALENDAR = "https://www.googleapis.com/auth/calendar.readonly"
GMAIL = "https://www.googleapis.com/auth/gmail.readonly"


@pytest.fixture
def auth0() -> Iterator[FakeAuth0]:
    server = FakeAuth0().start()
    yield server
    server.stop()


@pytest.fixture
def vault(aws_env: None, monkeypatch: pytest.MonkeyPatch, auth0: FakeAuth0) -> Iterator[VaultWorld]:
    with vault_world(monkeypatch) as world:
        world.stack.container.vault_provider_client = ProviderClient(RequestsProviderTransport())
        yield world


def _configure(w: VaultWorld, auth0: FakeAuth0, tenant: Tenant | None = None, **extra: Any) -> Reply:
    body = {
        "client_id": fake_auth0.CLIENT_ID,
        "client_secret": fake_auth0.CLIENT_SECRET,
        "issuer": auth0.base,  # Auth0's issuer is the domain with a trailing slash; either is taken
        "connection": fake_auth0.CONNECTION,
        "scopes": [CALENDAR, GMAIL],
        **extra,
    }
    return w.stack.call("PUT", "/vault/providers/auth0", (tenant or w.med).admin_token, body)


def _start(w: VaultWorld, scopes: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"provider": "auth0", "agent_ids": [w.agent.agent_id]}
    if scopes is not None:
        body["scopes"] = scopes
    reply = w.stack.call("POST", "/vault/connect", w.med.admin_token, body)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def _sign_in_at_auth0(url: str) -> dict[str, str]:
    """The admin's browser at Auth0's /authorize: the query Auth0 redirects back with."""
    answer = requests.get(url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


def _connected(w: VaultWorld, auth0: FakeAuth0, scopes: list[str] | None = None) -> str:
    assert _configure(w, auth0).status in (200, 201)
    started = _start(w, scopes)
    reply = w.callback(w.med_admin, _sign_in_at_auth0(started["authorize_url"]))
    assert outcome(reply) == {"connected": started["connection_id"]}, outcome(reply)
    return str(started["connection_id"])


def _exchange(w: VaultWorld, cid: str, token: str | None = None) -> Reply:
    return w.stack.call("POST", "/vault/exchange", token or w.agent.token, {"connection_id": cid})


def _view(w: VaultWorld, cid: str) -> dict[str, Any]:
    reply = w.stack.call("GET", f"/vault/connections/{cid}", w.med.admin_token)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def _age(w: VaultWorld, cid: str, seconds_left: int) -> None:
    """Make the cached provider token expire `seconds_left` from now."""
    boto3.client("dynamodb").update_item(
        TableName=w.stack.container.settings.table_name,
        Key={"pk": {"S": f"T#{w.med.tenant_id}"}, "sk": {"S": f"CONN#{cid}"}},
        UpdateExpression="SET access_token_expires_at = :e",
        ExpressionAttributeValues={":e": {"N": str(int(time.time()) + seconds_left)}},
    )


def _federated_form(refresh_token: str) -> dict[str, str]:
    """Exactly what Auth0 documents for the refresh-token variant, with client_secret_post."""
    return {
        "grant_type": fake_auth0.FEDERATED_GRANT,
        "subject_token": refresh_token,
        "subject_token_type": fake_auth0.REFRESH_TOKEN_TYPE,
        "requested_token_type": fake_auth0.FEDERATED_TOKEN_TYPE,
        "connection": fake_auth0.CONNECTION,
        "client_id": fake_auth0.CLIENT_ID,
        "client_secret": fake_auth0.CLIENT_SECRET,
    }


# -- connect ---------------------------------------------------------------------------------------


def test_connecting_through_auth0_makes_an_active_connection_with_the_providers_scopes(
    vault: VaultWorld, auth0: FakeAuth0
) -> None:
    w = vault
    configured = _configure(w, auth0)
    assert configured.status == 201, configured.body
    assert configured.body["issuer"] == auth0.issuer and "client_secret" not in configured.body
    assert configured.body["authorize_params"] == {"connection": "google-oauth2"}
    offered = w.stack.call("GET", "/vault/providers", w.med.admin_token).body["providers"]
    assert {"provider": "auth0", "kind": "auth0", "client": "tenant"}.items() <= next(
        p for p in offered if p["provider"] == "auth0"
    ).items()

    started = _start(w, [CALENDAR])
    query = {k: v[0] for k, v in parse_qs(urlsplit(started["authorize_url"]).query).items()}
    assert started["authorize_url"].startswith(auth0.base + "/authorize?")
    assert query["connection"] == "google-oauth2" and query["connection_scope"] == CALENDAR
    assert query["access_type"] == "offline" and query["scope"] == "openid email offline_access"
    assert query["code_challenge_method"] == "S256" and query["client_id"] == fake_auth0.CLIENT_ID

    reply = w.callback(w.med_admin, _sign_in_at_auth0(started["authorize_url"]))

    cid = started["connection_id"]
    assert outcome(reply) == {"connected": cid}
    view = _view(w, cid)
    assert view["status"] == "active" and view["provider"] == "auth0"
    assert view["provider_account"] == {"sub": "google-oauth2|g-ada", "email": "ada@medicore.example"}
    assert view["granted_scopes"] == [CALENDAR] and view["allowed_scopes"] == [CALENDAR]
    # The callback's one federated exchange proved the Token Vault holds the account.
    assert auth0.federated_requests == [_federated_form(auth0.issued_refresh_tokens[-1])]


def test_provider_settings_for_auth0_are_checked(vault: VaultWorld, auth0: FakeAuth0) -> None:
    w = vault
    good = {
        "client_id": fake_auth0.CLIENT_ID,
        "client_secret": fake_auth0.CLIENT_SECRET,
        "issuer": auth0.base,
        "connection": fake_auth0.CONNECTION,
        "scopes": [CALENDAR],
    }
    for changed, dropped in (
        ({}, "connection"),
        ({"connection": "google oauth2"}, None),
        ({}, "issuer"),
        ({"issuer": "ftp://auth0.example/"}, None),
        ({"token_endpoint": auth0.base + "/oauth/token"}, None),
        ({"authorize_params": {"connection_scope": "x"}}, None),
        ({}, "scopes"),
    ):
        body = {k: v for k, v in {**good, **changed}.items() if k != dropped}
        reply = w.stack.call("PUT", "/vault/providers/auth0", w.med.admin_token, body)
        assert (reply.status, reply.body["error"]) == (400, "invalid_request"), (changed, dropped, reply.body)
    offered = w.stack.call("GET", "/vault/providers", w.med.admin_token).body["providers"]
    assert "auth0" not in [p["provider"] for p in offered]


def test_no_tokenset_in_the_token_vault_fails_the_connect_and_revokes_auth0s_refresh_token(
    vault: VaultWorld, auth0: FakeAuth0
) -> None:
    w = vault
    assert _configure(w, auth0).status == 201
    started = _start(w)
    consent = _sign_in_at_auth0(started["authorize_url"])
    auth0.token_vault.clear()  # e.g. the connection's Token Vault purpose is off at Auth0
    assert outcome(w.callback(w.med_admin, consent)) == {"error": "token_error"}
    assert _view(w, started["connection_id"])["status"] == "failed"
    assert auth0.revoked == auth0.issued_refresh_tokens


# -- exchange ---------------------------------------------------------------------------------------


def test_the_exchange_serves_the_federated_token_and_refreshes_by_the_federated_grant(
    vault: VaultWorld, auth0: FakeAuth0
) -> None:
    w = vault
    cid = _connected(w, auth0)

    cached = _exchange(w, cid)

    assert cached.status == 200, cached.body
    assert cached.body["access_token"] == auth0.issued_federated_tokens[-1]
    assert cached.body["access_token"] not in auth0.issued_auth0_access_tokens
    assert cached.headers["Cache-Control"] == "no-store" and "refresh_token" not in cached.body
    assert cached.body["provider"] == "auth0" and set(cached.body["scope"].split()) == {CALENDAR, GMAIL}
    assert len(auth0.federated_requests) == 1  # served from the cache

    _age(w, cid, 100)  # less than five minutes left: the vault refreshes
    refreshed = _exchange(w, cid)

    assert refreshed.status == 200, refreshed.body
    assert refreshed.body["access_token"] == auth0.issued_federated_tokens[-1] != cached.body["access_token"]
    assert 3000 < refreshed.body["expires_in"] <= 3599
    assert auth0.federated_requests[-1] == _federated_form(auth0.issued_refresh_tokens[-1])
    assert len(auth0.issued_refresh_tokens) == 1  # Auth0's refresh token is not rotated
    sources = [e["detail"]["source"] for e in w.stack.audit(w.med) if e["type"] == "vault.exchanged"]
    assert sorted(sources) == ["cache", "refresh"]


def test_no_identity_for_the_connection_needs_reauthorization(vault: VaultWorld, auth0: FakeAuth0) -> None:
    w = vault
    cid = _connected(w, auth0)
    auth0.token_vault.clear()  # the person unlinked Google at Auth0
    _age(w, cid, -10)

    reply = _exchange(w, cid)

    assert reply.status == 409, reply.body
    assert reply.body["error"] == "connection_needs_reauthorization"
    assert reply.body["reason"] == "no_federated_identity"
    view = _view(w, cid)
    assert (view["status"], view["status_reason"]) == ("needs_reauth", "no_federated_identity")
    assert [e["detail"]["reason"] for e in w.stack.audit(w.med) if e["type"] == "vault.needs_reauth"] == [
        "no_federated_identity"
    ]


def test_a_dead_auth0_refresh_token_needs_reauthorization(vault: VaultWorld, auth0: FakeAuth0) -> None:
    w = vault
    cid = _connected(w, auth0)
    auth0.refresh_tokens[auth0.issued_refresh_tokens[-1]]["revoked"] = True
    _age(w, cid, -10)
    reply = _exchange(w, cid)
    assert (reply.status, reply.body["reason"]) == (409, "invalid_grant"), reply.body
    assert _view(w, cid)["status"] == "needs_reauth"


def test_auth0_failing_makes_the_connection_refresh_failing_with_retry_after(
    vault: VaultWorld, auth0: FakeAuth0
) -> None:
    w = vault
    cid = _connected(w, auth0)
    auth0.fail_next = [Answer(503, {"error": "temporarily_unavailable"}, {"Retry-After": "7"})]
    _age(w, cid, -10)

    reply = _exchange(w, cid)

    assert reply.status == 503, reply.body
    assert int(reply.headers["Retry-After"]) >= 1
    view = _view(w, cid)
    assert (view["status"], view["status_reason"]) == ("refresh_failing", "provider_unavailable")
    assert [e["type"] for e in w.stack.audit(w.med) if e["type"] == "vault.refresh_failed"]


# -- scopes: Auth0 cannot narrow a token -------------------------------------------------------------


def test_allowed_scopes_narrower_than_the_grant_are_refused_and_a_subset_ask_gets_the_real_scope(
    vault: VaultWorld, auth0: FakeAuth0
) -> None:
    w = vault
    cid = _connected(w, auth0, [CALENDAR, GMAIL])
    assert auth0.authorize_requests[-1]["connection_scope"] == f"{CALENDAR} {GMAIL}"
    narrower = w.stack.call(
        "PATCH", f"/vault/connections/{cid}", w.med.admin_token, {"allowed_scopes": [CALENDAR]}
    )
    assert (narrower.status, narrower.body["error"]) == (400, "invalid_request"), narrower.body
    assert "cannot narrow" in narrower.body["error_description"]
    assert GMAIL in narrower.body["error_description"]
    assert _view(w, cid)["allowed_scopes"] == [CALENDAR, GMAIL]  # unchanged
    same = w.stack.call(
        "PATCH", f"/vault/connections/{cid}", w.med.admin_token, {"allowed_scopes": [GMAIL, CALENDAR]}
    )
    assert same.status == 200, same.body

    asked = w.stack.call(
        "POST", "/vault/exchange", w.agent.token, {"connection_id": cid, "scopes": [CALENDAR]}
    )
    assert asked.status == 200, asked.body
    assert set(asked.body["scope"].split()) == {CALENDAR, GMAIL}  # what the token really carries
    assert asked.body["access_token"] == _exchange(w, cid).body["access_token"]  # one token, one cache
    assert len(auth0.federated_requests) == 1


def test_a_token_with_more_than_the_allowed_scopes_is_never_served(
    vault: VaultWorld, auth0: FakeAuth0
) -> None:
    """The provider granted more than the connect asked for (e.g. earlier grants of the same
    person): Auth0 cannot narrow the token, so the exchange refuses rather than serve it."""
    w = vault
    assert _configure(w, auth0).status == 201
    started = _start(w, [CALENDAR])
    consent = _sign_in_at_auth0(started["authorize_url"])
    for key in auth0.token_vault:
        auth0.token_vault[key] = (CALENDAR, GMAIL)
    assert outcome(w.callback(w.med_admin, consent)) == {"connected": started["connection_id"]}
    cid = started["connection_id"]
    assert _view(w, cid)["allowed_scopes"] == [CALENDAR]

    reply = _exchange(w, cid)

    assert (reply.status, reply.body["error"]) == (403, "access_denied"), reply.body
    assert GMAIL in reply.body["error_description"] and "access_token" not in reply.body
    denied = [e["detail"] for e in w.stack.audit(w.med) if e["type"] == "vault.exchange_denied"]
    assert denied == [
        {"connection_id": cid, "reason": "token_beyond_allowed_scopes", "scopes_beyond": [GMAIL]}
    ]
    assert not [e for e in w.stack.audit(w.med) if e["type"] == "vault.exchanged"]


def test_the_auth0_connection_is_pinned_at_connect(vault: VaultWorld, auth0: FakeAuth0) -> None:
    w = vault
    cid = _connected(w, auth0)
    assert _configure(w, auth0, connection="github").status == 200  # the setting changes later
    _age(w, cid, -10)

    reply = _exchange(w, cid)

    assert reply.status == 200, reply.body
    assert auth0.federated_requests[-1]["connection"] == fake_auth0.CONNECTION
    # A record from before the pin follows the tenant's setting.
    boto3.client("dynamodb").update_item(
        TableName=w.stack.container.settings.table_name,
        Key={"pk": {"S": f"T#{w.med.tenant_id}"}, "sk": {"S": f"CONN#{cid}"}},
        UpdateExpression="REMOVE auth0_connection",
    )
    _age(w, cid, -10)
    _exchange(w, cid)
    assert auth0.federated_requests[-1]["connection"] == "github"


# -- delete, isolation, secrets ------------------------------------------------------------------------


def test_delete_revokes_auth0s_refresh_token(vault: VaultWorld, auth0: FakeAuth0) -> None:
    w = vault
    cid = _connected(w, auth0)
    reply = w.stack.call("DELETE", f"/vault/connections/{cid}", w.med.admin_token)
    assert reply.status == 200, reply.body
    assert reply.body["provider_revocation"] == "revoked"
    assert auth0.revoked == auth0.issued_refresh_tokens
    assert _exchange(w, cid).status == 404


def test_another_tenants_auth0_connection_answers_like_an_unknown_one(
    vault: VaultWorld, auth0: FakeAuth0
) -> None:
    w = vault
    cid = _connected(w, auth0)
    nat_agent = w.stack.agent(w.nat)
    calls_before = len(auth0.federated_requests)

    def without_request_id(reply: Reply) -> tuple[int, dict[str, Any]]:
        return reply.status, {k: v for k, v in dict(reply.body).items() if k != "request_id"}

    for method, path, body in (
        ("GET", "/vault/connections/{}", None),
        ("PATCH", "/vault/connections/{}", {"label": "mine"}),
        ("DELETE", "/vault/connections/{}", None),
    ):
        foreign = w.stack.call(method, path.format(cid), w.nat.admin_token, body)
        unknown = w.stack.call(method, path.format(UNKNOWN_ID), w.nat.admin_token, body)
        assert without_request_id(foreign) == without_request_id(unknown), (method, foreign.body)
        assert foreign.status == 404
    foreign = _exchange(w, cid, nat_agent.token)
    unknown = _exchange(w, UNKNOWN_ID, nat_agent.token)
    assert without_request_id(foreign) == without_request_id(unknown) and foreign.status == 404
    # NatSupply has no Auth0 of its own: MediCore's settings are not offered to it.
    nat_providers = w.stack.call("GET", "/vault/providers", w.nat.admin_token).body["providers"]
    assert "auth0" not in [p["provider"] for p in nat_providers]
    refused = w.stack.call("POST", "/vault/connect", w.nat.admin_token, {"provider": "auth0"})
    assert refused.status == 400
    assert len(auth0.federated_requests) == calls_before and auth0.revoked == []
    assert _view(w, cid)["status"] == "active" and _exchange(w, cid).status == 200


def test_auth0s_refresh_token_never_appears_outside_its_ciphertext(
    vault: VaultWorld, auth0: FakeAuth0, caplog: pytest.LogCaptureFixture
) -> None:
    w = vault
    replies: list[Reply] = []
    with caplog.at_level(logging.DEBUG):
        cid = _connected(w, auth0)
        replies.append(_exchange(w, cid))
        _age(w, cid, 100)
        replies.append(_exchange(w, cid))
        replies.append(w.stack.call("POST", f"/vault/connections/{cid}/check", w.med.admin_token))
        replies.append(w.stack.call("GET", "/vault/connections", w.med.admin_token))
        replies.append(w.stack.call("GET", "/vault/providers", w.med.admin_token))
    secrets_ = auth0.issued_refresh_tokens + auth0.issued_auth0_access_tokens + [fake_auth0.CLIENT_SECRET]
    assert auth0.issued_refresh_tokens and all("CANARY" in t for t in auth0.issued_refresh_tokens)
    texts = {
        "logs": caplog.text,
        "audit": json.dumps(w.stack.audit(w.med)),
        "replies": json.dumps([r.body for r in replies]),
    }
    settings = w.stack.container.settings
    for table in (settings.table_name, settings.audit_table_name):
        texts[table] = json.dumps(boto3.client("dynamodb").scan(TableName=table)["Items"])
    for where, text in texts.items():
        assert not [s for s in secrets_ if s in text], where
    federated = auth0.issued_federated_tokens
    assert not [t for t in federated if t in texts["audit"] or t in texts["logs"]]
