"""The people of the caller's tenant (its admins), or the platform's operators (platform)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._spec import STRING, TIMESTAMP, Answer, enum, links, maybe, obj
from chalicelib.api._validation import Check, Fields, Query, one_of
from chalicelib.domain.people import is_valid_email
from chalicelib.domain.principal import Role
from chalicelib.errors import InvalidRequest

bp = Blueprint(__name__)

MANAGERS = frozenset({Role.ADMIN, Role.PLATFORM})
ROLE_NAMES = ("admin", "approver", "auditor", "platform")


def _email(name: str, value: Any) -> str:
    if not isinstance(value, str) or not is_valid_email(value.strip()):
        raise InvalidRequest(f"{name} must be an email address.")
    return value.strip()


EMAIL = Check(_email, {"type": "string", "format": "email", "maxLength": 254})
ROLE = one_of(*ROLE_NAMES)
NEW_INVITATION = Fields({"email": EMAIL, "role": ROLE})
ROLE_CHANGE = Fields({"role": ROLE})
NO_PARAMS = Query()
USER = obj(
    {
        "user_id": STRING,
        "email": STRING,
        "name": maybe(STRING),
        "role": enum(*ROLE_NAMES),
        "created_at": STRING,
        "last_sign_in_at": maybe(STRING),
    },
    title="User",
)
USERS = obj({"users": {"type": "array", "items": USER}})
INVITATION = obj(
    {
        "invitation_id": STRING,
        "email": STRING,
        "role": enum(*ROLE_NAMES),
        "expires_at": TIMESTAMP,
        "invitation_url": {**STRING, "description": "The one-time sign-in link; shown in this answer only."},
    },
    title="Invitation",
)


@endpoint(
    bp,
    "/users/invitations",
    methods=["POST"],
    roles=MANAGERS,
    body=NEW_INVITATION,
    responses={201: INVITATION},
    operation_id="inviteUser",
)
def invite_user(ctx: Ctx) -> Reply:
    body = NEW_INVITATION(ctx.json())
    return Reply(ctx.container.users.invite(ctx.call, body["email"], Role(body["role"])), 201)


@endpoint(bp, "/users", roles=MANAGERS, query=NO_PARAMS, responses={200: USERS}, operation_id="listUsers")
def list_users(ctx: Ctx) -> dict[str, Any]:
    NO_PARAMS(ctx.query())
    return ctx.container.users.list(ctx.call)


@endpoint(
    bp,
    "/users/{user_id}",
    methods=["PATCH"],
    roles=MANAGERS,
    body=ROLE_CHANGE,
    responses={200: Answer(USER, links=links("user_id", "removeUser"))},
    operation_id="setUserRole",
)
def set_user_role(ctx: Ctx, user_id: str) -> dict[str, Any]:
    body = ROLE_CHANGE(ctx.json())
    return ctx.container.users.set_role(ctx.call, user_id, Role(body["role"]))


@endpoint(
    bp,
    "/users/{user_id}",
    methods=["DELETE"],
    roles=MANAGERS,
    responses={200: obj({**USER["properties"], "removed": {"type": "boolean"}})},
    operation_id="removeUser",
)
def remove_user(ctx: Ctx, user_id: str) -> dict[str, Any]:
    return ctx.container.users.remove(ctx.call, user_id)
