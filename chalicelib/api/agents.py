"""The agent registry of the caller's tenant (admins only)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._spec import INTEGER, STRING, Answer, enum, links, maybe, obj
from chalicelib.api._validation import Fields, Query, text
from chalicelib.domain.principal import Role

bp = Blueprint(__name__)

ADMIN = frozenset({Role.ADMIN})
NEW_AGENT = Fields({"name": text(100)}, {"description": text(500)})
NO_PARAMS = Query()
_VIEW = {
    "agent_id": STRING,
    "name": STRING,
    "description": maybe(STRING),
    "client_id": STRING,
    "status": enum("ACTIVE", "DISABLED"),
    "created_at": STRING,
    "secret_rotated_at": maybe(STRING),
    "disabled_at": maybe(STRING),
    "last_used_at": {**maybe(STRING), "description": "When it last got an access token; null if never."},
}
AGENT = obj(_VIEW, title="Agent")
SECRET = {**STRING, "description": "Shown in this answer only."}
AGENT_WITH_SECRET = obj({**_VIEW, "client_secret": SECRET}, title="AgentWithSecret")
AGENTS = obj({"agents": {"type": "array", "items": AGENT}})
DISABLED_AGENT = obj({**_VIEW, "revoked_delegations": INTEGER})


@endpoint(
    bp,
    "/agents",
    methods=["POST"],
    roles=ADMIN,
    body=NEW_AGENT,
    responses={
        201: Answer(
            AGENT_WITH_SECRET, links=links("agent_id", "getAgent", "rotateAgentSecret", "disableAgent")
        )
    },
)
def create_agent(ctx: Ctx) -> Reply:
    body = NEW_AGENT(ctx.json())
    return Reply(ctx.container.agents.create(ctx.call, body["name"], body["description"]), 201)


@endpoint(bp, "/agents", roles=ADMIN, query=NO_PARAMS, responses={200: AGENTS})
def list_agents(ctx: Ctx) -> dict[str, Any]:
    NO_PARAMS(ctx.query())
    return ctx.container.agents.list(ctx.call)


@endpoint(bp, "/agents/{agent_id}", roles=ADMIN, prefetch=True, responses={200: AGENT})
def get_agent(ctx: Ctx, agent_id: str) -> dict[str, Any]:
    return ctx.container.agents.get(ctx.call, agent_id)


@endpoint(
    bp, "/agents/{agent_id}", methods=["DELETE"], roles=ADMIN, prefetch=True, responses={200: DISABLED_AGENT}
)
def disable_agent(ctx: Ctx, agent_id: str) -> dict[str, Any]:
    return ctx.container.agents.disable(ctx.call, agent_id)


@endpoint(
    bp,
    "/agents/{agent_id}/rotate-secret",
    methods=["POST"],
    roles=ADMIN,
    prefetch=True,
    responses={200: AGENT_WITH_SECRET},
    errors=(409,),  # a disabled agent
)
def rotate_agent_secret(ctx: Ctx, agent_id: str) -> dict[str, Any]:
    return ctx.container.agents.rotate_secret(ctx.call, agent_id)
