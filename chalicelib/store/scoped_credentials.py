"""Tenant-scoped data-plane credentials (DESIGN.md, "Deployment shape").

Once a request knows its tenant (`bind_tenant`, called where the caller's claim is built),
every DynamoDB call until the request ends is signed with credentials from `sts:AssumeRole`
on the data-plane role, narrowed by a session policy (`partition_policy`) to the partitions
the operation may touch: the caller's own, each counterpart a delegation names
(`add_counterpart`, called where a counterpart's scope is built), and the few shared
partitions any tenant's request writes (platform count shards, failure counters by source,
the platform's security log). AWS then refuses a read or write of any other tenant's
partition, and any request without a partition key (a Scan), whatever the code does. The
data key may be used only with a scoped tenant's id in the encryption context.

Before the tenant is known (client-id lookups, sign-in, a platform operator's calls) the
function's own role signs, as it does everywhere when no data-plane role is configured (the
local stage, the tests). Credentials are cached per tenant set in the container and renewed
REFRESH_MARGIN_SECONDS before they expire: one STS call per tenant set per container per hour.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.credentials import Credentials, ReadOnlyCredentials

POLICY_LIMIT = 2048  # STS: the plaintext of a session policy
SESSION_SECONDS = 3600
REFRESH_MARGIN_SECONDS = 300
MAX_CACHED_SETS = 256  # delegation requests scope (caller, counterpart) pairs
TENANT_PREFIX = "T#"
MAIN_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
AUDIT_ACTIONS = ("dynamodb:PutItem", "dynamodb:Query")  # append-only, as the code is
DATA_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
# Partitions of no tenant that a tenant's request writes: the platform totals' shards
# (chalicelib/store/counters.py), failed authentications by source (services/ratelimit.py)
# and the platform's security log with its counts (auth/scope.py, `platform_log_scope`), and
# the status lists' public lookup items (`STATUSLIST#<list_id>` -> the owning tenant, written
# once, only if absent, when a tenant's issuance starts a new list: store/status_lists.py).
# The condition "only if absent" is the code's; IAM cannot express it.
SHARED_MAIN = ("PLATFORM#COUNT#*", "SRC#*", "STATUSLIST#*", "T#platform")
SHARED_AUDIT = ("T#platform",)
_SESSION_NAME = re.compile(r"[^\w+=,.@-]")


@dataclass(frozen=True)
class Tables:
    main_arn: str
    audit_arn: str

    @classmethod
    def of(cls, role_arn: str, region: str, main: str, audit: str) -> Tables:
        """The tables' ARNs in the data-plane role's partition and account."""
        parts = role_arn.split(":")
        if len(parts) < 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[4]:
            raise ValueError(f"not an IAM role ARN: {role_arn!r}")
        prefix = f"arn:{parts[1]}:dynamodb:{region}:{parts[4]}:table/"
        return cls(prefix + main, prefix + audit)


@dataclass(frozen=True)
class Scope:
    """The tenants a request's DynamoDB credentials are limited to; `caller` first."""

    caller: str
    tenants: frozenset[str]


def _literal(value: str) -> str:
    """`value` as an IAM condition value that matches only itself: `*`, `?` and `$` are
    IAM's wildcards and variable marker, and a counterpart id comes from a request body."""
    return value.replace("$", "${$}").replace("*", "${*}").replace("?", "${?}")


def _partitions(sid: str, actions: Iterable[str], resource: str, keys: list[str]) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": resource,
        "Condition": {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys},
            # ForAllValues holds for an empty set: a request must name its partitions.
            "Null": {"dynamodb:LeadingKeys": "false"},
        },
    }


def partition_policy(scope: Scope, tables: Tables) -> str:
    """The session policy (compact JSON, at most POLICY_LIMIT characters) for `scope`."""
    tenants = sorted(scope.tenants | {scope.caller})
    own = [_literal(TENANT_PREFIX + t) for t in tenants]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            _partitions("Main", MAIN_ACTIONS, tables.main_arn, own + list(SHARED_MAIN)),
            _partitions("Audit", AUDIT_ACTIONS, tables.audit_arn, own + list(SHARED_AUDIT)),
            {
                "Sid": "DataKey",
                "Effect": "Allow",
                "Action": list(DATA_KEY_ACTIONS),
                "Resource": "*",  # the role's own policy names the key
                "Condition": {
                    "StringEquals": {"kms:EncryptionContext:tenant_id": [_literal(t) for t in tenants]}
                },
            },
        ],
    }
    text = json.dumps(policy, separators=(",", ":"))
    if len(text) > POLICY_LIMIT:
        raise ValueError(f"the session policy for {len(tenants)} tenants is {len(text)} characters")
    return text


