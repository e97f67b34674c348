"""Property-based fuzzing of every operation of the OpenAPI document (issue 10) with
Schemathesis, against the real local server (`python -m chalicelib.local`) over HTTP.

Each operation runs as the principal that may call it (platform, a tenant admin, an agent,
or client authentication), with valid and invalid input alike. Checks: no 5xx; status,
content type, headers and body conform to the document; every error has the one error shape
and its `x-request-id`; and a 4xx changes nothing in the store.

The server's DynamoDB is a moto server in this process, so that every item the server
writes is seen here (moto_patch.ChangeFeed) at no cost per request. Examples per operation
are bounded (FUZZ_EXAMPLES) and derandomized, so the run takes about the same time and finds
the same things on every machine.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, assume, settings
from hypothesis.errors import FlakyStrategyDefinition
from moto.dynamodb.models import dynamodb_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.serving import make_server

from app import app
from chalicelib.api._validation import receiving_tenant
from chalicelib.api.openapi import build
from local_aws import moto_patch
from tests.e2e.conftest import LocalServer, free_port

FUZZ_EXAMPLES = 12  # per operation and generation mode (valid, invalid)
STATEFUL_EXAMPLES = 10
MIN_STATEFUL_STEPS = 20  # of up to 6 steps per example (about 60 run)
TABLES = ("vaultguard", "vaultguard-audit")
MOTO_ACCOUNT, MOTO_REGION = "123456789012", "us-east-1"
UNLIMITED = "1000000"
# The budgets would answer 429 long before the fuzzer is done; the limits themselves are
# tested in tests/functional/test_rate_limits.py.
SERVER_ENV = {
    "VAULTGUARD_RATE_DELEGATIONS_PER_MINUTE": UNLIMITED,
    "VAULTGUARD_RATE_CLIENT_WRITES_PER_15_MINUTES": UNLIMITED,
    "VAULTGUARD_RATE_CLIENT_READS_PER_15_MINUTES": UNLIMITED,
    "VAULTGUARD_RATE_AUTH_FAILURES_PER_SOURCE": UNLIMITED,
    "VAULTGUARD_RATE_AUTH_FAILURES_PER_CLIENT": UNLIMITED,
    "VAULTGUARD_CLEANUP_INTERVAL_SECONDS": "86400",  # no expiry job writing behind our back
    "VAULTGUARD_STREAM_POLL_SECONDS": "3600",
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

# The document the server serves, built here from the same code (test_served_document_is_
# the_one_fuzzed checks that they are the same).
SCHEMA = schemathesis.openapi.from_dict(build(app, "http://127.0.0.1"))
SCHEMA.config.generation.update(modes=["positive", "negative"], max_examples=FUZZ_EXAMPLES, database="none")
# TRACE and QUERY are methods the server implements for no resource: 501 by design
# (RFC 9110 §15.6.2; tests/e2e/test_http_edge.py), which the fuzzer would count as a 5xx.
SCHEMA.config.phases.coverage.unexpected_methods = {"get", "put", "post", "delete", "options", "patch"}
# Refusing a body sent without a Content-Length (411, e.g. chunked) or too large (413) is a
# rejection too.
_rejection = SCHEMA.config.checks.negative_data_rejection
_rejection.expected_statuses = [*_rejection.expected_statuses, "411", "413"]


class _Serialised:
    """moto's backends are not thread-safe: one request at a time."""

    def __init__(self, wsgi: Any) -> None:
        self._wsgi = wsgi
        self._lock = threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        with self._lock:
            return list(self._wsgi(environ, start_response))


class Store:
    """The items of the server's tables as this process last saw them, and what really
    changed since (an item written again with the same value, or a write a cancelled
    transaction marked, is no change)."""

    def __init__(self) -> None:
        self.feed = moto_patch.ChangeFeed(TABLES)
        self.feed.open()
        self._items: dict[tuple[str, str], Any] = {}
        backend = dynamodb_backends[MOTO_ACCOUNT][MOTO_REGION]
        with moto_patch.LOCK:
            for name in TABLES:
                table = backend.get_table(name)
                for item in table.all_items():
                    attributes = item.to_json()["Attributes"]
                    key = {a: attributes[a] for a in (table.hash_key_attr, table.range_key_attr) if a}
                    self._items[(name, _canonical(key))] = attributes
        self.changes()

    def changes(self) -> list[moto_patch.Change]:
        out = []
        for table, key, item in self.feed.drain():
            index = (table, _canonical(key))
            if self._items.get(index) != item:
                out.append((table, key, item))
                self._items[index] = item
        return out


