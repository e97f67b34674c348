"""Token status lists (draft-ietf-oauth-status-list §8): the signed list a delegation token's
`status.status_list.uri` names, for offline verifiers (the SDK's `DelegationVerifier`).

Public, as the draft expects: a list id is random, the list holds bits only, and the token
names no tenant; every id that is not a live list gets the same 404.
"""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api._http import Ctx, Reply, endpoint
from chalicelib.api._permissions import Permission
from chalicelib.api._spec import Answer
from chalicelib.domain.status_list import MEDIA_TYPE

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/statuslists/{list_id}",
    roles=None,
    permissions=[Permission.MAIN_READ, Permission.KMS_SIGN],
    responses={
        200: Answer(
            {"type": "string"},
            "A status list token (draft-ietf-oauth-status-list §5.1): a JWT with header "
            "`typ: statuslist+jwt` signed by the key of `/.well-known/jwks.json`, and claims "
            "`iss`, `sub` (this URI), `iat`, `exp`, `ttl` and `status_list: {bits: 1, lst}`: "
            "`lst` is the base64url of the zlib-compressed list, one bit per token (index i "
            "is bit i % 8 of byte i // 8), 1 = INVALID (revoked or expired). Cacheable for "
            "`ttl` seconds (`Cache-Control: max-age`).",
            MEDIA_TYPE,
            headers=("Cache-Control",),
        )
    },
    operation_id="getStatusList",
)
def status_list(ctx: Ctx, list_id: str) -> Reply:
    served = ctx.container.status_lists.serve(list_id, int(ctx.now))
    return Reply(
        served.token,
        headers={"Content-Type": MEDIA_TYPE, "Cache-Control": f"public, max-age={served.max_age}"},
    )
