"""pynamodb models. One main table (tenant partition, entity sort keys) and the audit table.

Main table keys: `pk = "T#<tenant_id>"` (or `PLATFORM` for the operator's own records) and
`sk` by entity: TENANT, CRED#<client_id>, AGENT#<id>, POLICY#<action>#<requester|*>,
DLG#<id> (receiving side, record of truth), DLGREF#<id> (requesting side), AUTHREQ#<id>
(CIBA handle, both sides), IDEM#<agent>#<key>, JTI#<client_id>#<jti> (a used client
assertion), RATE#<kind>#<subject>#<window>, WEBHOOK;
in `PLATFORM`: TENANT#<id> (the tenant list) and AUD#<sha256 of an audience> (its holder).
People: USER#<id>, INVITE#<hash>, SESSION#<hash> in the tenant's partition (`T#platform` for
operators); the partitions IDP#<sha256 of issuer and sub> (sk IDENTITY) and LOGIN#<hash>
(sk LOGIN) and REGISTER#<hash> (sk REGISTER) belong to no tenant: sign-in looks them up
before it knows one.
COUNT#<shard> in a tenant's partition, and the partitions `PLATFORM#COUNT#<shard>` (sk COUNT):
sharded counters (chalicelib/store/counters.py). EDGE#<day>#<out|in>#<counterpart> in a
tenant's partition: the trust graph's daily counts by outcome (chalicelib/store/edges.py).
The token vault, in the tenant's partition: VPROVIDER#<provider>, CONN#<id>, VSTATE#<hash>
(a connect under way) and VACCOUNT#<hash> (a provider account's connection), see
chalicelib/store/connections.py.
Token status lists (chalicelib/store/status_lists.py), in the receiving tenant's partition:
SLHEAD (the current list), SLIDX#<idx> (an index taken), SL#<list_id> (a list's invalid
indices); and the partition STATUSLIST#<list_id> (sk STATUSLIST): the list's tenant.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    VersionAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.config import Settings
from chalicelib.store.db import share_botocore_data_loader

PLATFORM_PK = "PLATFORM"


def tenant_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}"


class ClientIdIndex(GlobalSecondaryIndex["CredentialModel"]):
    """Sparse: client id -> credential item (authentication only)."""

    class Meta:
        index_name = "client_id-index"
        projection = KeysOnlyProjection()

    client_id = UnicodeAttribute(hash_key=True, attr_name="cred_client_id")


class ExpiryIndex(GlobalSecondaryIndex["DelegationModel"]):
    """Sparse: expiry bucket -> live delegation (scheduled cleanup, never a scan)."""

    class Meta:
        index_name = "expiry-index"
        projection = KeysOnlyProjection()

    expiry_bucket = UnicodeAttribute(hash_key=True)
    expiry_at = NumberAttribute(range_key=True)


class _MainTable(Model):
    class Meta:
        table_name = "vaultguard"
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class TenantModel(_MainTable):
    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    audience = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    version = VersionAttribute()


class TenantRefModel(_MainTable):
    """The platform's list of tenants (`PLATFORM` / `TENANT#<id>`), so listing never scans."""

    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()


class AudienceClaimModel(_MainTable):
    """`PLATFORM` / `AUD#<sha256(audience)>`: the one tenant that holds an audience.

    Created with `attribute_not_exists` in the transaction that creates the tenant, and never
    updated or deleted, so no two tenants can ever share an audience (a receiving API that
    checks `aud` would otherwise accept the other tenant's delegations). The key holds a hash
    so that any audience fits a sort key; the audience itself is kept beside it.
    """

    audience = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    claimed_at = UnicodeAttribute()


class CredentialModel(_MainTable):
    # Stored under its own name so that only credentials enter the sparse index.
    client_id = UnicodeAttribute(attr_name="cred_client_id")
    tenant_id = UnicodeAttribute(null=True)
    role = UnicodeAttribute()
    subject = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    status = UnicodeAttribute()
    cred_version = NumberAttribute(default=1)
    created_at = UnicodeAttribute()
    client_id_index = ClientIdIndex()
    # private_key_jwt (RFC 7523): the registered public JWK set (JSON); no usable secret then
    auth_method = UnicodeAttribute(null=True)  # None: client_secret_basic / _post
    jwks = UnicodeAttribute(null=True)
    jwks_uri = UnicodeAttribute(null=True)  # or where its public keys are published
    # federated (no secret or keys): the external identity whose JWTs it presents, read by
    # the token endpoint's federated grants with the credential the request's client_id names
    federated_issuer = UnicodeAttribute(null=True)
    federated_subject = UnicodeAttribute(null=True)
    federated_audience = UnicodeAttribute(null=True)


