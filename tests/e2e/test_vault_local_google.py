"""The token vault against the real local OAuth server: `make run`'s server with its identity
provider playing Google (local-google, node-oidc-provider), over HTTP, as an admin and an agent
use it. Access tokens there live TTL seconds, less than the vault's 5-minute margin: such a
token is served for the first half of its life, then the next exchange refreshes it.

- 20 agents' exchanges at once on an expired access token: one refresh at the provider (its log
  counts the tokens it issues), 20 working tokens; without refresh-token rotation (like
  Google) and with it (where a second use of a spent refresh token ends the grant).
- The grant revoked at the provider: the next exchange answers connection_needs_reauthorization
  and the connection is needs_reauth; reconnecting the same account brings the same id back.
- A fault-injecting proxy in front of the provider's token endpoint (500, 429 + Retry-After,
  a hang longer than VaultGuard's provider timeout): 503 temporarily_unavailable with
  Retry-After, refresh_failing, never needs_reauth; after the backoff a working provider heals it.
- NatSupply's admin and agent find nothing of MediCore's connection on any vault route.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from tests.e2e.conftest import LocalServer, free_port
from tests.e2e.test_cli_vault import consent, medicore_admin
from tests.e2e.test_stepup_lifecycle import bearer, client_token, warm_sessions

TTL = 15  # seconds an access token of local-google lives in this module
TIMEOUT = 60
RACERS = 20
ISSUED_BY_REFRESH = "google: token issued (refresh_token) to vaultguard-vault-local"


def start_server(tmp_path_factory: pytest.TempPathFactory, name: str, *, rotate: bool) -> LocalServer:
    srv = LocalServer(free_port(), tmp_path_factory.mktemp(name) / "state")
    srv.extra_env = {
        "VAULTGUARD_IDP_PORT": str(free_port()),
        "VAULTGUARD_LOCAL_GOOGLE_ACCESS_TOKEN_TTL": str(TTL),
        "VAULTGUARD_LOCAL_GOOGLE_ROTATE_REFRESH_TOKENS": "true" if rotate else "false",
    }
    srv.start()
    return srv


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """Refresh tokens that do not rotate (like Google's)."""
    srv = start_server(tmp_path_factory, "vault-plain", rotate=False)
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.stop()


@pytest.fixture(scope="module")
def rotating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """Refresh tokens that rotate on every refresh; reusing a spent one ends the grant."""
    srv = start_server(tmp_path_factory, "vault-rotating", rotate=True)
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.stop()


# -- what the admin, the agent and the provider are asked ------------------------------------


def admin(server: LocalServer, tenant: str = "medicore") -> dict[str, str]:
    return bearer(client_token(server, tenant, "admin"))


def agent_id(server: LocalServer, tenant: str = "medicore") -> str:
    return str(server.state["tenants"][tenant]["agent"]["agent_id"])


def google(server: LocalServer) -> dict[str, str]:
    """local-google as local.json lists it: issuer and VaultGuard's client there."""
    return dict(server.state["vault_providers"]["local-google"])


def discovery(server: LocalServer) -> dict[str, Any]:
    reply = requests.get(f"{google(server)['issuer']}/.well-known/openid-configuration", timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def refreshes_at_provider(server: LocalServer) -> int:
    """Refresh-token grants the provider has answered so far (one log line each)."""
    return (server.state_dir / "idp" / "server.log").read_text().count(ISSUED_BY_REFRESH)


def connect(server: LocalServer, provider: str = "local-google", **body: Any) -> str:
    """POST /vault/connect, then the admin's browser through the provider's sign-in and
    consent back to the callback; the id the dashboard is told was connected."""
    body = {"scopes": ["calendar.readonly"], "agent_ids": [agent_id(server)], **body}
    reply = requests.post(
        f"{server.url}/vault/connect",
        json={"provider": provider, **body},
        headers=admin(server),
        timeout=TIMEOUT,
    )
    assert reply.status_code == 201, reply.text
    back = consent(server, medicore_admin(server), reply.json()["authorize_url"])
    assert set(back) == {"connected"}, back
    return back["connected"]


def connection(server: LocalServer, connection_id: str) -> dict[str, Any]:
    reply = requests.get(
        f"{server.url}/vault/connections/{connection_id}", headers=admin(server), timeout=TIMEOUT
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def exchange(
    server: LocalServer,
    connection_id: str,
    scopes: list[str] | None = None,
    *,
    token: str | None = None,
    http: requests.Session | None = None,
) -> requests.Response:
    body: dict[str, Any] = {"connection_id": connection_id}
    if scopes is not None:
        body["scopes"] = scopes
    return (http or requests.Session()).post(
        f"{server.url}/vault/exchange",
        json=body,
        headers=bearer(token or client_token(server, "medicore", "agent")),
        timeout=TIMEOUT,
    )


def calendar(server: LocalServer, access_token: str) -> requests.Response:
    return requests.get(
        f"{google(server)['issuer']}/calendar/v3/calendars/primary/events",
        headers=bearer(access_token),
        timeout=TIMEOUT,
    )


def wait_until_expired(server: LocalServer, connection_id: str) -> None:
    """Until the connection's access token (stored at its last refresh) has expired."""
    last = connection(server, connection_id)["last_refresh_at"]
    refreshed = datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()
    time.sleep(max(0.0, refreshed + TTL + 1.5 - time.time()))


def parallel_exchanges(server: LocalServer, connection_id: str) -> list[requests.Response]:
    """RACERS exchanges released together, each on its own warm connection."""
    token = client_token(server, "medicore", "agent")
    with warm_sessions(server, RACERS) as sessions:
        barrier = threading.Barrier(RACERS)

        def one(http: requests.Session) -> requests.Response:
            barrier.wait(timeout=TIMEOUT)
            return exchange(server, connection_id, token=token, http=http)

        with ThreadPoolExecutor(max_workers=RACERS) as pool:
            return list(pool.map(one, sessions))


# -- one refresh for twenty exchanges -------------------------------------------------------


@pytest.mark.parametrize("mode", ["plain", "rotating"])
def test_twenty_exchanges_on_an_expired_token_make_one_refresh_and_all_work(
    mode: str, request: pytest.FixtureRequest
) -> None:
    server: LocalServer = request.getfixturevalue(mode)
    connection_id = connect(server, label=f"Clinic calendar ({mode})")
    assert connection(server, connection_id)["status"] == "active"
    wait_until_expired(server, connection_id)

    before = refreshes_at_provider(server)
    replies = parallel_exchanges(server, connection_id)
    assert [r.status_code for r in replies] == [200] * RACERS, [
        r.text for r in replies if r.status_code != 200
    ]
    assert refreshes_at_provider(server) - before == 1
    tokens = {r.json()["access_token"] for r in replies}
    assert len(tokens) == 1  # the winner's token, served to the 19 that waited for it
    for reply in replies:
        assert reply.headers["Cache-Control"].startswith("no-store")
        assert 0 < reply.json()["expires_in"] <= TTL and "refresh_token" not in reply.json()
    for value in tokens:
        events = calendar(server, value)
        assert events.status_code == 200, events.text
        assert events.json()["summary"] == server.state["users"]["medicore_admin"]["email"]

    # The grant is still good: with rotation, the refresh token stored is the newest one (a
    # second use of a spent one would have ended the grant at the provider).
    checked = requests.post(
        f"{server.url}/vault/connections/{connection_id}/check", headers=admin(server), timeout=TIMEOUT
    )
    assert checked.status_code == 200 and checked.json()["status"] == "active", checked.text
    assert refreshes_at_provider(server) - before == 2
    assert exchange(server, connection_id).status_code == 200


@pytest.mark.parametrize("mode", ["plain", "rotating"])
def test_reconnecting_an_active_connection_keeps_the_id_and_a_working_grant(
    mode: str, request: pytest.FixtureRequest
) -> None:
    """As at Google, the provider keeps one grant per person and client: reconnecting adds
    to it, so revoking the old refresh token would end the new one too."""
    server: LocalServer = request.getfixturevalue(mode)
    first = connect(server, label="Front desk")
    assert exchange(server, first).status_code == 200
    again = connect(server, label="Front desk")
    assert again == first
    assert connection(server, first)["status"] == "active"
    fresh = exchange(server, first)  # a refresh with the new grant's refresh token
    assert fresh.status_code == 200, fresh.text
    assert calendar(server, fresh.json()["access_token"]).status_code == 200


# -- revoked at the provider, then reconnected --------------------------------------------------


def revoke_at_provider(server: LocalServer, access_token: str) -> None:
    """What the person does in their Google account's security page, in RFC 7009 form."""
    client = google(server)
    reply = requests.post(
        discovery(server)["revocation_endpoint"],
        data={"token": access_token, "token_type_hint": "access_token"},
        auth=(client["client_id"], client["client_secret"]),
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, reply.text


def test_revoked_at_the_provider_needs_reauth_and_reconnecting_keeps_the_id(plain: LocalServer) -> None:
    scopes = ["calendar.readonly", "gmail.readonly"]
    connection_id = connect(plain, scopes=scopes, label="Revoked calendar")
    allowed = requests.patch(
        f"{plain.url}/vault/connections/{connection_id}",
        json={"allowed_scopes": scopes},
        headers=admin(plain),
        timeout=TIMEOUT,
    )
    assert allowed.status_code == 200 and allowed.json()["allowed_scopes"] == scopes, allowed.text
    given = exchange(plain, connection_id, ["calendar.readonly"])
    assert given.status_code == 200, given.text
    revoke_at_provider(plain, given.json()["access_token"])  # ends the whole grant
    assert calendar(plain, given.json()["access_token"]).status_code == 401

    # The next exchange that needs a refresh (a token for scopes not asked for yet) finds out.
    refused = exchange(plain, connection_id, ["gmail.readonly"])
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "connection_needs_reauthorization"
    assert (body["connection_id"], body["reason"]) == (connection_id, "invalid_grant")
    shown = connection(plain, connection_id)
    assert (shown["status"], shown["status_reason"]) == ("needs_reauth", "invalid_grant")
    before = refreshes_at_provider(plain)
    for cached in (["calendar.readonly"], None):  # nothing cached is served any more
        again = exchange(plain, connection_id, cached)
        assert again.status_code == 409 and again.json()["error"] == "connection_needs_reauthorization"
    assert refreshes_at_provider(plain) == before

    assert connect(plain, scopes=scopes, label="Revoked calendar") == connection_id
    shown = connection(plain, connection_id)
    assert (shown["status"], shown["status_reason"]) == ("active", None)
    for wanted in (None, ["calendar.readonly"]):
        healed = exchange(plain, connection_id, wanted)
        assert healed.status_code == 200, healed.text
        assert calendar(plain, healed.json()["access_token"]).status_code == 200


# -- a provider that fails ----------------------------------------------------------------------


@dataclass
class FaultProxy:
    """A threaded HTTP proxy for one upstream URL (the provider's token endpoint): `mode` is
    pass, 500, 429 (with Retry-After) or hang (answers nothing for `hang_seconds`)."""

    upstream: str
    mode: str = "pass"
    retry_after: int = 3
    hang_seconds: float = 13.0
    seen: list[str] = field(default_factory=list)
    _released: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = proxy.mode
                proxy.seen.append(mode)
                if mode == "hang":
                    proxy._released.wait(proxy.hang_seconds)
                    return self._send(504, b'{"error":"gateway_timeout"}', {})
                if mode == "500":
                    return self._send(500, b'{"error":"server_error"}', {})
                if mode == "429":
                    return self._send(
                        429, b'{"error":"rate_limited"}', {"Retry-After": str(proxy.retry_after)}
                    )
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")
                }
                answer = requests.post(proxy.upstream, data=body, headers=headers, timeout=TIMEOUT)
                self._send(answer.status_code, answer.content, {"Cache-Control": "no-store"})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # VaultGuard gave up waiting
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True).start()

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture(scope="module")
def proxy(plain: LocalServer) -> Iterator[FaultProxy]:
    fault = FaultProxy(discovery(plain)["token_endpoint"])
    fault.start()
    yield fault
    fault.stop()


OAUTH2_SCOPES = ["openid", "email", "offline_access", "calendar.readonly", "gmail.readonly"]


@pytest.fixture(scope="module")
def proxied(plain: LocalServer, proxy: FaultProxy) -> str:
    """MediCore's own `oauth2` provider: local-google, its token endpoint behind the proxy."""
    doc, client = discovery(plain), google(plain)
    settings = {
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
        "issuer": client["issuer"],
        "authorization_endpoint": doc["authorization_endpoint"],
        "token_endpoint": proxy.url,
        "revocation_endpoint": doc["revocation_endpoint"],
        "scopes": OAUTH2_SCOPES,
        "authorize_params": {"prompt": "consent"},
    }
    reply = requests.put(
        f"{plain.url}/vault/providers/oauth2", json=settings, headers=admin(plain), timeout=TIMEOUT
    )
    assert reply.status_code in (200, 201), reply.text
    assert "client_secret" not in reply.json()
    connection_id = connect(plain, "oauth2", scopes=OAUTH2_SCOPES, label="Calendar through the proxy")
    assert proxy.seen == ["pass"]  # the code exchange went through the proxy
    assert connection(plain, connection_id)["status"] == "active"
    return connection_id


@pytest.mark.parametrize(
    ("mode", "scopes"),
    [
        ("500", ["calendar.readonly"]),
        ("429", ["gmail.readonly"]),
        ("hang", ["calendar.readonly", "gmail.readonly"]),
    ],
)
def test_a_failing_provider_makes_the_connection_refresh_failing_then_it_heals(
    plain: LocalServer, proxy: FaultProxy, proxied: str, mode: str, scopes: list[str]
) -> None:
    """Each case asks for a down-scoped token not cached yet, so that it needs the provider."""
    proxy.mode = mode
    seen = len(proxy.seen)
    started = time.monotonic()
    failed = exchange(plain, proxied, scopes)
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"] == "temporarily_unavailable"
    retry_after = int(failed.headers["Retry-After"])
    assert 1 <= retry_after <= (proxy.retry_after if mode == "429" else 5)
    assert proxy.seen[seen:] == [mode]
    if mode == "hang":  # VaultGuard gave up at its own timeout, well before the proxy did
        assert time.monotonic() - started < proxy.hang_seconds
    shown = connection(plain, proxied)
    assert (shown["status"], shown["status_reason"]) == ("refresh_failing", "provider_unavailable")

    # The provider works again, but the connection backs off until Retry-After has passed.
    proxy.mode = "pass"
    waiting = exchange(plain, proxied, scopes)
    assert waiting.status_code == 503 and waiting.json()["error"] == "temporarily_unavailable"
    assert len(proxy.seen) == seen + 1  # no provider call while backing off
    assert connection(plain, proxied)["status"] == "refresh_failing"

    time.sleep(int(waiting.headers["Retry-After"]) + 1)
    healed = exchange(plain, proxied, scopes)
    assert healed.status_code == 200, healed.text
    assert sorted(healed.json()["scope"].split()) == sorted(scopes)
    shown = connection(plain, proxied)
    assert (shown["status"], shown["status_reason"]) == ("active", None)
    if "calendar.readonly" in scopes:
        assert calendar(plain, healed.json()["access_token"]).status_code == 200


# -- another tenant ------------------------------------------------------------------------------


def test_natsupply_finds_nothing_of_medicores_connection_on_any_vault_route(plain: LocalServer) -> None:
    connection_id = connect(plain, label="Not for NatSupply")
    before = connection(plain, connection_id)
    unknown = "con_" + "0" * 20
    natsupply_admin, natsupply_agent = (
        admin(plain, "natsupply"),
        bearer(client_token(plain, "natsupply", "agent")),
    )

    def routes(cid: str) -> list[tuple[str, Callable[[], requests.Response]]]:
        url = f"{plain.url}/vault/connections/{cid}"
        return [
            ("admin GET", lambda: requests.get(url, headers=natsupply_admin, timeout=TIMEOUT)),
            (
                "admin PATCH",
                lambda: requests.patch(url, json={"label": "x"}, headers=natsupply_admin, timeout=TIMEOUT),
            ),
            ("admin check", lambda: requests.post(f"{url}/check", headers=natsupply_admin, timeout=TIMEOUT)),
            ("admin DELETE", lambda: requests.delete(url, headers=natsupply_admin, timeout=TIMEOUT)),
            (
                "agent exchange",
                lambda: requests.post(
                    f"{plain.url}/vault/exchange",
                    json={"connection_id": cid},
                    headers=natsupply_agent,
                    timeout=TIMEOUT,
                ),
            ),
            (
                "agent RFC 8693",
                lambda: requests.post(
                    f"{plain.url}/oauth/token",
                    data={
                        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                        "subject_token": natsupply_agent["Authorization"].removeprefix("Bearer "),
                        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                        "resource": f"urn:vaultguard:connection:{cid}",
                    },
                    timeout=TIMEOUT,
                ),
            ),
        ]

    def answer(reply: requests.Response) -> tuple[int, dict[str, Any]]:
        return reply.status_code, {k: v for k, v in reply.json().items() if k != "request_id"}

    for (name, foreign), (_, nothing) in zip(routes(connection_id), routes(unknown), strict=True):
        got, expected = answer(foreign()), answer(nothing())
        assert got == expected, name
        assert got[0] in (400, 404), (name, got)
    listed = requests.get(f"{plain.url}/vault/connections", headers=natsupply_admin, timeout=TIMEOUT)
    assert listed.status_code == 200 and connection_id not in listed.text
    # Untouched: MediCore's agent still gets its token.
    assert connection(plain, connection_id) == before
    assert exchange(plain, connection_id).status_code == 200
