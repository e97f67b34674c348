"""The token vault's test world: a stack whose people sign in through the in-memory identity
provider and whose vault talks to the in-memory "Google" (`fake_vault_provider`), two
tenants with a signed-in admin each, and helpers that connect as the dashboard would."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from chalicelib.vault.client import ProviderClient
from tests.functional import fake_idp
from tests.functional import fake_vault_provider as fake
from tests.functional.conftest import Agent, Reply, Stack, Tenant, stack_with
from tests.functional.fake_idp import FakeIdp
from tests.functional.people import PEOPLE_ENV, Browser, header, invite

VAULT_ENV = {
    **PEOPLE_ENV,
    "VAULTGUARD_LOCAL_GOOGLE_ISSUER": fake.ISSUER,
    "VAULTGUARD_LOCAL_GOOGLE_CLIENT_ID": fake.CLIENT_ID,
    "VAULTGUARD_LOCAL_GOOGLE_CLIENT_SECRET": fake.CLIENT_SECRET,
}
# The agents' exchange and the admin's check, counted in test_vault_exchange.py: the cached
# exchange costs 2 (read, transaction), a refresh 3 (read, lease, transaction).
EXCHANGE_ROUTES = {
    ("POST", "/vault/exchange"): 3,
    ("POST", "/vault/connections/{connection_id}/check"): 3,
}
# Round-trip budgets of the vault's routes, counted in test_vault_connections.py (they need a
# provider and a signed-in person); test_round_trips.py checks every route has a budget.
VAULT_ROUTES = {
    **EXCHANGE_ROUTES,
    ("GET", "/vault/providers"): 3,
    ("PUT", "/vault/providers/{provider}"): 3,
    ("POST", "/vault/connect"): 3,
    ("GET", "/vault/callback"): 3,
    ("GET", "/vault/connections"): 3,
    ("GET", "/vault/connections/{connection_id}"): 3,
    ("PATCH", "/vault/connections/{connection_id}"): 3,
    ("DELETE", "/vault/connections/{connection_id}"): 3,
}
UNKNOWN_ID = "con_" + "0" * 20


@dataclass
class VaultWorld:
    stack: Stack
    idp: FakeIdp
    provider: fake.FakeProvider
    med: Tenant
    nat: Tenant
    agent: Agent
    med_admin: Browser
    nat_admin: Browser

    def person(self, tenant: Tenant, role: str, sub: str) -> Browser:
        email = f"{sub}@{tenant.name.lower()}.example"
        code = invite(self.stack, tenant.admin_token, email, role)
        browser = Browser(self.stack, self.idp)
        assert browser.sign_in(fake_idp.Person(sub=f"idp|{sub}", email=email), invitation=code).status == 302
        return browser

    def connect(self, tenant: Tenant | None = None, **body: Any) -> dict[str, Any]:
        tenant = tenant or self.med
        reply = self.stack.call(
            "POST", "/vault/connect", tenant.admin_token, {"provider": "local-google", **body}
        )
        assert reply.status == 201, reply.body
        return dict(reply.body)

    def callback(self, browser: Browser | None, query: dict[str, str | None]) -> Reply:
        params = {k: v for k, v in query.items() if v is not None}
        path = f"/vault/callback?{urlencode(params)}"
        if browser is None:
            return self.stack.call("GET", path)
        return browser.get(path)

    def connected(self, **consent: Any) -> str:
        """A whole connect -> consent -> callback as MediCore's admin: the connection id."""
        started = self.connect(agent_ids=[self.agent.agent_id])
        reply = self.callback(self.med_admin, self.provider.authorize(started["authorize_url"], **consent))
        assert outcome(reply) == {"connected": started["connection_id"]}, outcome(reply)
        return str(started["connection_id"])


def outcome(reply: Reply) -> dict[str, str]:
    """The dashboard page's query the callback redirected to."""
    assert reply.status == 302, (reply.status, reply.body)
    location = str(header(reply, "location"))
    parts = urlsplit(location)
    assert parts.path == "/dashboard/connections", location
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


@contextlib.contextmanager
def vault_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[VaultWorld]:
    """The world (inside `aws_env`); each vault test module makes it its `vault` fixture."""
    from chalicelib.auth.oidc import OidcClient, ProviderConfig

    idp = FakeIdp()
    provider = fake.FakeProvider()
    with stack_with(monkeypatch, **VAULT_ENV) as stack:
        config = ProviderConfig(
            issuer=fake_idp.ISSUER, client_id=fake_idp.CLIENT_ID, client_secret=fake_idp.CLIENT_SECRET
        )
        stack.container.oidc_client = OidcClient(config, transport=idp)
        stack.container.vault_provider_client = ProviderClient(transport=provider)
        med, nat = stack.tenant("MediCore"), stack.tenant("NatSupply")
        world = VaultWorld(stack, idp, provider, med, nat, stack.agent(med), None, None)  # type: ignore[arg-type]
        world.med_admin = world.person(med, "admin", "ada")
        world.nat_admin = world.person(nat, "admin", "nick")
        yield world