class AgentModel(_MainTable):
    agent_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    client_id = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    disabled_at = UnicodeAttribute(null=True)
    secret_rotated_at = UnicodeAttribute(null=True)
    last_used_at = UnicodeAttribute(null=True)  # its last access token from /oauth/token
    auth_method = UnicodeAttribute(null=True)  # None: a client secret; "private_key_jwt": keys
    keys_rotated_at = UnicodeAttribute(null=True)
    jwks_uri = UnicodeAttribute(null=True)  # private_key_jwt with published keys
    # A federated agent (auth_method "federated"): the external identity it is mapped from.
    federated_issuer = UnicodeAttribute(null=True)
    federated_subject = UnicodeAttribute(null=True)
    federated_audience = UnicodeAttribute(null=True)


class AssertionJtiModel(_MainTable):
    """`JTI#<client_id>#<jti>`: a client assertion already used (RFC 7523 §3 rule 7), kept
    until the assertion's `exp` (`ttl`); a lingering expired record does not count."""

    client_id = UnicodeAttribute()
    ttl = NumberAttribute()


class PolicyModel(_MainTable):
    policy_id = UnicodeAttribute()
    action = UnicodeAttribute()
    effect = UnicodeAttribute()
    requesting_tenant_id = UnicodeAttribute(null=True)
    ttl_seconds = NumberAttribute()
    stepup_expiry_seconds = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    require_dpop = BooleanAttribute(null=True)  # delegations under it must be DPoP-bound
    require_private_key_jwt = BooleanAttribute(null=True)  # only key-authenticated agents


class _DelegationFields(_MainTable):
    delegation_id = UnicodeAttribute()
    requesting_tenant_id = UnicodeAttribute()
    receiving_tenant_id = UnicodeAttribute()
    agent_id = UnicodeAttribute()
    action = UnicodeAttribute()
    decision = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    ttl_seconds = NumberAttribute()
    purpose = UnicodeAttribute(null=True)
    binding_message = UnicodeAttribute(null=True)
    issued_at = NumberAttribute(null=True)
    expires_at = NumberAttribute(null=True)
    stepup_expires_at = NumberAttribute(null=True)
    revoked_at = UnicodeAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)  # the revoking principal's subject
    revoked_by_tenant_id = UnicodeAttribute(null=True)  # ... and its tenant (either side)
    updated_at = UnicodeAttribute(null=True)
    decided_at = UnicodeAttribute(null=True)
    decision_reason = UnicodeAttribute(null=True)
    requesting_tenant_name = UnicodeAttribute(null=True)
    # Both names are written at creation: every later outcome counts the trust graph's edges
    # with them, without reading the tenants (chalicelib/services/graph.py). Delegations
    # created before they were written have none, and their edges then name nobody.
    receiving_tenant_name = UnicodeAttribute(null=True)
    agent_name = UnicodeAttribute(null=True)
    auth_req_id = UnicodeAttribute(null=True)
    ttl = NumberAttribute(null=True)
    token_sha256 = UnicodeAttribute(null=True)  # the token's fingerprint, never the token
    status_list_id = UnicodeAttribute(null=True)  # the token's status list entry (store/status_lists.py)
    status_idx = NumberAttribute(null=True)
    dpop_jkt = UnicodeAttribute(null=True)  # the key the token is bound to (RFC 9449 cnf.jkt)
    version = VersionAttribute()


class DelegationModel(_DelegationFields):
    """The record of truth, in the receiving tenant's partition."""

    client_id = UnicodeAttribute()
    audience = UnicodeAttribute()
    policy_id = UnicodeAttribute(null=True)
    interval = NumberAttribute(null=True)
    last_polled_at = NumberAttribute(null=True)
    token_delivered_at = NumberAttribute(null=True)
    decided_by = UnicodeAttribute(null=True)
    expiry_bucket = UnicodeAttribute(null=True)
    expiry_at = NumberAttribute(null=True)
    expiry_index = ExpiryIndex()


class DelegationRefModel(_DelegationFields):
    """The requesting tenant's reference; mirrors status for outbound listings."""


class AuthReqModel(_MainTable):
    """`AUTHREQ#<auth_req_id>`, written in both parties' partitions: the requesting agent polls
    and the receiving admin decides by auth_req_id with a tenant-scoped, consistent read."""

    delegation_id = UnicodeAttribute()
    requesting_tenant_id = UnicodeAttribute()
    receiving_tenant_id = UnicodeAttribute()
    agent_id = UnicodeAttribute()
    ttl = NumberAttribute()


