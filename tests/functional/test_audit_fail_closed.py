"""Fail closed (issue 4 item 2): every operation that issues, approves, revokes or exchanges
writes its audit events in the same transaction as its state change; when that write fails,
the caller gets a 503 without any token or secret, and nothing changed.

The failure is injected *inside the transaction* two ways:
- the audit table is unavailable (the audit model points at a table that does not exist, so
  DynamoDB cancels the transaction with ResourceNotFound);
- the audit put is rejected (each audit item is added twice, so DynamoDB refuses the whole
  transaction as invalid).
Both leave the rest of the store working, so the state is read back in full (audit log
included) through the API after each refused call. test_audit.py covers a deleted audit
table for a few operations and an AuditRepository.add that raises before the commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.store.audit import AuditRepository
from chalicelib.store.models import AuditEventModel
from tests.functional.conftest import Agent, Reply, Stack, Tenant
from tests.functional.helpers import (
    JWT_LIKE,
    assert_error,
    basic,
    body_without_request_id,
    form,
    is_active,
    oauth_revoke,
    shared_botocore_data,
    state_of,
    token_request,
)

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)


@pytest.fixture(autouse=True)
def no_client_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the whole state back after every call takes far more than 200 requests."""
    monkeypatch.setenv("VAULTGUARD_RATE_CLIENT_REQUESTS_PER_15_MINUTES", "0")


CIBA = "urn:openid:params:grant-type:ciba"
SECRET_KEYS = {"access_token", "client_secret", "secret", "admin", "auth_req_id", "delegation_id"}


@contextmanager
def audit_table_unavailable() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(AuditEventModel.Meta, "table_name", "vaultguard-audit-unavailable")
        mp.setattr(AuditEventModel, "_connection", None)
        yield


@contextmanager
def audit_put_rejected() -> Iterator[None]:
    original = AuditRepository.add

    def twice(self: AuditRepository, tx: Any, scope: Any, event: Any) -> None:
        original(self, tx, scope, event)
        original(self, tx, scope, event)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(AuditRepository, "add", twice)
        yield


INJECTIONS: dict[str, Callable[[], Any]] = {
    "audit table unavailable": audit_table_unavailable,
    "audit put rejected": audit_put_rejected,
}


@dataclass
class World:
    medicore: Tenant
    natsupply: Tenant
    agent: Agent
    allowed_id: str
    allowed_token: str
    pending_id: str
    auth_req_id: str


def build_world(stack: Stack) -> World:
    medicore, natsupply = stack.tenant("MediCore"), stack.tenant("NatSupply")
    agent = stack.agent(medicore, "buyer")
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    stack.policy(natsupply, "requisition.submit", "STEP_UP", medicore)
    allowed = stack.request(agent, natsupply, "stock.write")
    pending = stack.request(agent, natsupply, "requisition.submit")
    assert (allowed.status, pending.status) == (201, 202)
    webhook = stack.call("PUT", "/webhooks", medicore.admin_token, {"url": "https://hooks.example/vg"})
    assert webhook.status == 201, webhook.body
    return World(
        medicore,
        natsupply,
        agent,
        allowed.body["delegation_id"],
        allowed.body["access_token"],
        pending.body["delegation_id"],
        pending.body["auth_req_id"],
    )


def snapshot(stack: Stack, w: World) -> dict[str, Any]:
    """Everything the parties can read back: tenants, agents, policies, delegations both
    ways, audit logs, webhooks, and each side's view of the two delegations."""
    state = state_of(stack, w.medicore, w.natsupply)
    for tenant in (w.medicore, w.natsupply):
        webhook = stack.call("GET", "/webhooks", tenant.admin_token)
        state[f"webhook:{tenant.tenant_id}"] = (webhook.status, body_without_request_id(webhook))
        state[f"tenant:{tenant.tenant_id}"] = stack.call(
            "GET", f"/tenants/{tenant.tenant_id}", stack.platform_token
        ).body
        for delegation_id in (w.allowed_id, w.pending_id):
            view = stack.call("GET", f"/delegations/{delegation_id}", tenant.admin_token).body
            state[f"{tenant.tenant_id}:{delegation_id}"] = {
                k: v for k, v in view.items() if k != "expires_in"
            }
    return state


