"""Agents exchange for provider access tokens (issue 13): the cached path and its round
trips, refresh under the lease (one refresh across processes, rotation's lost race), down-
scoping, every refusal (identical 404s, agent and scope not allowed, needs_reauth with the
webhook, transient failures with Retry-After), the RFC 8693 form, the admin's check, the
audit events and the token canary."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib.domain.principal import Principal, Role
from chalicelib.services.call import Call
from chalicelib.services.vault_exchange import VaultExchangeService
from chalicelib.vault.client import ProviderClient
from chalicelib.vault.transport import HttpAnswer
from tests.functional.conftest import Reply
from tests.functional.fake_vault_provider import error_answer
from tests.functional.test_round_trips import dynamodb_calls
from tests.functional.vault_helpers import EXCHANGE_ROUTES, UNKNOWN_ID, VaultWorld, vault_world

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def vault(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[VaultWorld]:
    with vault_world(monkeypatch) as world:
        yield world


class Hooked:
    """The fake provider behind a transport that can run something before a token request
    and make it slow (another process acting meanwhile)."""

    def __init__(self, world: VaultWorld) -> None:
        self.provider = world.provider
        self.before_token: list[Callable[[], None]] = []
        self.delay = 0.0
        self._lock = threading.Lock()

    def get(self, url: str) -> tuple[int, bytes]:
        return self.provider.get(url)

    def post(self, url: str, form: Mapping[str, str], basic_auth: tuple[str, str] | None) -> HttpAnswer:
        if url.endswith("/token") and form.get("grant_type") == "refresh_token":
            while self.before_token:
                self.before_token.pop(0)()
            time.sleep(self.delay)
        with self._lock:
            return self.provider.post(url, form, basic_auth)


def _hook(w: VaultWorld) -> Hooked:
    hooked = Hooked(w)
    w.stack.container.vault_provider_client = ProviderClient(transport=hooked)
    return hooked


def exchange(w: VaultWorld, cid: str, scopes: list[str] | None = None, token: str | None = None) -> Reply:
    body: dict[str, Any] = {"connection_id": cid}
    if scopes is not None:
        body["scopes"] = scopes
    return w.stack.call("POST", "/vault/exchange", token or w.agent.token, body)


def _table() -> Any:
    return boto3.client("dynamodb")


def _item(w: VaultWorld, cid: str) -> dict[str, Any]:
    key = {"pk": {"S": f"T#{w.med.tenant_id}"}, "sk": {"S": f"CONN#{cid}"}}
    return dict(_table().get_item(TableName=w.stack.container.settings.table_name, Key=key)["Item"])


def _age(w: VaultWorld, cid: str, seconds_left: int) -> None:
    """Make every cached access token (the whole grant's and the down-scoped ones) expire
    `seconds_left` from now."""
    from chalicelib.domain.vault import connection_context
    from chalicelib.services.vault import decrypt, encrypt
    from chalicelib.services.vault_exchange import SCOPED_TOKENS

    key = {"pk": {"S": f"T#{w.med.tenant_id}"}, "sk": {"S": f"CONN#{cid}"}}
    expires = int(time.time()) + seconds_left
    values: dict[str, Any] = {":e": {"N": str(expires)}}
    update = "SET access_token_expires_at = :e"
    blob = _item(w, cid).get("scoped_tokens_ciphertext", {}).get("S")
    if blob:
        encryptor = w.stack.container.encryptor
        context = connection_context(w.med.tenant_id, cid, SCOPED_TOKENS)
        slots = json.loads(decrypt(encryptor, blob, context))
        for entry in slots.values():  # the same lifetime, spent up to `seconds_left`
            entry["issued_at"] = expires - (entry["expires_at"] - entry["issued_at"])
            entry["expires_at"] = expires
        values[":s"] = {"S": encrypt(encryptor, json.dumps(slots), context)}
        update += ", scoped_tokens_ciphertext = :s"
    _table().update_item(
        TableName=w.stack.container.settings.table_name,
        Key=key,
        UpdateExpression=update,
        ExpressionAttributeValues=values,
    )


def _events(w: VaultWorld, kind: str) -> list[dict[str, Any]]:
    return [e for e in w.stack.audit(w.med) if e["type"] == kind]


def _status(w: VaultWorld, cid: str) -> dict[str, Any]:
    reply = w.stack.call("GET", f"/vault/connections/{cid}", w.med.admin_token)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def _without_request_id(reply: Reply) -> tuple[int, Any, dict[str, str]]:
    body = dict(reply.body)
    body.pop("request_id", None)
    headers = {k.lower(): v for k, v in reply.headers.items() if k.lower() != "x-request-id"}
    return reply.status, body, headers


# -- the cached path ---------------------------------------------------------------------------


def test_a_cached_token_is_served_within_two_round_trips_and_never_a_refresh_token(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    first = exchange(w, cid)  # the grant holds openid, email, offline_access: down-scoped once
    assert first.status == 200, first.body
    issued = w.provider.issued_access_tokens[-1]
    calls_before = w.provider.token_endpoint_calls
    with dynamodb_calls() as calls:
        reply = exchange(w, cid)
    assert reply.status == 200, reply.body
    assert sum(calls.values()) <= EXCHANGE_ROUTES[("POST", "/vault/exchange")] - 1, dict(calls)
    assert reply.body["access_token"] == issued and reply.body["token_type"] == "Bearer"
    assert reply.body["connection_id"] == cid and reply.body["provider"] == "local-google"
    assert 3000 < reply.body["expires_in"] <= 3600
    assert "refresh_token" not in reply.body and reply.headers["Cache-Control"] == "no-store"
    assert w.provider.token_endpoint_calls == calls_before  # from the cache
    assert _status(w, cid)["last_used_at"] is not None


def test_a_token_with_less_than_five_minutes_left_is_refreshed_and_stored(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    first = w.provider.issued_access_tokens[-1]
    _age(w, cid, 240)
    with dynamodb_calls() as calls:
        reply = exchange(w, cid)
    assert reply.status == 200, reply.body
    assert sum(calls.values()) <= 3, dict(calls)  # read, lease, transaction
    assert reply.body["access_token"] != first
    assert reply.body["access_token"] == w.provider.issued_access_tokens[-1]
    again = exchange(w, cid)
    assert again.body["access_token"] == reply.body["access_token"]  # cached now
    item = _item(w, cid)
    assert "lease_owner" not in item and "lease_until" not in item
    assert item["expiry_bucket"]["S"].startswith("vault-refresh#")


def test_fewer_scopes_get_a_down_scoped_token_cached_apart(vault: VaultWorld) -> None:
    w = vault
    started = w.connect(agent_ids=[w.agent.agent_id], scopes=["calendar.readonly", "gmail.readonly"])
    w.callback(w.med_admin, w.provider.authorize(started["authorize_url"]))
    cid = started["connection_id"]
    main = exchange(w, cid)
    assert sorted(main.body["scope"].split()) == ["calendar.readonly", "gmail.readonly"]
    narrow = exchange(w, cid, ["calendar.readonly"])
    assert narrow.status == 200, narrow.body
    assert narrow.body["scope"] == "calendar.readonly"
    assert narrow.body["access_token"] != main.body["access_token"]
    calls = w.provider.token_endpoint_calls
    assert exchange(w, cid, ["calendar.readonly"]).body["access_token"] == narrow.body["access_token"]
    assert exchange(w, cid).body["access_token"] == main.body["access_token"]
    assert w.provider.token_endpoint_calls == calls


def test_a_token_carries_exactly_the_scopes_asked_never_the_grants_identity_scopes(vault: VaultWorld) -> None:
    """The demo's ask: a connection for the calendar, `scopes=["calendar.readonly"]`. The
    grant also holds openid and offline_access (ID token, refresh token); the agent's token
    must not, and the answer's `scope` is what the provider's token really carries."""
    w = vault

    def connection(scopes: list[str], sub: str) -> str:
        started = w.connect(agent_ids=[w.agent.agent_id], scopes=scopes)
        w.callback(w.med_admin, w.provider.authorize(started["authorize_url"], sub=sub))
        return str(started["connection_id"])

    calendar = connection(["calendar.readonly"], "g-calendar")
    assert set(_status(w, calendar)["granted_scopes"]) == {"openid", "offline_access", "calendar.readonly"}
    with_email = connection(["email", "calendar.readonly"], "g-email")
    for cid, asked in [(calendar, ["calendar.readonly"]), (calendar, None), (with_email, None)]:
        reply = exchange(w, cid, asked)
        assert reply.status == 200, reply.body
        assert reply.body["scope"] == "calendar.readonly", (cid, asked)
        assert w.provider.access_token_scopes[reply.body["access_token"]] == ("calendar.readonly",)
    rfc8693 = _token_exchange(w, resource=f"urn:vaultguard:connection:{calendar}", scope="calendar.readonly")
    assert rfc8693.status == 200 and rfc8693.body["scope"] == "calendar.readonly"
    # An identity scope the connection allows is served only when asked for, and then exactly.
    email = exchange(w, with_email, ["email"])
    assert email.status == 200 and email.body["scope"] == "email"
    assert w.provider.access_token_scopes[email.body["access_token"]] == ("email",)


# -- refusals ------------------------------------------------------------------------------------


def test_unknown_foreign_and_deleted_connections_get_identical_404s(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    nat_agent = w.stack.agent(w.nat)
    gone = w.connected(sub="g-gone")
    assert w.stack.call("DELETE", f"/vault/connections/{gone}", w.med.admin_token).status == 200
    foreign = _without_request_id(exchange(w, cid, token=nat_agent.token))
    unknown = _without_request_id(exchange(w, UNKNOWN_ID, token=nat_agent.token))
    deleted = _without_request_id(exchange(w, gone))
    assert foreign == unknown == deleted
    assert foreign[0] == 404 and foreign[1]["error"] == "not_found"
    assert _events(w, "vault.exchange_denied")[0]["detail"]["reason"] == "not_found"


def test_an_agent_the_connection_does_not_name_gets_403(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    other = w.stack.agent(w.med, "other")
    reply = exchange(w, cid, token=other.token)
    assert (reply.status, reply.body["error"]) == (403, "access_denied")
    denied = _events(w, "vault.exchange_denied")
    assert denied[0]["detail"]["reason"] == "agent_not_allowed" and denied[0]["actor"]["id"] == other.agent_id


def test_scopes_outside_the_allowed_get_invalid_scope_with_the_missing(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    w.stack.call(
        "PATCH", f"/vault/connections/{cid}", w.med.admin_token, {"allowed_scopes": ["calendar.readonly"]}
    )
    reply = exchange(w, cid, ["calendar.readonly", "gmail.readonly"])
    assert (reply.status, reply.body["error"]) == (400, "invalid_scope")
    assert reply.body["missing_scopes"] == ["gmail.readonly"]
    assert _events(w, "vault.exchange_denied")[0]["detail"]["missing_scopes"] == ["gmail.readonly"]
    malformed = exchange(w, "not-a-connection")
    assert (malformed.status, malformed.body["error"]) == (400, "invalid_request")


def test_a_dead_grant_makes_the_connection_need_reauthorization_and_tells_the_admins(
    vault: VaultWorld,
) -> None:
    w = vault
    sent: list[tuple[str, str, dict[str, Any]]] = []

    class Recorder:
        def keys(self, tenant_id: str) -> list[Any]:
            return []

        def stepup_event(
            self, event_type: str, tenant_id: str, payload: dict[str, Any], snapshot: Any = None
        ) -> None:
            sent.append((event_type, tenant_id, payload))

    service = w.stack.container.vault_exchange
    service._notifier = Recorder()
    cid = w.connected()
    _age(w, cid, -10)
    w.provider.fail_next = [error_answer(400, "invalid_grant")]
    reply = exchange(w, cid)
    assert reply.status == 409, reply.body
    assert reply.body["error"] == "connection_needs_reauthorization"
    assert (reply.body["connection_id"], reply.body["reason"]) == (cid, "invalid_grant")
    view = _status(w, cid)
    assert (view["status"], view["status_reason"]) == ("needs_reauth", "invalid_grant")
    listed = w.stack.call("GET", "/vault/connections", w.med.admin_token).body["connections"]
    assert [c["status"] for c in listed if c["connection_id"] == cid] == ["needs_reauth"]
    assert _events(w, "vault.needs_reauth")[0]["detail"]["reason"] == "invalid_grant"
    assert sent == [("vault.needs_reauth", w.med.tenant_id, sent[0][2])]
    assert sent[0][2]["connection_id"] == cid
    calls = w.provider.token_endpoint_calls
    again = exchange(w, cid)
    assert again.status == 409 and w.provider.token_endpoint_calls == calls  # no provider call


@pytest.mark.parametrize(
    ("answer", "retry_after"),
    [(error_answer(503), "2"), (error_answer(429, "rate_limited", retry_after="7"), "7")],
)
def test_transient_failures_answer_503_with_retry_after_and_never_need_reauth(
    vault: VaultWorld, answer: HttpAnswer, retry_after: str
) -> None:
    w = vault
    cid = w.connected()
    _age(w, cid, -10)
    w.provider.fail_next = [answer]
    reply = exchange(w, cid)
    assert (reply.status, reply.body["error"]) == (503, "temporarily_unavailable")
    assert reply.headers["Retry-After"] == retry_after
    assert _status(w, cid)["status"] == "refresh_failing"
    assert _events(w, "vault.refresh_failed")[0]["detail"]["reason"].endswith(answer.status.__str__())
    calls = w.provider.token_endpoint_calls
    assert exchange(w, cid).status == 503 and w.provider.token_endpoint_calls == calls  # backing off
    item = _item(w, cid)
    _table().update_item(
        TableName=w.stack.container.settings.table_name,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET next_attempt_at = :n",
        ExpressionAttributeValues={":n": {"N": str(int(time.time()) - 1)}},
    )
    healthy = exchange(w, cid)
    assert healthy.status == 200, healthy.body
    assert (_status(w, cid)["status"], _status(w, cid)["status_reason"]) == ("active", None)


def test_a_token_that_still_works_is_served_while_the_provider_fails(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    current = exchange(w, cid).body["access_token"]
    _age(w, cid, 120)
    w.provider.fail_next = [error_answer(500)]
    reply = exchange(w, cid)
    assert reply.status == 200 and reply.body["access_token"] == current
    assert _status(w, cid)["status"] == "refresh_failing"


# -- the lease -------------------------------------------------------------------------------------


def _agent_call(w: VaultWorld) -> Call:
    principal = Principal(
        role=Role.AGENT, subject=w.agent.agent_id, client_id=w.agent.client_id, tenant_id=w.med.tenant_id
    )
    return Call(principal, "req-test", time.time())


def _second_service(w: VaultWorld) -> VaultExchangeService:
    c = w.stack.container
    return VaultExchangeService(
        c.db, c.connection_repo, c.batch_reader, c.auditor, c.vault_support, c.notifier
    )


@pytest.mark.parametrize("rotate", [False, True])
def test_two_processes_on_a_stale_token_make_one_refresh_and_serve_the_same_token(
    vault: VaultWorld, rotate: bool
) -> None:
    w = vault
    w.provider.rotate = rotate
    cid = w.connected()
    hooked = _hook(w)
    hooked.delay = 0.4
    _age(w, cid, -10)
    calls = w.provider.token_endpoint_calls
    services = [w.stack.container.vault_exchange, _second_service(w)]
    answers: list[Any] = [None, None]

    def run(index: int) -> None:
        try:
            answers[index] = services[index].exchange(_agent_call(w), cid, None)
        except Exception as exc:  # noqa: BLE001 - reported below
            answers[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert all(isinstance(a, dict) for a in answers), answers
    assert w.provider.token_endpoint_calls == calls + 1
    assert answers[0]["access_token"] == answers[1]["access_token"] == w.provider.issued_access_tokens[-1]
    assert _status(w, cid)["status"] == "active"


def test_a_holder_that_lost_its_lease_under_rotation_rereads_instead_of_declaring_the_grant_dead(
    vault: VaultWorld,
) -> None:
    w = vault
    w.provider.rotate = True
    cid = w.connected()
    hooked = _hook(w)
    _age(w, cid, -10)
    other = _second_service(w)
    table = w.stack.container.settings.table_name

    def another_process_takes_over() -> None:
        # Our lease ran out while we were at the provider; another process took it, used
        # the refresh token (rotated) and stored the new one.
        item = _item(w, cid)
        _table().update_item(
            TableName=table,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET lease_until = :t",
            ExpressionAttributeValues={":t": {"N": str(int(time.time()) - 1)}},
        )
        call = Call(None, "other", time.time())
        from chalicelib.auth.scope import system_scope

        scope = system_scope(w.med.tenant_id)
        connection, snapshot = other._read(call, scope, cid)
        assert connection is not None
        other.force_refresh(call, scope, connection, snapshot)

    hooked.before_token.append(another_process_takes_over)
    reply = exchange(w, cid)
    assert reply.status == 200, reply.body
    assert reply.body["access_token"] == w.provider.issued_access_tokens[-1]
    assert _status(w, cid)["status"] == "active"
    assert not _events(w, "vault.needs_reauth")
    # the stored refresh token is the newest one: the next refresh works
    _age(w, cid, -10)
    assert exchange(w, cid).status == 200


# -- the admin's check ---------------------------------------------------------------------------


def test_check_forces_a_refresh_and_shows_the_connection(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    calls = w.provider.token_endpoint_calls
    with dynamodb_calls() as counted:
        reply = w.stack.call("POST", f"/vault/connections/{cid}/check", w.med.admin_token)
    assert reply.status == 200, reply.body
    assert sum(counted.values()) <= EXCHANGE_ROUTES[("POST", "/vault/connections/{connection_id}/check")]
    assert w.provider.token_endpoint_calls == calls + 1
    assert reply.body["status"] == "active" and "access_token" not in json.dumps(reply.body)
    assert exchange(w, cid).body["access_token"] == w.provider.issued_access_tokens[-1]
    w.provider.fail_next = [error_answer(400, "invalid_grant")]
    dead = w.stack.call("POST", f"/vault/connections/{cid}/check", w.med.admin_token)
    assert (dead.status, dead.body["status"], dead.body["status_reason"]) == (
        200,
        "needs_reauth",
        "invalid_grant",
    )
    nat = w.stack.call("POST", f"/vault/connections/{cid}/check", w.nat.admin_token)
    unknown = w.stack.call("POST", f"/vault/connections/{UNKNOWN_ID}/check", w.nat.admin_token)
    assert _without_request_id(nat) == _without_request_id(unknown) and nat.status == 404
    assert w.stack.call("POST", f"/vault/connections/{cid}/check", w.agent.token).status == 403


# -- RFC 8693 on the token endpoint -------------------------------------------------------------


def _token_exchange(w: VaultWorld, **params: str) -> Reply:
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": w.agent.token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        **params,
    }
    return w.stack.form("/oauth/token", urlencode(form))


def test_the_token_endpoint_exchanges_as_rfc_8693(vault: VaultWorld) -> None:
    w = vault
    cid = w.connected()
    assert exchange(w, cid).status == 200  # the token of the allowed API scopes, cached
    with dynamodb_calls() as calls:
        reply = _token_exchange(w, resource=f"urn:vaultguard:connection:{cid}")
    assert reply.status == 200, reply.body
    assert sum(calls.values()) <= 2, dict(calls)
    assert reply.body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert reply.body["access_token"] == w.provider.issued_access_tokens[-1]
    assert reply.body["token_type"] == "Bearer" and reply.headers["Cache-Control"] == "no-store"
    narrow = _token_exchange(w, resource=f"urn:vaultguard:connection:{cid}", scope="calendar.readonly")
    assert narrow.status == 200 and narrow.body["scope"] == "calendar.readonly"
    nat_agent = w.stack.agent(w.nat)
    foreign = _token_exchange(w, resource=f"urn:vaultguard:connection:{cid}", subject_token=nat_agent.token)
    unknown = _token_exchange(
        w, resource=f"urn:vaultguard:connection:{UNKNOWN_ID}", subject_token=nat_agent.token
    )
    assert _without_request_id(foreign) == _without_request_id(unknown)
    assert (foreign.status, foreign.body["error"]) == (400, "invalid_target")
    bad_scope = _token_exchange(w, resource=f"urn:vaultguard:connection:{cid}", scope="admin.all")
    assert (bad_scope.status, bad_scope.body["error"]) == (400, "invalid_scope")
    for bad in (
        {"resource": "https://elsewhere.example"},
        {"resource": f"urn:vaultguard:connection:{cid}", "subject_token": "not-a-token"},
        {"resource": f"urn:vaultguard:connection:{cid}", "subject_token": w.med.admin_token},
        {"resource": f"urn:vaultguard:connection:{cid}", "subject_token_type": "urn:x"},
    ):
        refused = _token_exchange(w, **bad)
        assert refused.status in (400, 401) and refused.body["error"] in (
            "invalid_request",
            "invalid_target",
            "unauthorized_client",
        ), (bad, refused.body)
    metadata = w.stack.call("GET", "/.well-known/oauth-authorization-server").body
    assert TOKEN_EXCHANGE in metadata["grant_types_supported"]


# -- audit and the canary --------------------------------------------------------------------------


def test_audit_has_fingerprints_and_no_token_string_appears_outside_its_ciphertext(
    vault: VaultWorld, caplog: pytest.LogCaptureFixture
) -> None:
    import hashlib

    w = vault
    w.provider.rotate = True
    replies: list[Reply] = []
    with caplog.at_level(logging.DEBUG):
        cid = w.connected()
        replies.append(exchange(w, cid))
        _age(w, cid, 100)
        replies.append(exchange(w, cid))
        replies.append(exchange(w, cid, ["calendar.readonly"]))
        replies.append(w.stack.call("POST", f"/vault/connections/{cid}/check", w.med.admin_token))
        w.provider.fail_next = [error_answer(503)]
        _age(w, cid, -10)
        replies.append(exchange(w, cid))
    exchanged = _events(w, "vault.exchanged")
    assert len(exchanged) == 3
    served = [r.body["access_token"] for r in replies if r.status == 200 and "access_token" in r.body]
    assert {e["token_sha256"] for e in exchanged} == {hashlib.sha256(t.encode()).hexdigest() for t in served}
    assert exchanged[0]["actor"]["id"] == w.agent.agent_id and exchanged[0]["detail"]["scopes"]
    refresh_tokens = w.provider.issued_refresh_tokens
    access_tokens = w.provider.issued_access_tokens
    texts = {
        "logs": caplog.text,
        "audit": json.dumps(w.stack.audit(w.med)),
        "check": json.dumps(replies[3].body),
    }
    settings = w.stack.container.settings
    for table in (settings.table_name, settings.audit_table_name):
        texts[table] = json.dumps(_table().scan(TableName=table)["Items"])
    for where, text in texts.items():
        assert not [t for t in refresh_tokens + access_tokens if t in text], where


# -- the idle-refresh job --------------------------------------------------------------------------


def test_the_job_refreshes_idle_connections_from_the_index_and_finds_revoked_grants(
    vault: VaultWorld,
) -> None:
    from chalicelib.jobs.vault_refresh import VaultRefreshJob

    w = vault
    idle = w.connected(sub="g-idle")
    revoked = w.connected(sub="g-revoked")
    busy = w.connected(sub="g-busy")
    assert _item(w, busy)["expiry_bucket"]["S"].startswith("vault-refresh#")  # due in a week
    w.provider.grants[w.provider.issued_refresh_tokens[1]].revoked = True  # revoked at the provider
    job = VaultRefreshJob(w.stack.container.vault_exchange)
    week = 7 * 86400 + 60
    calls = w.provider.token_endpoint_calls
    assert job.run()["examined"] == 0  # nothing is due yet
    with dynamodb_calls() as counted:
        summary = job.run(now=time.time() + week)
    assert "Scan" not in counted
    assert (summary["examined"], summary["refreshed"], summary["needs_reauth"]) == (3, 2, 1), summary
    assert w.provider.token_endpoint_calls == calls + 3
    assert _status(w, idle)["status"] == "active" and _status(w, revoked)["status"] == "needs_reauth"
    assert "expiry_bucket" not in _item(w, revoked)
    assert job.run(now=time.time() + week - 3600)["examined"] == 0  # next due a week after the refresh