class IdempotencyModel(_MainTable):
    request_hash = UnicodeAttribute()
    delegation_id = UnicodeAttribute()
    expires_at = NumberAttribute()
    ttl = NumberAttribute()


class RateCounterModel(_MainTable):
    """A fixed-window request counter (`RATE#<kind>#<subject>#<window start>`)."""

    n = NumberAttribute(default=0)
    ttl = NumberAttribute()
    sources = UnicodeSetAttribute(null=True)  # failed authentications: where they came from


class CounterModel(_MainTable):
    """`COUNT#<shard>`: one shard of a partition's counts (chalicelib/store/counters.py).
    Changed only by `ADD`; a count is the sum over the partition's shards."""

    agents = NumberAttribute(null=True)
    policies = NumberAttribute(null=True)
    audit_events = NumberAttribute(null=True)
    tenants = NumberAttribute(null=True)  # platform totals only, as are the two below
    tenants_ACTIVE = NumberAttribute(null=True)
    tenants_DISABLED = NumberAttribute(null=True)
    in_PENDING = NumberAttribute(null=True)  # delegations by stored status, receiving side
    in_ACTIVE = NumberAttribute(null=True)
    in_REJECTED = NumberAttribute(null=True)
    in_REVOKED = NumberAttribute(null=True)
    in_EXPIRED = NumberAttribute(null=True)
    out_PENDING = NumberAttribute(null=True)  # and requesting side (tenants only)
    out_ACTIVE = NumberAttribute(null=True)
    out_REJECTED = NumberAttribute(null=True)
    out_REVOKED = NumberAttribute(null=True)
    out_EXPIRED = NumberAttribute(null=True)


class EdgeModel(_MainTable):
    """`EDGE#<yyyy-mm-dd>#<out|in>#<counterpart>`: one day of the tenant's dealings with one
    counterpart in one direction, by outcome (chalicelib/store/edges.py). The counts change only
    by `ADD`; the counterpart's name is `SET` beside them by the outcomes that may name it."""

    ALLOW = NumberAttribute(null=True)
    STEP_UP = NumberAttribute(null=True)
    BLOCK = NumberAttribute(null=True)
    APPROVED = NumberAttribute(null=True)
    REJECTED = NumberAttribute(null=True)
    EXPIRED = NumberAttribute(null=True)
    REVOKED = NumberAttribute(null=True)
    counterpart_name = UnicodeAttribute(null=True)  # never set by an outbound BLOCK


class WebhookModel(_MainTable):
    """`WEBHOOK`: the tenant's step-up webhook; the signing secret only encrypted."""

    url = UnicodeAttribute()
    secret_ciphertext = UnicodeAttribute()
    created_at = UnicodeAttribute()


class UserModel(_MainTable):
    """`USER#<user_id>` in the tenant's partition (`T#platform` for operators): a person, one
    role. Bound to an identity (issuer, sub) at their first sign-in; deleting the item ends
    every session of the person at once (a session counts only while its user exists)."""

    user_id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    role = UnicodeAttribute()
    issuer = UnicodeAttribute(null=True)
    subject = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    invited_by = UnicodeAttribute(null=True)
    last_sign_in_at = UnicodeAttribute(null=True)
    idp_organization = UnicodeAttribute(null=True)  # the tenant claim's value when bound
    version = VersionAttribute()


class IdentityModel(_MainTable):
    """`IDP#<sha256(issuer, sub)>` / `IDENTITY`: which person an identity provider's subject
    is. Sign-in's one tenant-less lookup; created with `attribute_not_exists`, so an identity
    is bound to one person only."""

    issuer = UnicodeAttribute()
    subject = UnicodeAttribute()
    tenant_id = UnicodeAttribute(null=True)
    user_id = UnicodeAttribute()
    bound_at = UnicodeAttribute()


class InvitationModel(_MainTable):
    """`INVITE#<keyed hash of the code>`: usable once, until `expires_at`."""

    invitation_id = UnicodeAttribute()
    email = UnicodeAttribute()
    role = UnicodeAttribute()
    invited_by = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = NumberAttribute()
    used_at = UnicodeAttribute(null=True)
    used_by = UnicodeAttribute(null=True)
    ttl = NumberAttribute()


class SessionModel(_MainTable):
    """`SESSION#<keyed hash of the session secret>`: a signed-in person's session. Expiry
    (idle and absolute) is checked on every read."""

    user_id = UnicodeAttribute()
    created_at = NumberAttribute()
    last_seen_at = NumberAttribute()
    expires_at = NumberAttribute()  # absolute
    auth_time = NumberAttribute()  # when the person last authenticated at the IdP
    ttl = NumberAttribute()