def poll(stack: Stack, w: World) -> Reply:
    return token_request(
        stack,
        {
            "grant_type": CIBA,
            "auth_req_id": w.auth_req_id,
            "client_id": w.agent.client_id,
            "client_secret": w.agent.secret,
        },
    )


# Each operation: (name, call it, a check run after the state comparison or None).
Operation = tuple[str, Callable[[Stack, World], Reply], Callable[[Stack, World], None] | None]


def _still_pending(stack: Stack, w: World) -> None:
    reply = poll(stack, w)
    assert (reply.status, reply.body.get("error")) in ((400, "authorization_pending"), (400, "slow_down"))
    assert "access_token" not in reply.body


def _allowed_still_active(stack: Stack, w: World) -> None:
    assert is_active(stack, w.allowed_token, w.natsupply)


def _old_secret_still_works(stack: Stack, w: World) -> None:
    assert stack.token(w.agent.client_id, w.agent.secret)
    _allowed_still_active(stack, w)


OPERATIONS: list[Operation] = [
    (
        "POST /tenants",
        lambda s, w: s.call("POST", "/tenants", s.platform_token, {"name": "Acme"}),
        None,
    ),
    (
        "PATCH /tenants/{id} (disable)",
        lambda s, w: s.call(
            "PATCH", f"/tenants/{w.medicore.tenant_id}", s.platform_token, {"status": "DISABLED"}
        ),
        _allowed_still_active,
    ),
    (
        "POST /agents",
        lambda s, w: s.call("POST", "/agents", w.medicore.admin_token, {"name": "robot"}),
        None,
    ),
    (
        "POST /agents/{id}/rotate-secret",
        lambda s, w: s.call("POST", f"/agents/{w.agent.agent_id}/rotate-secret", w.medicore.admin_token),
        _old_secret_still_works,
    ),
    (
        "DELETE /agents/{id}",
        lambda s, w: s.call("DELETE", f"/agents/{w.agent.agent_id}", w.medicore.admin_token),
        _old_secret_still_works,
    ),
    (
        "PUT /policies (new)",
        lambda s, w: s.call(
            "PUT", "/policies", w.natsupply.admin_token, {"action": "stock.count", "effect": "ALLOW"}
        ),
        None,
    ),
    (
        "PUT /policies (change ALLOW to BLOCK)",
        lambda s, w: s.call(
            "PUT",
            "/policies",
            w.natsupply.admin_token,
            {"action": "stock.write", "effect": "BLOCK", "requesting_tenant_id": w.medicore.tenant_id},
        ),
        None,
    ),
    (
        "DELETE /policies/{id}",
        lambda s, w: s.call(
            "DELETE",
            "/policies/"
            + s.call("GET", "/policies", w.natsupply.admin_token).body["policies"][0]["policy_id"],
            w.natsupply.admin_token,
        ),
        None,
    ),
    (
        "POST /oauth/token (client_credentials)",
        lambda s, w: token_request(
            s, {"grant_type": "client_credentials"}, basic(w.agent.client_id, w.agent.secret)
        ),
        None,
    ),
    (
        "POST /delegations/request (ALLOW)",
        lambda s, w: s.request(w.agent, w.natsupply, "stock.write"),
        None,
    ),
    (
        "POST /delegations/request (STEP_UP)",
        lambda s, w: s.request(w.agent, w.natsupply, "requisition.submit"),
        None,
    ),
    (
        "POST /stepup/initiate",
        lambda s, w: s.call(
            "POST",
            "/stepup/initiate",
            w.agent.token,
            {"receiving_tenant_id": w.natsupply.tenant_id, "action": "requisition.submit"},
        ),
        None,
    ),
    (
        "POST /bc-authorize",
        lambda s, w: s.form(
            "/bc-authorize",
            form({"scope": "requisition.submit", "login_hint": w.natsupply.tenant_id}),
            basic(w.agent.client_id, w.agent.secret),
        ),
        None,
    ),
    (
        "POST /delegations/{id}/approve",
        lambda s, w: s.call("POST", f"/delegations/{w.pending_id}/approve", w.natsupply.admin_token),
        _still_pending,
    ),
    (
        "POST /stepup/{auth_req_id}/complete (approve)",
        lambda s, w: s.call(
            "POST", f"/stepup/{w.auth_req_id}/complete", w.natsupply.admin_token, {"decision": "approve"}
        ),
        _still_pending,
    ),
    (
        "POST /delegations/{id}/reject",
        lambda s, w: s.call("POST", f"/delegations/{w.pending_id}/reject", w.natsupply.admin_token),
        _still_pending,
    ),
    (
        "POST /delegations/{id}/revoke (receiving admin)",
        lambda s, w: s.call("POST", f"/delegations/{w.allowed_id}/revoke", w.natsupply.admin_token),
        _allowed_still_active,
    ),
    (
        "POST /delegations/{id}/revoke (pending, requesting admin)",
        lambda s, w: s.call("POST", f"/delegations/{w.pending_id}/revoke", w.medicore.admin_token),
        _still_pending,
    ),
    (
        "POST /oauth/revoke (requesting agent)",
        lambda s, w: oauth_revoke(s, w.allowed_token, basic(w.agent.client_id, w.agent.secret)),
        _allowed_still_active,
    ),
    (
        "PUT /webhooks (new secret)",
        lambda s, w: s.call("PUT", "/webhooks", w.medicore.admin_token, {"url": "https://hooks.example/v2"}),
        None,
    ),
    (
        "DELETE /webhooks",
        lambda s, w: s.call("DELETE", "/webhooks", w.medicore.admin_token),
        None,
    ),
]


