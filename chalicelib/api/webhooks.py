"""The caller's step-up webhook (admins only): set it, read it, remove it. The signing
secret is in the PUT answer only; nothing ever shows it again."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._validation import fields
from chalicelib.domain.principal import Role

bp = Blueprint(__name__)

ADMIN = frozenset({Role.ADMIN})
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _as_given(name: str, value: Any) -> Any:
    return value  # the service checks the URL (its rules depend on the stage)


@endpoint(bp, "/webhooks", methods=["PUT"], roles=ADMIN)
def put_webhook(ctx: Ctx) -> Reply:
    body = fields(ctx.json(), {"url": _as_given})
    created, view = ctx.container.webhooks.put(ctx.call, body["url"])
    return Reply(view, 201 if created else 200, NO_STORE)


@endpoint(bp, "/webhooks", roles=ADMIN, prefetch=True)
def get_webhook(ctx: Ctx) -> dict[str, Any]:
    return ctx.container.webhooks.get(ctx.call)


@endpoint(bp, "/webhooks", methods=["DELETE"], roles=ADMIN, prefetch=True)
def delete_webhook(ctx: Ctx) -> dict[str, Any]:
    return ctx.container.webhooks.delete(ctx.call)
