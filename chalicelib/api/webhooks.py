"""The caller's step-up webhook (admins only): set it, read it, remove it, send it a test
delivery. The signing secret is in the PUT answer only; nothing ever shows it again."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._permissions import AUTHENTICATED, Permission
from chalicelib.api._spec import BOOLEAN, INTEGER, STRING, maybe, obj
from chalicelib.api._validation import Fields, check
from chalicelib.domain.principal import Role

bp = Blueprint(__name__)

ADMIN = frozenset({Role.ADMIN})
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@check(
    {
        "type": "string",
        "format": "uri",
        "description": "An https URL on a public address (http to loopback on the local stage).",
    }
)
def _as_given(name: str, value: Any) -> Any:
    return value  # the service checks the URL (its rules depend on the stage)


NEW_WEBHOOK = Fields({"url": _as_given})
WEBHOOK = obj({"url": STRING, "created_at": STRING}, title="Webhook")
NEW_WEBHOOK_ANSWER = obj(
    {
        **WEBHOOK["properties"],
        "secret": {**STRING, "description": "The signing secret; shown in this answer only."},
    }
)


@endpoint(
    bp,
    "/webhooks",
    methods=["PUT"],
    permissions=AUTHENTICATED | {Permission.KMS_ENCRYPT},
    roles=ADMIN,
    body=NEW_WEBHOOK,
    responses={200: NEW_WEBHOOK_ANSWER, 201: NEW_WEBHOOK_ANSWER},
)
def put_webhook(ctx: Ctx) -> Reply:
    """Set (or replace) the tenant's step-up webhook; answers its signing secret once."""
    body = NEW_WEBHOOK(ctx.json())
    created, view = ctx.container.webhooks.put(ctx.call, body["url"])
    return Reply(view, 201 if created else 200, NO_STORE)


@endpoint(bp, "/webhooks", roles=ADMIN, prefetch=True, responses={200: WEBHOOK}, errors=(404,))
def get_webhook(ctx: Ctx) -> dict[str, Any]:
    return ctx.container.webhooks.get(ctx.call)


@endpoint(
    bp,
    "/webhooks",
    methods=["DELETE"],
    roles=ADMIN,
    prefetch=True,
    responses={200: obj({"deleted": BOOLEAN})},
    errors=(404,),
)
def delete_webhook(ctx: Ctx) -> dict[str, Any]:
    return ctx.container.webhooks.delete(ctx.call)


TEST_DELIVERY = obj(
    {
        "event_id": STRING,
        "delivered": {**BOOLEAN, "description": "The receiver answered 2xx."},
        "status_code": {**maybe(INTEGER), "description": "The receiver's status; null when none came."},
        "error": {**maybe(STRING), "description": "Why the delivery failed; null when delivered."},
        "duration_ms": {"type": "number", "description": "How long the attempt took."},
    },
    title="WebhookTestDelivery",
)


@endpoint(
    bp,
    "/webhooks/test",
    methods=["POST"],
    permissions=AUTHENTICATED,
    roles=ADMIN,
    prefetch=True,
    responses={200: TEST_DELIVERY},
    errors=(404,),
)
def test_webhook(ctx: Ctx) -> dict[str, Any]:
    """Send a signed `webhook.test` event to the tenant's webhook now (one attempt, no
    retries) and answer how the receiver responded; 404 when no webhook is set."""
    return ctx.container.webhooks.send_test(ctx.call)
