"""VaultGuard on Chalice: wiring only (blueprints and middleware)."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.api import (
    agents,
    audit,
    delegations,
    health,
    oauth,
    policies,
    stepup,
    tenants,
    webhooks,
    wellknown,
)
from chalicelib.api._middleware import http_middleware

app = Chalice(app_name="vaultguard")
app.debug = False
app.register_middleware(http_middleware, "http")

for blueprint in (wellknown, oauth, tenants, agents, policies, delegations, stepup, webhooks, audit, health):
    app.register_blueprint(blueprint.bp)
