"""What AWS access each route needs, declared beside its definition (`endpoint(permissions=)`).

The packager (`infra/package.py`) gives every route a Lambda of its own and turns these
declarations into that function's IAM role, so a route gets exactly what it declares. The
names below are capabilities, not IAM actions; `infra/package.py` maps each to the actions on
the concrete table, key or bucket.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum


class Permission(StrEnum):
    MAIN_READ = "main-read"  # main table and its indexes: get, batch get, query
    MAIN_WRITE = "main-write"  # main table: put, update, delete (transactions included)
    AUDIT_READ = "audit-read"  # audit table: query
    AUDIT_WRITE = "audit-write"  # audit table: append only (conditional put)
    KMS_PUBLIC_KEY = "kms-public-key"  # signing key: the public key (JWKS, token verification)
    KMS_SIGN = "kms-sign"  # signing key: sign tokens
    KMS_DECRYPT = "kms-decrypt"  # data key: unwrap envelope-encrypted secrets, the HMAC key
    KMS_ENCRYPT = "kms-encrypt"  # data key: wrap new secrets (generate a data key)
    CSV_EXPORT = "csv-export"  # audit bucket, `exports/` only: large CSV exports, presigned


# Every route reads and writes the main table (the caller's credential, its rate-limit
# budget), may append `auth.failed` to the audit log, verifies tokens against the signing
# key's public part and unwraps the secret-hash key (sessions, client secrets).
AUTHENTICATED = frozenset(
    {
        Permission.MAIN_READ,
        Permission.MAIN_WRITE,
        Permission.AUDIT_WRITE,
        Permission.KMS_PUBLIC_KEY,
        Permission.KMS_DECRYPT,
    }
)
# A public route (`roles=None`) that authenticates nobody needs nothing by default beyond
# what it declares; routes that authenticate their callers themselves declare AUTHENTICATED.
STATIC: frozenset[Permission] = frozenset()

_DECLARED: dict[tuple[str, str], frozenset[Permission]] = {}


def declare(path: str, methods: Iterable[str], permissions: Iterable[Permission]) -> None:
    """Record a route's permissions (called by `endpoint`)."""
    needs = frozenset(Permission(p) for p in permissions)
    for method in methods:
        _DECLARED[(method.upper(), path)] = needs


def permissions_for(method: str, path: str) -> frozenset[Permission]:
    """What the route `method path` declared; KeyError for a route that declared nothing."""
    return _DECLARED[(method.upper(), path)]


def function_name(method: str, path: str) -> str:
    """The route's function name, a CloudFormation logical id and a Python identifier:
    `POST /delegations/{delegation_id}/approve` -> `RoutePostDelegationsDelegationIdApprove`."""
    words = re.findall(r"[A-Za-z0-9]+", f"{method.lower()} {path}")
    return "Route" + "".join(w[:1].upper() + w[1:] for w in words)