def _canonical(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


@dataclass
class Fuzz:
    server: LocalServer
    store: Store
    headers: dict[str, dict[str, str]]  # by principal
    receiving_tenant_id: str  # NatSupply's: the demo's policies decide MediCore's requests
    protected: frozenset[str]  # ids of the principals the run authenticates as

    @property
    def url(self) -> str:
        return self.server.url

    def auth(self, operation: dict[str, Any]) -> dict[str, str]:
        """The credentials of the principal that may call the operation."""
        security = operation.get("security") or []
        roles = set(operation.get("x-vaultguard-roles") or ())
        if not security:
            return {}
        if {"bearerAuth": []} not in security:
            return self.headers["agent_basic"]  # client authentication: the agent's
        if "agent" in roles:
            return self.headers["agent"]
        if "platform" in roles:
            return self.headers["platform"]
        return self.headers["admin"]  # admin routes, and introspection/revocation with a bearer


@contextlib.contextmanager
def _moto() -> Iterator[str]:
    moto_patch.apply()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-call access log
    server = make_server(
        "127.0.0.1", 0, _Serialised(DomainDispatcherApplication(create_backend_app)), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, name="fuzz-moto", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def _token(url: str, client: dict[str, str]) -> str:
    reply = requests.post(
        f"{url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
        timeout=30,
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    with _moto() as endpoint:
        yield from _serve(endpoint, tmp_path_factory)


def _serve(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    state_dir: Path = tmp_path_factory.mktemp("fuzz") / "state"
    server = LocalServer(
        free_port(), state_dir, extra_env={**SERVER_ENV, "VAULTGUARD_AWS_ENDPOINT": endpoint}
    )
    server.start()
    store = Store()
    try:
        state = server.state
        agent = state["tenants"]["medicore"]["agent"]
        headers = {
            "platform": _bearer(_token(server.url, state["platform"])),
            "admin": _bearer(_token(server.url, state["tenants"]["natsupply"]["admin"])),
            "agent": _bearer(_token(server.url, agent)),
            "agent_basic": {
                "Authorization": requests.auth._basic_auth_str(agent["client_id"], agent["client_secret"])
            },
        }
        protected = {agent["agent_id"], *(t["tenant_id"] for t in state["tenants"].values())}
        yield Fuzz(server, store, headers, state["tenants"]["natsupply"]["tenant_id"], frozenset(protected))
    finally:
        store.feed.close()
        if server.process is not None and server.process.poll() is None:
            server.stop()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _type(item: dict[str, Any] | None) -> str:
    return str((item or {}).get("type", {}).get("S", ""))


def unexpected_changes(
    changes: list[moto_patch.Change], blocked: bool, denied_exchange: bool = False
) -> list[moto_patch.Change]:
    """What a refused (4xx) request wrote besides what is expected to move on one:
    - its rate-limit counters (RATE#..., failed authentications included);
    - the aggregated `auth.failed` audit events (the 1st, 10th, 100th... failure of a
      client) and the counter shards that count audit events;
    - for a BLOCK decision (403 `decision: BLOCK`), which is a decision like ALLOW and
      STEP_UP, its audit events (`delegation.requested`, `delegation.blocked`), counters, and
      the trust graph's count of it (EDGE#... on the tenants' partitions, or the platform's
      UNREACHED#... when the requested tenant does not exist);
    - for a refused vault exchange (an agent asking for a connection it may not use, or one
      that does not exist), its `vault.exchange_denied` audit event and counters.
    Anything else is a state change that a 4xx must not make."""
    expected_events = {"auth.failed"} | ({"delegation.requested", "delegation.blocked"} if blocked else set())
    if denied_exchange:
        expected_events.add("vault.exchange_denied")
    audited = any(table == TABLES[1] and _type(item) in expected_events for table, _, item in changes)
    out = []
    for table, key, item in changes:
        sort_key, partition = key.get("sk", {}).get("S", ""), key.get("pk", {}).get("S", "")
        if sort_key.startswith("RATE#"):
            continue
        if table == TABLES[1] and _type(item) in expected_events:
            continue
        if audited and (sort_key.startswith("COUNT") or partition.endswith("COUNT")):
            continue
        if blocked and audited and sort_key.startswith(("EDGE#", "UNREACHED#")):
            continue
        out.append((table, key, item))
    return out


def error_shape(response: Any, request_id: str | None) -> None:
    """Every JSON error has the one shape and the response's request id (a page meant for a
    browser is checked against its documented media type instead)."""
    media_type = (response.headers.get("content-type") or [""])[0]
    if response.status_code < 400 or not media_type.startswith("application/json"):
        return
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("error_description"), str) and body["error_description"], body
    assert request_id and body.get("request_id") == request_id, (body, request_id)


def aim(fuzz: Fuzz, case: Any) -> None:
    """The document's example tenant id stands for the receiving demo tenant: valid requests
    that use it reach NatSupply's policies (ALLOW for stock.write, STEP_UP for
    requisition.submit) instead of the BLOCK every unknown tenant gets."""
    example = receiving_tenant.schema["examples"][0]
    if isinstance(case.body, dict):
        for name in ("receiving_tenant_id", "login_hint"):
            if case.body.get(name) == example:
                case.body[name] = fuzz.receiving_tenant_id


def run_case(fuzz: Fuzz, case: Any) -> Any:
    operation = case.operation.definition.raw
    # Disabling the principals the run authenticates as would turn the rest into 401s.
    assume(case.method == "GET" or not fuzz.protected & set((case.path_parameters or {}).values()))
    aim(fuzz, case)
    fuzz.store.changes()
    response = case.call(base_url=fuzz.url, headers=fuzz.auth(operation), timeout=60)
    changes = fuzz.store.changes()
    case.validate_response(response, checks=CHECKS)
    error_shape(response, (response.headers.get("x-request-id") or [None])[0])
    if 400 <= response.status_code < 500:
        blocked = response.status_code == 403 and response.json().get("decision") == "BLOCK"
        denied_exchange = case.path == "/vault/exchange" or (
            case.path == "/oauth/token" and "token-exchange" in str(case.body)
        )
        assert unexpected_changes(changes, blocked, denied_exchange) == [], (
            f"{response.status_code} {response.text} changed the store"
        )
    return response


@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_every_operation_holds_up_to_fuzzing(case: Any, fuzz: Fuzz) -> None:
    run_case(fuzz, case)


class StatefulRun(SCHEMA.as_state_machine()):  # type: ignore[misc]
    """Sequences along the document's links: create an agent -> read, rotate, disable it;
    request a delegation -> read, approve or reject, revoke it; create a tenant -> read,
    disable it; upsert a policy -> delete it."""

    fuzz: Fuzz
    steps: list[str] = []
    failures: list[BaseException] = []

    def step(self, input: Any) -> Any:
        from schemathesis.generation.stateful.state_machine import StepOutput

        try:
            response = run_case(self.fuzz, input.case)
        except (AssertionError, FailureGroup) as exc:
            StatefulRun.failures.append(exc)
            raise
        StatefulRun.steps.append(input.case.operation.label)
        return StepOutput(response, input.case)


def test_linked_operations_hold_up_to_fuzzing(fuzz: Fuzz) -> None:
    StatefulRun.fuzz, StatefulRun.steps, StatefulRun.failures = fuzz, [], []
    try:
        StatefulRun.run(
            settings=settings(
                max_examples=STATEFUL_EXAMPLES,
                stateful_step_count=6,
                phases=[Phase.explicit, Phase.generate],  # a failure is reported as found
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
        )
    except FlakyStrategyDefinition:
        # Sequences draw from earlier answers, and the server's state moves on between
        # hypothesis' runs, so it may find that a sequence now draws differently and stop.
        # Every step that ran was checked: its first failure, if any, is the finding.
        if StatefulRun.failures:
            raise StatefulRun.failures[0] from None
    assert len(StatefulRun.steps) >= MIN_STATEFUL_STEPS, StatefulRun.steps
    assert any("{" in label for label in StatefulRun.steps), "no step followed a link"


def test_served_document_is_the_one_fuzzed(fuzz: Fuzz) -> None:
    served = requests.get(f"{fuzz.url}/openapi.json", timeout=30).json()
    built = build(app, served["servers"][0]["url"])
    assert served == built


def test_the_store_watch_sees_what_a_request_writes(fuzz: Fuzz) -> None:
    """The "a 4xx changes nothing" check can fail: a write the server makes is seen."""
    fuzz.store.changes()
    reply = requests.put(
        f"{fuzz.url}/policies",
        json={"action": "fuzz.watch", "effect": "BLOCK"},
        headers=fuzz.headers["admin"],
        timeout=30,
    )
    assert reply.status_code in (200, 201), reply.text
    written = fuzz.store.changes()
    assert any(key["sk"]["S"].startswith("POLICY#fuzz.watch") for _, key, _ in written), written
    assert unexpected_changes(written, blocked=False) != []
    assert fuzz.store.changes() == []


class _Reply:
    def __init__(self, status_code: int, body: str, media_type: str = "application/json") -> None:
        self.status_code, self._body = status_code, body
        self.headers = {"content-type": [media_type]}

    def json(self) -> Any:
        return json.loads(self._body)


def test_the_error_shape_check_refuses_what_is_not_the_error_shape() -> None:
    error_shape(
        _Reply(400, '{"error": "x", "error_description": "y", "request_id": "r-12345678"}'), "r-12345678"
    )
    error_shape(_Reply(400, "<p>not signed in</p>", "text/html"), "r-12345678")  # a documented page
    for bad in ('{"message": "nope"}', '{"error": "x", "error_description": "y"}'):
        with pytest.raises(AssertionError):
            error_shape(_Reply(400, bad), "r-12345678")
    with pytest.raises(AssertionError):
        error_shape(
            _Reply(404, '{"error": "x", "error_description": "y", "request_id": "other"}'), "r-12345678"
        )