class LoginModel(_MainTable):
    """`LOGIN#<keyed hash of the pre-login secret>` / `LOGIN`: a sign-in under way, single
    use, bound to the browser's pre-login cookie."""

    return_to = UnicodeAttribute()
    reauth = NumberAttribute(default=0)  # 1: the IdP was asked to authenticate anew
    expires_at = NumberAttribute()
    ttl = NumberAttribute()


class RegistrationModel(_MainTable):
    """`REGISTER#<keyed hash of a secret>` / `REGISTER`: a signed-in person with no account
    naming the organisation they create (self-registration, when the platform allows it).
    Single use, 10 minutes, bound to the browser's HttpOnly registration cookie."""

    issuer = UnicodeAttribute()
    subject = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    idp_organization = UnicodeAttribute(null=True)
    auth_time = NumberAttribute()
    expires_at = NumberAttribute()
    ttl = NumberAttribute()


class VaultProviderModel(_MainTable):
    """`VPROVIDER#<provider>`: the OAuth client (and, for `oidc`/`oauth2`, the server) a
    tenant brought for a vault provider; the client secret only encrypted."""

    provider = UnicodeAttribute()
    client_id = UnicodeAttribute()
    client_secret_ciphertext = UnicodeAttribute()
    issuer = UnicodeAttribute(null=True)
    authorization_endpoint = UnicodeAttribute(null=True)
    token_endpoint = UnicodeAttribute(null=True)
    revocation_endpoint = UnicodeAttribute(null=True)
    scopes = ListAttribute[str](null=True)
    authorize_params = MapAttribute[str, Any](null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class ConnectionRefreshIndex(GlobalSecondaryIndex["ConnectionModel"]):
    """The sparse `expiry-index` again, for connections: bucket `vault-refresh#<day>` ->
    connections due for a refresh that day (the idle-refresh job, never a scan)."""

    class Meta:
        index_name = "expiry-index"
        projection = KeysOnlyProjection()

    refresh_bucket = UnicodeAttribute(hash_key=True, attr_name="expiry_bucket")
    refresh_due_at = NumberAttribute(range_key=True, attr_name="expiry_at")


class ConnectionModel(_MainTable):
    """`CONN#<connection_id>`: a vault connection (chalicelib/domain/vault.py has its
    statuses). Tokens only as ciphertexts bound to {tenant_id, connection_id, purpose};
    deleting a connection removes them and keeps the record as a tombstone."""

    connection_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    label = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    status_reason = UnicodeAttribute(null=True)
    client_source = UnicodeAttribute()  # "tenant" | "platform": whose OAuth client
    client_id = UnicodeAttribute()
    issuer = UnicodeAttribute(null=True)
    token_endpoint = UnicodeAttribute(null=True)
    revocation_endpoint = UnicodeAttribute(null=True)
    requested_scopes = ListAttribute[str](null=True)
    granted_scopes = ListAttribute[str](null=True)
    allowed_scopes = ListAttribute[str](null=True)
    agent_ids = ListAttribute[str](null=True)
    account_sub = UnicodeAttribute(null=True)
    account_email = UnicodeAttribute(null=True)
    account_key = UnicodeAttribute(null=True)  # the `VACCOUNT#` pointer's key part
    refresh_token_ciphertext = UnicodeAttribute(null=True)
    access_token_ciphertext = UnicodeAttribute(null=True)  # {access_token, expires_at}
    access_token_expires_at = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    connected_at = UnicodeAttribute(null=True)
    connected_by = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    last_refresh_at = UnicodeAttribute(null=True)
    last_used_at = UnicodeAttribute(null=True)
    superseded_by = UnicodeAttribute(null=True)
    deleted_at = UnicodeAttribute(null=True)
    deleted_by = UnicodeAttribute(null=True)
    # The Auth0 connection (e.g. `google-oauth2`) an `auth0` connection was made through,
    # pinned at connect; records without it use the tenant's current setting.
    auth0_connection = UnicodeAttribute(null=True)
    # Down-scoped access tokens by scope set, one ciphertext ({scope key: {access_token,
    # expires_at}}); the main one (the whole grant) stays in access_token_ciphertext.
    scoped_tokens_ciphertext = UnicodeAttribute(null=True)
    # The refresh lease (one refresh at a time per connection, across processes).
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)
    # Backoff while the provider fails transiently (status refresh_failing).
    next_attempt_at = NumberAttribute(null=True)
    refresh_failures = NumberAttribute(null=True)
    # When the idle-refresh job is due (sparse `expiry-index`: `vault-refresh#<day>`).
    refresh_bucket = UnicodeAttribute(null=True, attr_name="expiry_bucket")
    refresh_due_at = NumberAttribute(null=True, attr_name="expiry_at")
    refresh_index = ConnectionRefreshIndex()
    version = VersionAttribute()