@dataclass(frozen=True)
class _Cached:
    credentials: ReadOnlyCredentials
    expires_at: float


class DataPlaneCredentials:
    """`sts:AssumeRole` on the data-plane role with a scope's session policy, cached per scope."""

    def __init__(
        self,
        role_arn: str,
        tables: Tables,
        sts: Callable[[], Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.role_arn = role_arn
        self.tables = tables
        self._sts_factory = sts
        self._sts: Any = None
        self._clock = clock
        self._cache: OrderedDict[Scope, _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def frozen(self, scope: Scope) -> ReadOnlyCredentials:
        with self._lock:
            cached = self._cache.get(scope)
            if cached is not None and cached.expires_at - self._clock() > REFRESH_MARGIN_SECONDS:
                self._cache.move_to_end(scope)
                return cached.credentials
            if self._sts is None:
                self._sts = self._sts_factory()
            sts = self._sts
        answer = sts.assume_role(
            RoleArn=self.role_arn,
            RoleSessionName=_SESSION_NAME.sub("-", f"vg-{scope.caller}")[:64],
            Policy=partition_policy(scope, self.tables),
            DurationSeconds=SESSION_SECONDS,
        )["Credentials"]
        expiration = answer["Expiration"]
        entry = _Cached(
            ReadOnlyCredentials(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"]),
            expiration.timestamp() if hasattr(expiration, "timestamp") else float(expiration),
        )
        with self._lock:
            self._cache[scope] = entry
            while len(self._cache) > MAX_CACHED_SETS:
                self._cache.popitem(last=False)
        return entry.credentials


_scope: ContextVar[Scope | None] = ContextVar("vaultguard_data_plane_scope", default=None)
_provider: DataPlaneCredentials | None = None


def configure(provider: DataPlaneCredentials | None) -> None:
    """Scope request paths with `provider` (None: the function's own role signs everything)."""
    global _provider
    _provider = provider


def provider_for(
    role_arn: str | None, region: str, main: str, audit: str, endpoint: str | None = None
) -> DataPlaneCredentials | None:
    """The container's provider: None without a data-plane role (local stage, tests)."""
    if not role_arn:
        return None

    def sts() -> Any:
        return botocore.session.get_session().create_client(
            "sts", region_name=region, endpoint_url=endpoint or f"https://sts.{region}.amazonaws.com"
        )

    return DataPlaneCredentials(role_arn, Tables.of(role_arn, region, main, audit), sts)


def current_scope() -> Scope | None:
    return _scope.get()


@contextlib.contextmanager
def request_block() -> Iterator[None]:
    """One request: the tenants it binds are forgotten when it ends."""
    token = _scope.set(None)
    try:
        yield
    finally:
        _scope.reset(token)


def bind_tenant(tenant_id: str | None) -> None:
    """From here to the end of the request, sign DynamoDB and data-key calls with credentials
    limited to `tenant_id`'s partitions. None (a platform operator) changes nothing."""
    if tenant_id is None:
        return
    current = _scope.get()
    if current is None:
        _scope.set(Scope(tenant_id, frozenset({tenant_id})))
    elif current.caller != tenant_id:
        raise RuntimeError("a request cannot act for two callers' tenants")


def add_counterpart(tenant_id: str) -> None:
    """Let the bound request touch `tenant_id`'s partitions too (a delegation's other party)."""
    current = _scope.get()
    if current is not None and tenant_id not in current.tenants:
        _scope.set(Scope(current.caller, current.tenants | {tenant_id}))


class ScopedCredentials(Credentials):
    """What every data-plane client signs with: the bound request's scoped credentials, or
    the function's own (`base`) outside a bound request or without a data-plane role.
    botocore asks for `get_frozen_credentials()` each time it signs a request."""

    def __init__(self, base: Credentials) -> None:  # no super().__init__: nothing is stored
        self._base = base
        self.method = f"vaultguard-scoped({base.method})"

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        scope, provider = _scope.get(), _provider
        if scope is None or provider is None:
            return self._base.get_frozen_credentials()
        return provider.frozen(scope)

    @property
    def access_key(self) -> str:
        return self.get_frozen_credentials().access_key

    @property
    def secret_key(self) -> str:
        return self.get_frozen_credentials().secret_key

    @property
    def token(self) -> str | None:
        return self.get_frozen_credentials().token


class ScopedSession(botocore.session.Session):
    """A botocore session whose clients sign with `ScopedCredentials`."""

    def get_credentials(self) -> Credentials | None:
        base = super().get_credentials()
        return ScopedCredentials(base) if base is not None else None
