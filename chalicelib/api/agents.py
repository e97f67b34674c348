"""The agent registry of the caller's tenant (admins only)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._validation import fields, only_params, text
from chalicelib.domain.principal import Role

bp = Blueprint(__name__)

ADMIN = frozenset({Role.ADMIN})


@endpoint(bp, "/agents", methods=["POST"], roles=ADMIN)
def create_agent(ctx: Ctx) -> Reply:
    body = fields(ctx.json(), {"name": text(100)}, {"description": text(500)})
    return Reply(ctx.container.agents.create(ctx.call, body["name"], body["description"]), 201)


@endpoint(bp, "/agents", roles=ADMIN)
def list_agents(ctx: Ctx) -> dict[str, Any]:
    only_params(ctx.query(), set())
    return ctx.container.agents.list(ctx.call)


@endpoint(bp, "/agents/{agent_id}", roles=ADMIN, prefetch=True)
def get_agent(ctx: Ctx, agent_id: str) -> dict[str, Any]:
    return ctx.container.agents.get(ctx.call, agent_id)


@endpoint(bp, "/agents/{agent_id}", methods=["DELETE"], roles=ADMIN, prefetch=True)
def disable_agent(ctx: Ctx, agent_id: str) -> dict[str, Any]:
    return ctx.container.agents.disable(ctx.call, agent_id)


@endpoint(bp, "/agents/{agent_id}/rotate-secret", methods=["POST"], roles=ADMIN, prefetch=True)
def rotate_agent_secret(ctx: Ctx, agent_id: str) -> dict[str, Any]:
    return ctx.container.agents.rotate_secret(ctx.call, agent_id)
