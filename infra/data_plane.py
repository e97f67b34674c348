"""The data-plane role: what request paths assume, per tenant set, for their DynamoDB and
data-key calls once they know their tenant (chalicelib/store/scoped_credentials.py).

Its own policy is the ceiling (item actions on the two tables, never a Scan, never a request
without a partition key; the data key only with a `tenant_id` in the encryption context); the
session policy of each `sts:AssumeRole` narrows it to the tenants of one request. Route
functions may assume it (their roles carry the trust tag and `sts:AssumeRole`); their own data
key access shrinks to unwrapping the secret-hashing key, so tenant secrets open only through
a tenant-scoped session. The key policy refuses the data-plane role any use of the key without
a tenant in the context, whatever IAM says.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.auth.secrets import SECRET_HASH_KEY_CONTEXT
from chalicelib.config import DATA_PLANE_ROLE_ARN
from chalicelib.store.scoped_credentials import (
    AUDIT_ACTIONS,
    DATA_KEY_ACTIONS,
    MAIN_ACTIONS,
    REFRESH_MARGIN_SECONDS,
    SESSION_SECONDS,
)

Json = dict[str, Any]

DATA_PLANE = "DataPlaneRole"
TRUST_TAG = "vaultguard:data-plane"  # on route roles: may assume the data-plane role
ROLE_TAG = "vaultguard:role"  # on the data-plane role itself (its sessions carry it)
ROLE_TAG_VALUE = "data-plane"
MAIN, AUDIT, DATA_KEY = "MainTable", "AuditTable", "DataKey"  # infra/package.py's logical ids
_STACK = {"Ref": "AWS::StackName"}
_ACCOUNT_ROOT = "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
_LEADING_KEY_PRESENT = {"Null": {"dynamodb:LeadingKeys": "false"}}
_TENANT_CONTEXT = "kms:EncryptionContext:tenant_id"


def _arn(logical_id: str) -> Json:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def environment() -> Json:
    """What every function's environment gets: the role to assume (unset: no scoping)."""
    return {DATA_PLANE_ROLE_ARN: _arn(DATA_PLANE)}


def role() -> Json:
    statements = [
        {
            "Sid": "TenantPartitions",
            "Effect": "Allow",
            "Action": sorted(MAIN_ACTIONS),
            "Resource": [_arn(MAIN)],
            "Condition": _LEADING_KEY_PRESENT,
        },
        {
            "Sid": "TenantAuditLog",
            "Effect": "Allow",
            "Action": sorted(AUDIT_ACTIONS),
            "Resource": [_arn(AUDIT)],
            "Condition": _LEADING_KEY_PRESENT,
        },
        {
            "Sid": "TenantDataKey",
            "Effect": "Allow",
            "Action": sorted(DATA_KEY_ACTIONS),
            "Resource": [_arn(DATA_KEY)],
            "Condition": {"Null": {_TENANT_CONTEXT: "false"}},
        },
    ]
    assert SESSION_SECONDS > REFRESH_MARGIN_SECONDS
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "MaxSessionDuration": SESSION_SECONDS,
            "Tags": [{"Key": ROLE_TAG, "Value": ROLE_TAG_VALUE}],
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": {"Fn::Sub": _ACCOUNT_ROOT}},
                        "Action": "sts:AssumeRole",
                        # only this stack's route roles (tagged below), which also need the
                        # identity-side permission: a trust policy naming ~60 role ARNs
                        # would pass IAM's size limit
                        "Condition": {"StringEquals": {f"aws:PrincipalTag/{TRUST_TAG}": _STACK}},
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "tenant-partitions",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }


def key_policy_statement() -> Json:
    """The data key refuses the data-plane role without a tenant in the encryption context."""
    return {
        "Sid": "DataPlaneOnlyWithATenant",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncrypt*"],
        "Resource": "*",
        "Condition": {
            "StringEquals": {f"aws:PrincipalTag/{ROLE_TAG}": ROLE_TAG_VALUE},
            "Null": {_TENANT_CONTEXT: "true"},
        },
    }


def _narrow_route_role(role_resource: Json) -> None:
    role_resource["Properties"].setdefault("Tags", []).append({"Key": TRUST_TAG, "Value": _STACK})
    document = role_resource["Properties"]["Policies"][0]["PolicyDocument"]
    kept = []
    for statement in document["Statement"]:
        if statement.get("Sid") == "DataKeyGenerate":
            continue  # new tenant secrets are wrapped through the data-plane role only
        if statement.get("Sid") == "DataKeyDecrypt":
            statement["Condition"] = {
                "StringEquals": {f"kms:EncryptionContext:{k}": v for k, v in SECRET_HASH_KEY_CONTEXT.items()}
            }
        kept.append(statement)
    assume = {"Sid": "AssumeDataPlane", "Effect": "Allow", "Action": ["sts:AssumeRole"]}
    kept.append({**assume, "Resource": [_arn(DATA_PLANE)]})
    document["Statement"] = kept


def apply(resources: Json, route_functions: Iterable[str]) -> None:
    """Add the data-plane role, let the route functions' roles assume it, bind the data key."""
    resources[DATA_PLANE] = role()
    for name in route_functions:
        _narrow_route_role(resources[f"{name}Role"])
    key_policy = resources[DATA_KEY]["Properties"]["KeyPolicy"]
    key_policy["Statement"].append(key_policy_statement())