def assert_refused_without_secrets(reply: Reply) -> None:
    assert_error(reply, 503)
    assert not SECRET_KEYS & set(reply.body), reply.body
    text = repr(reply.body) + repr(reply.headers)
    assert not re.search(JWT_LIKE, text), text
    assert not re.search(r"vgs_[A-Za-z0-9_-]{8,}", text), text


# Writes aimed at a table that does not exist are outside every role on purpose (in AWS they
# would be refused before the table is even looked up): not a role to fix.
UNCHECKED = pytest.mark.aws_roles_unchecked("audit writes go to a missing table on purpose")


@pytest.mark.parametrize(
    "injection",
    [
        pytest.param(name, marks=UNCHECKED if name == "audit table unavailable" else ())
        for name in sorted(INJECTIONS)
    ],
)
def test_each_audited_operation_fails_closed(stack: Stack, subtests: pytest.Subtests, injection: str) -> None:
    w = build_world(stack)
    for name, operation, check in OPERATIONS:
        with subtests.test(name):
            before = snapshot(stack, w)
            with INJECTIONS[injection]():
                reply = operation(stack, w)
            assert_refused_without_secrets(reply)
            assert snapshot(stack, w) == before
            if check is not None:
                check(stack, w)

    with subtests.test("with the audit log back, the same operations work (the injection was the cause)"):
        approved = stack.call("POST", f"/delegations/{w.pending_id}/approve", w.natsupply.admin_token)
        assert approved.status == 200, approved.body
        assert (
            stack.call("POST", f"/delegations/{w.allowed_id}/revoke", w.natsupply.admin_token).status == 200
        )
        assert stack.call("POST", "/agents", w.medicore.admin_token, {"name": "robot"}).status == 201
