"""The tenant's vault connections and providers (issue 13): reading, changing and deleting
connections, the providers list and a tenant's own OAuth client; what no other tenant can
see or touch; the encryption context binding; the refresh token canary; round trips."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from chalicelib.crypto import DecryptionFailed
from chalicelib.domain.vault import REFRESH_TOKEN, connection_context
from chalicelib.vault.client import GrantDead, OAuthClient, ProviderRejected, ProviderTransient
from tests.functional.conftest import Reply
from tests.functional.fake_vault_provider import CLIENT_ID, CLIENT_SECRET, error_answer
from tests.functional.test_round_trips import dynamodb_calls
from tests.functional.vault_helpers import (
    EXCHANGE_ROUTES,
    UNKNOWN_ID,
    VAULT_ROUTES,
    VaultWorld,
    outcome,
    vault_world,
)


@pytest.fixture
def vault(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[VaultWorld]:
    with vault_world(monkeypatch) as world:
        yield world


def _without_request_id(reply: Reply) -> tuple[int, Any]:
    body = dict(reply.body) if isinstance(reply.body, dict) else reply.body
    if isinstance(body, dict):
        body.pop("request_id", None)
    return reply.status, body


def _connection_item(w: VaultWorld, connection_id: str) -> dict[str, Any]:
    table = w.stack.container.settings.table_name
    item = boto3.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": f"T#{w.med.tenant_id}"}, "sk": {"S": f"CONN#{connection_id}"}}
    )
    return dict(item["Item"])


# -- connections ---------------------------------------------------------------------------


def test_patch_changes_label_agents_and_allowed_scopes_within_the_granted(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    second = w.stack.agent(w.med, "scheduler")
    path = f"/vault/connections/{cid}"
    reply = w.stack.call(
        "PATCH",
        path,
        w.med.admin_token,
        {"label": "Calendar", "agent_ids": [second.agent_id], "allowed_scopes": ["calendar.readonly"]},
    )
    assert reply.status == 200, reply.body
    assert reply.body["agent_ids"] == [second.agent_id] and reply.body["allowed_scopes"] == [
        "calendar.readonly"
    ]
    too_much = w.stack.call("PATCH", path, w.med.admin_token, {"allowed_scopes": ["admin.everything"]})
    assert (too_much.status, too_much.body["error"]) == (400, "invalid_scope")
    foreign = w.stack.call("PATCH", path, w.med.admin_token, {"agent_ids": [w.stack.agent(w.nat).agent_id]})
    assert foreign.status == 400
    assert w.stack.call("GET", path, w.med.admin_token).body["label"] == "Calendar"
    event = next(e for e in w.stack.audit(w.med) if e["type"] == "vault.updated")
    assert event["detail"]["changed"] == ["agent_ids", "allowed_scopes", "label"]


def test_delete_revokes_at_the_provider_destroys_the_tokens_and_keeps_a_tombstone(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected(sub="g-ada")
    token = w.provider.issued_refresh_tokens[-1]
    reply = w.stack.call("DELETE", f"/vault/connections/{cid}", w.med.admin_token)
    assert reply.status == 200, reply.body
    assert reply.body == {"connection_id": cid, "status": "deleted", "provider_revocation": "revoked"}
    assert w.provider.revoked == [token]
    item = _connection_item(w, cid)
    assert "refresh_token_ciphertext" not in item and "access_token_ciphertext" not in item
    tombstone = w.stack.call("GET", f"/vault/connections/{cid}", w.med.admin_token).body
    assert tombstone["status"] == "deleted" and tombstone["deleted_at"]
    assert w.stack.call("GET", "/vault/connections", w.med.admin_token).body["connections"] == []
    assert w.stack.call("DELETE", f"/vault/connections/{cid}", w.med.admin_token).status == 404
    event = next(e for e in w.stack.audit(w.med) if e["type"] == "vault.disconnected")
    assert event["detail"]["provider_revocation"] == "revoked"
    # The account is free again: connecting it makes a new connection.
    assert w.connected(sub="g-ada") != cid


def test_delete_when_the_provider_is_down_still_destroys_the_tokens(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    w.provider.clients.clear()  # every provider call now fails (invalid_client)
    reply = w.stack.call("DELETE", f"/vault/connections/{cid}", w.med.admin_token)
    assert reply.status == 200 and reply.body["provider_revocation"] == "failed"
    assert "refresh_token_ciphertext" not in _connection_item(w, cid)


def test_another_tenants_connection_answers_like_an_unknown_one(vault: VaultWorld) -> None:
    """The cross-tenant matrix: NatSupply's admin (bearer and signed-in person) on MediCore's
    connection gets exactly what an id that does not exist gets, and changes nothing."""
    w = vault
    cid = w.connected()
    before = w.stack.call("GET", f"/vault/connections/{cid}", w.med.admin_token).body
    cases: list[tuple[str, Any]] = [
        ("GET", None),
        ("PATCH", {"label": "mine now"}),
        ("PATCH", {"allowed_scopes": []}),
        ("DELETE", None),
    ]
    callers: list[Callable[[str, str, Any], Reply]] = [
        lambda m, p, b: w.stack.call(m, p, w.nat.admin_token, b),
        lambda m, p, b: w.nat_admin.request(m, p, b),
    ]
    for call in callers:
        for method, body in cases:
            theirs = call(method, f"/vault/connections/{cid}", body)
            unknown = call(method, f"/vault/connections/{UNKNOWN_ID}", body)
            assert theirs.status == 404, (method, theirs.body)
            assert _without_request_id(theirs) == _without_request_id(unknown), method
    assert w.stack.call("GET", "/vault/connections", w.nat.admin_token).body == {"connections": []}
    assert w.stack.call("GET", f"/vault/connections/{cid}", w.med.admin_token).body == before
    assert w.provider.revoked == []


def test_only_admins_manage_connections(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    approver = w.person(w.med, "approver", "apollo")
    for method, path, body in (
        ("GET", "/vault/providers", None),
        ("PUT", "/vault/providers/oidc", {"client_id": "x", "client_secret": "y"}),
        ("POST", "/vault/connect", {"provider": "local-google"}),
        ("GET", "/vault/connections", None),
        ("GET", f"/vault/connections/{cid}", None),
        ("PATCH", f"/vault/connections/{cid}", {"label": "x"}),
        ("DELETE", f"/vault/connections/{cid}", None),
    ):
        assert w.stack.call(method, path, w.agent.token, body).status == 403, (method, path)
        assert approver.request(method, path, body).status == 403, (method, path)


# -- providers -------------------------------------------------------------------------------


def test_providers_say_whose_client_and_never_a_secret(vault: VaultWorld) -> None:
    w = vault
    listed = w.stack.call("GET", "/vault/providers", w.med.admin_token).body["providers"]
    assert listed == [
        {
            "provider": "local-google",
            "kind": "oidc",
            "client": "platform",
            "scopes": ["openid", "email", "calendar.readonly", "gmail.readonly"],
            "client_id": None,
        }
    ]
    secret = "tenant-oidc-secret-CANARY"
    reply = w.stack.call(
        "PUT",
        "/vault/providers/oidc",
        w.med.admin_token,
        {
            "client_id": "med-client",
            "client_secret": secret,
            "issuer": w.provider.issuer,
            "scopes": ["openid", "email", "calendar.readonly"],
        },
    )
    assert reply.status == 201, reply.body
    assert secret not in json.dumps(reply.body)
    listed = w.stack.call("GET", "/vault/providers", w.med.admin_token).body["providers"]
    assert {p["provider"]: p["client"] for p in listed} == {"local-google": "platform", "oidc": "tenant"}
    assert secret not in json.dumps(listed)
    assert [
        p["provider"] for p in w.stack.call("GET", "/vault/providers", w.nat.admin_token).body["providers"]
    ] == ["local-google"]
    bad = w.stack.call(
        "PUT", "/vault/providers/oidc", w.med.admin_token, {"client_id": "a", "client_secret": "b"}
    )
    assert bad.status == 400


def test_a_tenants_own_client_connects_through_discovery(vault: VaultWorld) -> None:
    w = vault
    w.provider.clients["med-client"] = "med-secret"
    body = {
        "client_id": "med-client",
        "client_secret": "med-secret",
        "issuer": w.provider.issuer,
        "scopes": ["openid", "calendar.readonly"],
    }
    assert w.stack.call("PUT", "/vault/providers/oidc", w.med.admin_token, body).status == 201
    started = w.connect(provider="oidc")
    assert (
        "client_id=med-client" in started["authorize_url"]
        and "offline_access" not in started["authorize_url"]
    )
    consent = w.provider.authorize(
        started["authorize_url"], granted=("openid", "calendar.readonly", "offline_access")
    )
    assert outcome(w.callback(w.med_admin, consent)) == {"connected": started["connection_id"]}
    view = w.stack.call("GET", f"/vault/connections/{started['connection_id']}", w.med.admin_token).body
    assert view["client"] == "tenant" and view["provider"] == "oidc"


# -- secrets at rest ----------------------------------------------------------------------------


def test_a_refresh_token_opens_only_with_its_own_tenant_and_connection(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    other = w.connected(sub="g-other")
    blob = _connection_item(w, cid)["refresh_token_ciphertext"]["S"]
    encryptor = w.stack.container.encryptor
    own = connection_context(w.med.tenant_id, cid, REFRESH_TOKEN)
    assert encryptor.decrypt(blob, own).decode() == w.provider.issued_refresh_tokens[0]
    for context in (
        connection_context(w.nat.tenant_id, cid, REFRESH_TOKEN),
        connection_context(w.med.tenant_id, other, REFRESH_TOKEN),
        connection_context(w.med.tenant_id, cid, "vault.access_token"),
    ):
        with pytest.raises(DecryptionFailed):
            encryptor.decrypt(blob, context)


def test_the_refresh_token_appears_nowhere_but_in_its_ciphertext(
    vault: VaultWorld, caplog: pytest.LogCaptureFixture
) -> None:
    w = vault
    replies: list[Reply] = []
    original = w.stack.call

    def keep(*args: Any, **kwargs: Any) -> Reply:
        reply = original(*args, **kwargs)
        replies.append(reply)
        return reply

    w.stack.call = keep  # type: ignore[method-assign]
    with caplog.at_level(logging.DEBUG):
        cid = w.connected(sub="g-ada")
        again = w.connect()
        w.callback(w.med_admin, w.provider.authorize(again["authorize_url"], sub="g-ada"))  # reconnect
        w.stack.call("GET", "/vault/connections", w.med.admin_token)
        w.stack.call("GET", f"/vault/connections/{cid}", w.med.admin_token)
        w.stack.call("PATCH", f"/vault/connections/{cid}", w.med.admin_token, {"label": "x"})
        kept = w.connected(sub="g-kept")
        w.stack.call("DELETE", f"/vault/connections/{cid}", w.med.admin_token)
    canaries = w.provider.issued_refresh_tokens + w.provider.issued_access_tokens
    assert len(w.provider.issued_refresh_tokens) == 3 and kept
    texts = {
        "responses": json.dumps([[r.status, r.body, r.headers] for r in replies], default=str),
        "logs": caplog.text,
        "audit": json.dumps(w.stack.audit(w.med)),
    }
    client = boto3.client("dynamodb")
    settings = w.stack.container.settings
    for table in (settings.table_name, settings.audit_table_name):
        items = client.scan(TableName=table)["Items"]
        texts[table] = json.dumps(items)
    for where, text in texts.items():
        assert "rt-CANARY" not in text and not [c for c in canaries if c in text], where


# -- the provider client (for the exchange and refresh built on it) ---------------------------


def test_the_provider_client_tells_dead_grants_from_transient_failures(vault: VaultWorld) -> None:
    from chalicelib.vault.providers import discovered_endpoints

    w = vault
    w.connected()
    http = w.stack.container.vault_provider_client
    endpoints = discovered_endpoints(http, w.provider.issuer)
    client = OAuthClient(CLIENT_ID, CLIENT_SECRET)
    token = w.provider.issued_refresh_tokens[-1]
    narrowed = http.refresh(endpoints, client, token, ["calendar.readonly"])
    assert narrowed.scope == ("calendar.readonly",) and narrowed.refresh_token is None
    w.provider.fail_next = [
        error_answer(503, retry_after="7"),
        error_answer(429),
        error_answer(400, "invalid_rapt"),
    ]
    with pytest.raises(ProviderTransient) as down:
        http.refresh(endpoints, client, token)
    assert down.value.retry_after == 7
    with pytest.raises(ProviderTransient):
        http.refresh(endpoints, client, token)
    with pytest.raises(GrantDead, match="invalid_rapt"):
        http.refresh(endpoints, client, token)
    with pytest.raises(ProviderRejected):
        http.refresh(endpoints, client, token, ["gmail.send"])
    http.revoke(endpoints, client, token)
    with pytest.raises(GrantDead, match="invalid_grant"):
        http.refresh(endpoints, client, token)


# -- round trips -------------------------------------------------------------------------------


def test_every_vault_route_is_within_its_round_trip_budget(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    spare = w.connected(sub="g-spare")
    started = w.connect()
    consent = w.provider.authorize(started["authorize_url"], sub="g-new")
    token = w.med.admin_token
    cases: dict[tuple[str, str], Callable[[], Reply]] = {
        ("GET", "/vault/providers"): lambda: w.stack.call("GET", "/vault/providers", token),
        ("PUT", "/vault/providers/{provider}"): lambda: w.stack.call(
            "PUT",
            "/vault/providers/oauth2",
            token,
            {
                "client_id": "c",
                "client_secret": "s",
                "authorization_endpoint": "https://as.example/authorize",
                "token_endpoint": "https://as.example/token",
                "scopes": ["read"],
            },
        ),
        ("POST", "/vault/connect"): lambda: w.stack.call(
            "POST", "/vault/connect", token, {"provider": "local-google"}
        ),
        ("GET", "/vault/callback"): lambda: w.callback(w.med_admin, consent),
        ("GET", "/vault/connections"): lambda: w.stack.call("GET", "/vault/connections", token),
        ("GET", "/vault/connections/{connection_id}"): lambda: w.stack.call(
            "GET", f"/vault/connections/{cid}", token
        ),
        ("PATCH", "/vault/connections/{connection_id}"): lambda: w.stack.call(
            "PATCH",
            f"/vault/connections/{cid}",
            token,
            {"label": "x", "allowed_scopes": ["calendar.readonly"]},
        ),
        ("DELETE", "/vault/connections/{connection_id}"): lambda: w.stack.call(
            "DELETE", f"/vault/connections/{spare}", token
        ),
    }
    assert set(cases) == set(VAULT_ROUTES) - set(EXCHANGE_ROUTES)  # those: test_vault_exchange.py
    for route, case in cases.items():
        with dynamodb_calls() as calls:
            reply = case()
        assert reply.status < 400, (route, reply.status, reply.body)
        assert sum(calls.values()) <= VAULT_ROUTES[route], (route, dict(calls))
    # A reconnect and a signed-in person's writes stay within the budget too.
    again = w.connect()
    with dynamodb_calls() as calls:
        reply = w.callback(w.med_admin, w.provider.authorize(again["authorize_url"], sub="g-new"))
    assert outcome(reply) == {"connected": started["connection_id"]}
    assert sum(calls.values()) <= VAULT_ROUTES[("GET", "/vault/callback")], dict(calls)
    for method, path, body in (
        ("POST", "/vault/connect", {"provider": "local-google", "agent_ids": [w.agent.agent_id]}),
        ("PATCH", f"/vault/connections/{cid}", {"agent_ids": [w.agent.agent_id]}),
        ("DELETE", f"/vault/connections/{cid}", None),
    ):
        with dynamodb_calls() as calls:
            reply = w.med_admin.request(method, path, body)
        assert reply.status < 400, (method, reply.body)
        assert sum(calls.values()) <= 3, (method, dict(calls))


def test_a_connect_never_finished_shows_as_failed_once_its_state_expired(
    vault: VaultWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    w = vault
    abandoned = w.connect(agent_ids=[w.agent.agent_id])
    consent = w.provider.authorize(abandoned["authorize_url"])  # ...and the admin walks away
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 601)  # past the state's 10 minutes
    fresh = w.connect(agent_ids=[w.agent.agent_id])

    listed = w.stack.call("GET", "/vault/connections", w.med.admin_token)
    assert listed.status == 200, listed.body
    shown = {c["connection_id"]: (c["status"], c["status_reason"]) for c in listed.body["connections"]}
    assert shown == {
        abandoned["connection_id"]: ("failed", "connect_expired"),
        fresh["connection_id"]: ("pending", None),
    }
    one = w.stack.call("GET", f"/vault/connections/{abandoned['connection_id']}", w.med.admin_token)
    assert (one.body["status"], one.body["status_reason"]) == ("failed", "connect_expired")
    # Too late to finish it: the callback refuses, the record is still not live.
    assert outcome(w.callback(w.med_admin, consent)) == {"error": "invalid_state"}
    again = w.stack.call("GET", f"/vault/connections/{abandoned['connection_id']}", w.med.admin_token)
    assert (again.body["status"], again.body["status_reason"]) == ("failed", "connect_expired")
    refused = w.stack.call(
        "POST", "/vault/exchange", w.agent.token, {"connection_id": abandoned["connection_id"]}
    )
    assert refused.status == 404
