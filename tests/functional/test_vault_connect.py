"""Connecting a provider account (issue 13): POST /vault/connect, the provider's consent, and
GET /vault/callback against an in-memory provider that verifies the code, the PKCE verifier
and the redirect URI, and issues refresh tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.functional.vault_helpers import VaultWorld, outcome, vault_world


@pytest.fixture
def vault(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[VaultWorld]:
    with vault_world(monkeypatch) as world:
        yield world


def _get(w: VaultWorld, connection_id: str) -> dict:
    reply = w.stack.call("GET", f"/vault/connections/{connection_id}", w.med.admin_token)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def _types(w: VaultWorld) -> list[str]:
    return [e["type"] for e in w.stack.audit(w.med) if e["type"].startswith("vault.")]


def test_connect_consent_callback_makes_an_active_connection(vault: VaultWorld) -> None:
    w = vault
    started = w.connect(scopes=["calendar.readonly"], label="Ada's calendar", agent_ids=[w.agent.agent_id])
    query = {k: v[0] for k, v in parse_qs(urlsplit(started["authorize_url"]).query).items()}
    assert started["authorize_url"].startswith(w.provider.issuer + "/auth?")
    assert query["code_challenge_method"] == "S256" and query["prompt"] == "consent"
    assert query["redirect_uri"] == "http://vaultguard.test/vault/callback"
    assert set(query["scope"].split()) == {"openid", "calendar.readonly", "offline_access"}
    pending = _get(w, started["connection_id"])
    assert pending["status"] == "pending" and pending["provider_account"] is None

    reply = w.callback(w.med_admin, w.provider.authorize(started["authorize_url"], sub="g-ada"))

    assert outcome(reply) == {"connected": started["connection_id"]}
    view = _get(w, started["connection_id"])
    assert view["status"] == "active" and view["status_reason"] is None
    assert view["provider_account"] == {"sub": "g-ada", "email": "ada@medicore.example"}
    assert set(view["granted_scopes"]) >= {"calendar.readonly"} and view["missing_scopes"] == []
    assert view["allowed_scopes"] == ["calendar.readonly"] and view["agent_ids"] == [w.agent.agent_id]
    assert view["client"] == "platform" and view["connected_by"].startswith("usr_")
    assert view["last_refresh_at"] is not None and view["label"] == "Ada's calendar"
    assert _types(w) == ["vault.connected", "vault.connect_started"]


def test_scopes_the_provider_did_not_grant_are_missing(vault: VaultWorld) -> None:
    w = vault
    started = w.connect(scopes=["calendar.readonly", "gmail.readonly"])
    consent = w.provider.authorize(
        started["authorize_url"], granted=("openid", "calendar.readonly", "offline_access")
    )
    assert "connected" in outcome(w.callback(w.med_admin, consent))
    view = _get(w, started["connection_id"])
    assert view["missing_scopes"] == ["gmail.readonly"] and view["allowed_scopes"] == ["calendar.readonly"]


def test_unknown_scope_and_foreign_agent_are_refused_before_anything_is_stored(vault: VaultWorld) -> None:
    w = vault
    nat_agent = w.stack.agent(w.nat)
    for body, error in (
        ({"provider": "local-google", "scopes": ["admin.directory"]}, "invalid_scope"),
        ({"provider": "local-google", "agent_ids": [nat_agent.agent_id]}, "invalid_request"),
        ({"provider": "local-google", "agent_ids": ["agt_" + "0" * 20]}, "invalid_request"),
        ({"provider": "google"}, "invalid_request"),  # no platform client for Google configured
    ):
        reply = w.stack.call("POST", "/vault/connect", w.med.admin_token, body)
        assert (reply.status, reply.body["error"]) == (400, error), (body, reply.body)
    foreign = w.stack.call(
        "POST",
        "/vault/connect",
        w.med.admin_token,
        {"provider": "local-google", "agent_ids": [nat_agent.agent_id]},
    )
    unknown = w.stack.call(
        "POST",
        "/vault/connect",
        w.med.admin_token,
        {"provider": "local-google", "agent_ids": ["agt_" + "0" * 20]},
    )
    assert foreign.body["error_description"] == unknown.body["error_description"]
    assert w.stack.call("GET", "/vault/connections", w.med.admin_token).body["connections"] == []


def test_a_signed_in_admin_person_can_connect(vault: VaultWorld) -> None:
    w = vault
    reply = w.med_admin.request("POST", "/vault/connect", {"provider": "local-google"})
    assert reply.status == 201, reply.body
    consent = w.provider.authorize(reply.body["authorize_url"])
    assert outcome(w.callback(w.med_admin, consent)) == {"connected": reply.body["connection_id"]}


# -- the callback's checks ---------------------------------------------------------------------


def _bad(w: VaultWorld, reply_query: dict[str, str], error: str) -> None:
    assert outcome(w.callback(w.med_admin, reply_query)) == {"error": error}


def test_a_tampered_state_fails_and_changes_nothing(vault: VaultWorld) -> None:
    w = vault
    started = w.connect()
    consent = w.provider.authorize(started["authorize_url"])
    tampered = consent["state"][:-2] + ("AA" if not consent["state"].endswith("AA") else "BB")
    _bad(w, {**consent, "state": tampered}, "invalid_state")
    _bad(w, {**consent, "state": "garbage"}, "invalid_state")
    assert _get(w, started["connection_id"])["status"] == "pending"
    assert outcome(w.callback(w.med_admin, consent)) == {"connected": started["connection_id"]}


def test_a_state_is_used_once(vault: VaultWorld) -> None:
    w = vault
    started = w.connect()
    consent = w.provider.authorize(started["authorize_url"])
    assert "connected" in outcome(w.callback(w.med_admin, consent))
    _bad(w, consent, "invalid_state")
    assert _types(w).count("vault.connected") == 1


def test_an_expired_state_fails(vault: VaultWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    w = vault
    started = w.connect()
    consent = w.provider.authorize(started["authorize_url"])
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 601)
    _bad(w, consent, "invalid_state")
    shown = _get(w, started["connection_id"])
    assert (shown["status"], shown["status_reason"]) == ("failed", "connect_expired")


@pytest.mark.parametrize(
    ("iss", "reason"),
    [("https://evil.example/google", "iss_mismatch"), (None, "iss_missing")],
    ids=["wrong iss", "missing iss while advertised"],
)
def test_the_issuer_of_the_response_must_be_the_expected_one(
    vault: VaultWorld, iss: str | None, reason: str
) -> None:
    w = vault
    started = w.connect()
    consent = {**w.provider.authorize(started["authorize_url"]), "iss": iss}
    calls = w.provider.token_endpoint_calls
    _bad(w, consent, reason)  # type: ignore[arg-type]
    assert w.provider.token_endpoint_calls == calls  # the code was never sent anywhere
    view = _get(w, started["connection_id"])
    assert (view["status"], view["status_reason"]) == ("failed", reason)
    assert _types(w)[0] == "vault.connect_failed"
    _bad(w, consent, "invalid_state")  # the state went with the failure  # type: ignore[arg-type]


def test_a_missing_iss_is_accepted_when_the_provider_does_not_advertise_it(vault: VaultWorld) -> None:
    w = vault
    w.provider.iss_supported = False
    w.stack.container.vault_provider_client._discovered.clear()
    started = w.connect()
    consent = {**w.provider.authorize(started["authorize_url"]), "iss": None}
    assert outcome(w.callback(w.med_admin, consent)) == {"connected": started["connection_id"]}  # type: ignore[arg-type]


def test_an_id_token_with_another_nonce_or_audience_fails(vault: VaultWorld) -> None:
    w = vault
    for override in ({"nonce": "another"}, {"aud": "someone-else"}):
        w.provider.id_token_overrides = override
        started = w.connect()
        _bad(w, w.provider.authorize(started["authorize_url"]), "id_token_invalid")
        assert _get(w, started["connection_id"])["status"] == "failed"
    assert len(w.provider.issued_refresh_tokens) == 2  # issued, never stored


def test_a_wrong_pkce_verifier_is_refused_by_the_provider(vault: VaultWorld) -> None:
    w = vault
    started = w.connect()
    consent = w.provider.authorize(started["authorize_url"])
    w.provider.codes[consent["code"]]["code_challenge"] = "A" * 43  # as if another verifier
    _bad(w, consent, "invalid_grant")


def test_the_person_declining_at_the_provider(vault: VaultWorld) -> None:
    w = vault
    started = w.connect()
    state = w.provider.authorize(started["authorize_url"])["state"]
    _bad(w, {"error": "access_denied", "state": state, "iss": w.provider.issuer}, "access_denied")


@pytest.mark.parametrize("who", ["nobody", "other tenant's admin", "approver"])
def test_only_an_admin_session_of_the_same_tenant_finishes(vault: VaultWorld, who: str) -> None:
    w = vault
    started = w.connect()
    consent = w.provider.authorize(started["authorize_url"])
    browser = {"nobody": None, "other tenant's admin": w.nat_admin, "approver": None}[who]
    if who == "approver":
        browser = w.person(w.med, "approver", "apollo")
    unknown = {**consent, "state": consent["state"][:-4] + "AAAA"}
    assert (
        outcome(w.callback(browser, consent))
        == outcome(w.callback(browser, unknown))
        == {"error": "invalid_state"}
    )
    assert _get(w, started["connection_id"])["status"] == "pending"
    assert outcome(w.callback(w.med_admin, consent)) == {"connected": started["connection_id"]}


# -- reconnecting ------------------------------------------------------------------------------


def test_reconnecting_the_same_account_keeps_the_id_and_the_providers_single_grant(vault: VaultWorld) -> None:
    """local-google, like Google, keeps one grant per person and client: the reconnect adds to
    it, so revoking the old refresh token would end the new one too; it is left alone."""
    w = vault
    first = w.connected(sub="g-ada")
    w.stack.call("PATCH", f"/vault/connections/{first}", w.med.admin_token, {"label": "kept"})

    again = w.connect()
    assert again["connection_id"] != first
    reply = w.callback(w.med_admin, w.provider.authorize(again["authorize_url"], sub="g-ada"))

    assert outcome(reply) == {"connected": first}
    assert w.provider.revoked == []
    view = _get(w, first)
    assert view["status"] == "active" and view["label"] == "kept"
    superseded = _get(w, again["connection_id"])
    assert (superseded["status"], superseded["superseded_by"]) == ("superseded", first)
    listed = w.stack.call("GET", "/vault/connections", w.med.admin_token).body["connections"]
    assert [c["connection_id"] for c in listed] == [first]
    event = next(e for e in w.stack.audit(w.med) if e["type"] == "vault.reconnected")
    assert event["detail"]["connection_id"] == first
    assert event["detail"]["old_refresh_token"] == "skipped_same_grant"

    other = w.connected(sub="g-bob")  # another account: a connection of its own
    assert other != first


def test_reconnecting_with_a_provider_of_separate_grants_revokes_the_old_token(vault: VaultWorld) -> None:
    w = vault
    w.provider.clients["med-client"] = "med-secret"
    body = {
        "client_id": "med-client",
        "client_secret": "med-secret",
        "issuer": w.provider.issuer,
        "scopes": ["openid", "calendar.readonly", "offline_access"],
    }
    assert w.stack.call("PUT", "/vault/providers/oidc", w.med.admin_token, body).status == 201
    ids = []
    for _ in range(2):
        started = w.connect(provider="oidc")
        ids.append(started["connection_id"])
        reply = w.callback(w.med_admin, w.provider.authorize(started["authorize_url"], sub="g-ada"))
        assert outcome(reply) == {"connected": ids[0]}
        if len(ids) == 1:
            old_token = w.provider.issued_refresh_tokens[-1]

    assert w.provider.revoked == [old_token] and w.provider.grants[old_token].revoked
    assert _get(w, ids[0])["status"] == "active"
    event = next(e for e in w.stack.audit(w.med) if e["type"] == "vault.reconnected")
    assert event["detail"]["connection_id"] == ids[0] and event["detail"]["old_refresh_token"] == "revoked"


def test_google_preset_asks_for_offline_access_with_consent(
    vault: VaultWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = vault
    reply = w.stack.call(
        "PUT",
        "/vault/providers/google",
        w.med.admin_token,
        {"client_id": "med-google.apps.example", "client_secret": "med-google-secret"},
    )
    assert reply.status == 201, reply.body
    started = w.connect(provider="google", scopes=["https://www.googleapis.com/auth/calendar.readonly"])
    url = urlsplit(started["authorize_url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://accounts.google.com/o/oauth2/v2/auth"
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert "include_granted_scopes" not in query and query["client_id"] == "med-google.apps.example"
    assert query["scope"] == "openid https://www.googleapis.com/auth/calendar.readonly"
