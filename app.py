"""VaultGuard on Chalice: wiring only (blueprints and middleware)."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate

from chalicelib.api import (
    agents,
    audit,
    auth,
    delegations,
    graph,
    health,
    oauth,
    policies,
    reference,
    statuslists,
    stepup,
    tenants,
    users,
    vault,
    webhooks,
    wellknown,
)
from chalicelib.api._middleware import http_middleware
from chalicelib.config import get_settings
from chalicelib.observability import restore_log_level

app = Chalice(app_name="vaultguard")
app.debug = False
restore_log_level()
app.register_middleware(http_middleware, "http")

BLUEPRINTS = (
    wellknown,
    oauth,
    tenants,
    agents,
    policies,
    delegations,
    stepup,
    webhooks,
    vault,
    audit,
    graph,
    health,
    auth,
    users,
    reference,
    statuslists,
)
for blueprint in BLUEPRINTS:
    app.register_blueprint(blueprint.bp)


@app.schedule(Rate(5, unit=Rate.MINUTES))
def expire_delegations(event: Any) -> None:
    """Expire delegations past their deadline, with audit events (chalicelib/jobs/cleanup.py)."""
    from chalicelib.jobs import cleanup

    cleanup.handler(event)


@app.schedule(Rate(1, unit=Rate.HOURS))
def refresh_idle_vault_connections(event: Any) -> None:
    """Refresh vault connections idle for a week (chalicelib/jobs/vault_refresh.py)."""
    from chalicelib.jobs import vault_refresh

    vault_refresh.handler(event)


# The ARN is read when Chalice packages the app (`VAULTGUARD_AUDIT_STREAM_ARN` set in the
# environment of `chalice package --stage prod`); elsewhere a placeholder stands in, and the
# local stack (`make run`) polls moto's stream and calls the same export.
@app.on_dynamodb_record(
    stream_arn=get_settings().audit_stream_arn, batch_size=100, starting_position="TRIM_HORIZON"
)
def export_audit_events(event: Any) -> dict[str, Any]:
    """Audit stream -> S3 JSON Lines and hour digests, partial batch failures reported."""
    from chalicelib.jobs import audit_export

    return audit_export.handle_event(event.to_dict(), event.context)


# A second consumer of the same stream (its own event source mapping, batch and timeout in
# infra/package.py): step-up and vault webhooks, off the request path; `make run` polls too.
@app.on_dynamodb_record(
    stream_arn=get_settings().audit_stream_arn, batch_size=10, starting_position="TRIM_HORIZON"
)
def deliver_webhook_events(event: Any) -> dict[str, Any]:
    """Audit stream -> signed webhook deliveries, at least once, partial batch failures reported."""
    from chalicelib.jobs import webhook_delivery

    return webhook_delivery.handle_event(event.to_dict(), event.context)
