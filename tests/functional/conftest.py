"""A complete VaultGuard over moto, driven through `chalice.test.Client`.

`stack` gives a fresh in-memory AWS, tables, a platform client and helpers that create
tenants, agents and policies through the public API, exactly as a user would.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.config import get_settings
from chalicelib.services import container as container_module
from chalicelib.services.bootstrap import create_platform_client
from chalicelib.store.schema import ensure_tables
from local_aws import moto_patch
from tests.functional.aws_roles import (  # noqa: F401 - every AWS call checked against its role
    _aws_recording,
    aws_calls_within_roles,
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_testnodedown,
)

ISSUER = "http://vaultguard.test"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Tenant:
    tenant_id: str
    name: str
    audience: str
    admin_client_id: str
    admin_secret: str
    admin_token: str


@dataclass
class Agent:
    agent_id: str
    tenant: Tenant
    client_id: str
    secret: str
    token: str


class Stack:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.container = container_module.get_container()
        self.platform_client_id, self.platform_secret = create_platform_client(self.container)
        self.platform_token = self.token(self.platform_client_id, self.platform_secret)

    # -- raw HTTP ----------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | str | None = None,
    ) -> Reply:
        all_headers = {"content-type": "application/json"}
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = self.client.http.request(method, path, headers=all_headers, body=payload or b"")
        try:
            parsed = json.loads(response.body) if response.body else None
        except ValueError:
            parsed = response.body
        return Reply(response.status_code, parsed, dict(response.headers))

    def form(self, path: str, data: str, headers: dict[str, str] | None = None) -> Reply:
        return self.call("POST", path, raw=data, headers={**FORM, **(headers or {})})

    def token(self, client_id: str, secret: str) -> str:
        reply = self.form(
            "/oauth/token", f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
        )
        assert reply.status == 200, reply.body
        return str(reply.body["access_token"])

    # -- building a world through the API ------------------------------------------------------
    def tenant(self, name: str) -> Tenant:
        reply = self.call("POST", "/tenants", self.platform_token, {"name": name})
        assert reply.status == 201, reply.body
        b = reply.body
        admin = b["admin"]
        return Tenant(
            b["tenant_id"],
            b["name"],
            b["audience"],
            admin["client_id"],
            admin["client_secret"],
            self.token(admin["client_id"], admin["client_secret"]),
        )

    def agent(self, tenant: Tenant, name: str = "agent") -> Agent:
        reply = self.call("POST", "/agents", tenant.admin_token, {"name": name})
        assert reply.status == 201, reply.body
        b = reply.body
        return Agent(
            b["agent_id"],
            tenant,
            b["client_id"],
            b["client_secret"],
            self.token(b["client_id"], b["client_secret"]),
        )

    def policy(
        self, tenant: Tenant, action: str, effect: str, requester: Tenant | None = None, **extra: Any
    ) -> Reply:
        body = {
            "action": action,
            "effect": effect,
            "requesting_tenant_id": requester.tenant_id if requester else None,
            **extra,
        }
        reply = self.call("PUT", "/policies", tenant.admin_token, body)
        assert reply.status in (200, 201), reply.body
        return reply

    def request(self, agent: Agent, receiving: Tenant | str, action: str, **extra: Any) -> Reply:
        target = receiving if isinstance(receiving, str) else receiving.tenant_id
        return self.call(
            "POST",
            "/delegations/request",
            agent.token,
            {"receiving_tenant_id": target, "action": action, **extra},
        )

    def verify(self, token: str, caller_token: str) -> Reply:
        return self.call("POST", "/delegations/verify", caller_token, {"token": token})

    def audit(self, tenant: Tenant, query: str = "") -> list[dict[str, Any]]:
        reply = self.call("GET", f"/audit?limit=200{query}", tenant.admin_token)
        assert reply.status == 200, reply.body
        return list(reply.body["events"])


@pytest.fixture
def aws_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings for a test stack: its own key files, a fixed issuer."""
    monkeypatch.setenv("VAULTGUARD_ISSUER", ISSUER)
    monkeypatch.setenv("VAULTGUARD_SIGNING_KEY_PATH", str(tmp_path / "signing-key.pem"))
    monkeypatch.setenv("VAULTGUARD_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("VAULTGUARD_AWS_ENDPOINT", raising=False)
    container_module.reset()
    moto_patch.apply()  # as `make run` does: transactions cost O(items touched), not O(table)
    with mock_aws():
        ensure_tables(get_settings(), boto3.client("dynamodb"))
        yield
    container_module.reset()


@contextlib.contextmanager
def stack_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[Stack]:
    """A stack whose settings have `env` on top of the test defaults (inside `aws_env`)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    container_module.reset()
    from app import app

    with Client(app, stage_name="local") as client:
        yield Stack(client)


@pytest.fixture
def stack(aws_env: None) -> Iterator[Stack]:
    from app import app

    with Client(app, stage_name="local") as client:
        yield Stack(client)


@pytest.fixture
def idp() -> Any:
    """The in-memory identity provider of the sign-in tests (tests/functional/fake_idp.py)."""
    from tests.functional.fake_idp import FakeIdp

    return FakeIdp()


@pytest.fixture
def people(aws_env: None, monkeypatch: pytest.MonkeyPatch, idp: Any) -> Iterator[Stack]:
    """A stack whose people sign in through `idp`."""
    from chalicelib.auth.oidc import OidcClient, ProviderConfig
    from tests.functional import fake_idp
    from tests.functional.people import PEOPLE_ENV

    with stack_with(monkeypatch, **PEOPLE_ENV) as stack:
        config = ProviderConfig(
            issuer=fake_idp.ISSUER, client_id=fake_idp.CLIENT_ID, client_secret=fake_idp.CLIENT_SECRET
        )
        stack.container.oidc_client = OidcClient(config, transport=idp)
        yield stack