class VaultStateModel(_MainTable):
    """`VSTATE#<keyed hash of the state>`: a connect under way, single use, 10 minutes.
    The PKCE verifier only encrypted; the rest says what the callback must find."""

    connection_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    started_by = UnicodeAttribute()
    issuer = UnicodeAttribute(null=True)
    iss_required = NumberAttribute(default=0)
    redirect_uri = UnicodeAttribute()
    verifier_ciphertext = UnicodeAttribute()
    nonce = UnicodeAttribute(null=True)
    client_id = UnicodeAttribute()
    client_source = UnicodeAttribute()
    token_endpoint = UnicodeAttribute()
    revocation_endpoint = UnicodeAttribute(null=True)
    jwks_uri = UnicodeAttribute(null=True)
    revocation_ends_grant = NumberAttribute(default=0)
    expires_at = NumberAttribute()
    ttl = NumberAttribute()


class VaultAccountModel(_MainTable):
    """`VACCOUNT#<sha256 of provider, issuer and sub>`: the one live connection of a
    provider account in the tenant (reconnecting it keeps that connection's id)."""

    connection_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    bound_at = UnicodeAttribute()


class StatusListHeadModel(_MainTable):
    """`SLHEAD`: the tenant's current status list (chalicelib/store/status_lists.py)."""

    list_id = UnicodeAttribute()
    gen = NumberAttribute()
    created_at = NumberAttribute()


class StatusListIndexModel(_MainTable):
    """`SLIDX#<idx>`: index `idx` is taken in the lists of generation `gen`."""

    gen = NumberAttribute()
    list_id = UnicodeAttribute()
    ttl = NumberAttribute()


class StatusListModel(_MainTable):
    """`SL#<list_id>`: one status list; the indices whose tokens are revoked or expired."""

    gen = NumberAttribute()
    created_at = NumberAttribute()
    expires_at = NumberAttribute()
    invalid = NumberSetAttribute(null=True)
    ttl = NumberAttribute()


class StatusListLookupModel(_MainTable):
    """`STATUSLIST#<list_id>` / `STATUSLIST`: which tenant a public list id belongs to."""

    tenant_id = UnicodeAttribute()
    expires_at = NumberAttribute()
    ttl = NumberAttribute()


class WebhookDeliveredModel(_MainTable):
    """`WHSENT#<event id>`: the stream delivered this event to the tenant's webhook
    (chalicelib/store/webhook_deliveries.py); exactly these attributes (the role allows no other)."""

    delivered_at = NumberAttribute()
    ttl = NumberAttribute()


class AuditEventModel(Model):
    """Append-only: put with attribute_not_exists, never updated or deleted."""

    class Meta:
        table_name = "vaultguard-audit"
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    event_id = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    occurred_at = UnicodeAttribute()
    type = UnicodeAttribute()
    actor_type = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    request_id = UnicodeAttribute()
    delegation_id = UnicodeAttribute(null=True)
    counterpart_tenant_id = UnicodeAttribute(null=True)
    action = UnicodeAttribute(null=True)
    decision = UnicodeAttribute(null=True)
    token_sha256 = UnicodeAttribute(null=True)
    detail = MapAttribute[str, Any](null=True)


MAIN_MODELS: tuple[type[Model], ...] = (
    _MainTable,
    TenantModel,
    TenantRefModel,
    AudienceClaimModel,
    CredentialModel,
    AgentModel,
    PolicyModel,
    _DelegationFields,
    DelegationModel,
    DelegationRefModel,
    AuthReqModel,
    IdempotencyModel,
    RateCounterModel,
    CounterModel,
    EdgeModel,
    WebhookModel,
    VaultProviderModel,
    ConnectionModel,
    VaultStateModel,
    VaultAccountModel,
    StatusListHeadModel,
    StatusListIndexModel,
    StatusListModel,
    StatusListLookupModel,
    WebhookDeliveredModel,
)


def configure(settings: Settings) -> None:
    """Point every model at the configured tables and endpoint (called once per container)."""
    share_botocore_data_loader()
    models: tuple[Any, ...] = (*MAIN_MODELS, AuditEventModel)
    for model in models:
        meta: Any = model.Meta
        meta.table_name = settings.audit_table_name if model is AuditEventModel else settings.table_name
        meta.region = settings.aws_region
        meta.host = settings.aws_endpoint
        model._connection = None
