"""Tenant-scoped credentials, checked against what the API really touches.

moto enforces no IAM, so a session policy that forgot a partition (or a code path that reaches
one it should not) would pass every other test and fail only in AWS. Here the data-plane role is
on, with a fake STS that hands out one access key per session policy; every DynamoDB and KMS
call of representative flows is recorded (tests/aws_calls.py) with the key it was signed with,
and each partition key and encryption context is evaluated against the policy STS got for that
key, the way IAM evaluates `dynamodb:LeadingKeys`.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import socket
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials

from chalicelib.auth.secrets import SECRET_HASH_KEY_CONTEXT
from chalicelib.config import get_settings
from chalicelib.crypto import KmsEncryptor
from chalicelib.store import scoped_credentials as sc
from tests.aws_calls import AwsCall, dynamodb_touches, record
from tests.functional.conftest import Stack, stack_with

ROLE = "arn:aws:iam::123456789012:role/vaultguard-data-plane"
FUNCTION_KEY = "AKIAFUNCTIONROLE"
_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
_HASH_KEYS = {None: "pk", "client_id-index": "cred_client_id", "expiry-index": "expiry_bucket"}


WEBHOOK_HOST = "hooks.example.com"


class FakeSts:
    def __init__(self) -> None:
        self.policies: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, str] = {}  # access key -> the session name (the caller)

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        key = f"ASIASCOPED{len(self.policies)}"
        self.policies[key] = json.loads(kwargs["Policy"])
        self.sessions[key] = kwargs["RoleSessionName"]
        expiry = datetime.now(tz=UTC) + timedelta(hours=1)
        return {
            "Credentials": {
                "AccessKeyId": key,
                "SecretAccessKey": "s",
                "SessionToken": "t",
                "Expiration": expiry,
            }
        }


def _pattern(value: str) -> re.Pattern[str]:
    """An IAM StringLike value as a regex: `*`, `?` wildcards, `${*}` `${?}` `${$}` literals."""
    out, i = "", 0
    while i < len(value):
        if value.startswith(("${*}", "${?}", "${$}"), i):
            out += re.escape(value[i + 2])
            i += 4
        elif value.startswith("${", i):
            raise AssertionError(f"a policy variable in a condition value: {value}")
        else:
            out += ".*" if value[i] == "*" else "." if value[i] == "?" else re.escape(value[i])
            i += 1
    return re.compile(out + r"\Z")


def _allows(policy: Mapping[str, Any], action: str, resource: str, context: Mapping[str, list[str]]) -> bool:
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow" or action not in statement["Action"]:
            continue
        if not fnmatch.fnmatchcase(resource, statement["Resource"]):
            continue
        ok = True
        for operator, conditions in statement.get("Condition", {}).items():
            for key, wanted in conditions.items():
                values = context.get(key)
                wanted = wanted if isinstance(wanted, list) else [wanted]
                if operator == "Null":
                    ok &= (values is None) == (wanted == ["true"])
                elif operator == "ForAllValues:StringLike":
                    ok &= all(any(_pattern(w).match(v) for w in wanted) for v in values or [])
                elif operator == "StringEquals":
                    ok &= values is not None and len(values) == 1 and values[0] in wanted
                else:
                    raise AssertionError(f"an operator this check does not know: {operator}")
        if ok:
            return True
    return False


def _leading_key(
    table: str, index: str | None, key: Mapping[str, Any] | None, params: Mapping[str, Any]
) -> str:
    name = _HASH_KEYS[index]
    if key is not None:
        return str(key[name]["S"])
    names = params.get("ExpressionAttributeNames", {})
    values = params.get("ExpressionAttributeValues", {})
    for alias, placeholder in re.findall(r"(#\w+) = (:\w+)", params.get("KeyConditionExpression", "")):
        if names.get(alias) == name:
            return str(values[placeholder]["S"])
    raise AssertionError(f"no partition key in {params}")


def violations(calls: list[AwsCall], sts: FakeSts) -> tuple[list[str], int]:
    found, checked = [], 0
    for call in calls:
        key = call.context["signed_with"]
        if key == FUNCTION_KEY:
            continue
        policy = sts.policies[key]
        region, account = "us-east-1", "123456789012"
        if call.service == "kms":
            context = dict(call.params.get("EncryptionContext") or {})
            tenant = (
                {"kms:EncryptionContext:tenant_id": [context["tenant_id"]]} if "tenant_id" in context else {}
            )
            checked += 1
            if not _allows(policy, f"kms:{call.operation}", "arn:aws:kms:any", tenant):
                found.append(f"{call.operation} with {context} under {call.context['scope']}")
            continue
        if call.service != "dynamodb":
            continue
        if call.operation == "Scan" or not dynamodb_touches(call):
            found.append(f"{call.operation} names no partition under {call.context['scope']}")
        for table, index, kind, item in dynamodb_touches(call):
            action = f"dynamodb:{_ITEM_ACTIONS.get(kind, 'GetItem' if kind == 'Get' else kind)}"
            if call.operation == "BatchGetItem":
                action = "dynamodb:BatchGetItem"
            resource = f"arn:aws:dynamodb:{region}:{account}:table/{table}" + (
                f"/index/{index}" if index else ""
            )
            pk = _leading_key(table, index, item, call.params)
            checked += 1
            if not _allows(policy, action, resource, {"dynamodb:LeadingKeys": [pk]}):
                found.append(
                    f"{action} {table}{'/' + index if index else ''} {pk} under {call.context['scope']}"
                )
    return found, checked


@pytest.fixture
def scoped(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stack, FakeSts]]:
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    blob = KmsEncryptor(key_id, lambda: kms).encrypt(os.urandom(32), SECRET_HASH_KEY_CONTEXT)
    env = {
        "VAULTGUARD_DATA_PLANE_ROLE_ARN": ROLE,
        "VAULTGUARD_ENCRYPTOR": "kms",
        "VAULTGUARD_KMS_DATA_KEY_ID": key_id,
        "VAULTGUARD_SECRET_HASH_KEY_BLOB": blob,
    }
    # The webhook below only gives B a sealed secret to decrypt; its deliveries stay on this
    # machine (tests send traffic to 127.0.0.1 only).
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: real_getaddrinfo("127.0.0.1" if host == WEBHOOK_HOST else host, *a, **k),
    )
    with stack_with(monkeypatch, **env) as stack:
        settings = get_settings()
        sts = FakeSts()
        tables = sc.Tables.of(ROLE, settings.aws_region, settings.table_name, settings.audit_table_name)
        sc.configure(sc.DataPlaneCredentials(ROLE, tables, lambda: sts))
        try:
            yield stack, sts
        finally:
            sc.configure(None)


def _signed_with() -> dict[str, Any]:
    return {
        "scope": sc.current_scope(),
        "signed_with": sc.ScopedCredentials(Credentials(FUNCTION_KEY, "x")).access_key,
    }


def test_every_key_a_scoped_request_touches_is_one_its_session_policy_allows(
    scoped: tuple[Stack, FakeSts],
) -> None:
    stack, sts = scoped
    with record(context=_signed_with) as calls:
        a, b = stack.tenant("Requester"), stack.tenant("Receiver")
        agent = stack.agent(a)
        stack.policy(b, "stock.read", "ALLOW", a)
        stack.policy(b, "stock.write", "STEP_UP", a)
        stack.policy(b, "stock.delete", "BLOCK", a)
        hook = stack.call("PUT", "/webhooks", b.admin_token, {"url": f"https://{WEBHOOK_HOST}/vg"})
        assert hook.status in (200, 201), hook.body  # its secret: sealed with B's tenant id

        allowed = stack.request(agent, b, "stock.read")
        assert allowed.status == 201, allowed.body
        pending = stack.request(agent, b, "stock.write")
        assert pending.status == 202, pending.body
        assert stack.request(agent, b, "stock.delete").status == 403
        assert stack.request(agent, "tnt_" + "0" * 20, "stock.read").status == 403  # unknown tenant
        assert stack.request(agent, "*", "stock.read").status == 403  # no wildcard partition

        approve = f"/delegations/{pending.body['delegation_id']}/approve"
        assert stack.call("POST", approve, b.admin_token, {}).status == 200
        assert stack.verify(allowed.body["access_token"], b.admin_token).status == 200
        revoke = f"/delegations/{allowed.body['delegation_id']}/revoke"
        assert stack.call("POST", revoke, a.admin_token, {}).status == 200
        assert stack.call("GET", "/delegations", b.admin_token).status == 200
        assert stack.token(agent.client_id, agent.secret)
        bad = stack.form(
            "/oauth/token", f"grant_type=client_credentials&client_id={agent.client_id}&client_secret=x"
        )
        assert bad.status == 401
        assert stack.audit(a) and stack.audit(b)
        assert stack.call("GET", "/graph", a.admin_token).status == 200
        assert stack.call("GET", "/vault/connections", a.admin_token).status == 200

    found, checked = violations(list(calls), sts)
    assert not found, "\n".join(found)
    scoped_calls = [c for c in calls if c.context["signed_with"] != FUNCTION_KEY]
    assert checked > 100 and {c.service for c in scoped_calls} == {"dynamodb", "kms"}
    # one session per caller and tenant set (the session is named after the caller, for
    # CloudTrail), not per request: B approving A's request does not reuse A's session
    sets = {
        key: p["Statement"][2]["Condition"]["StringEquals"]["kms:EncryptionContext:tenant_id"]
        for key, p in sts.policies.items()
    }
    callers = sorted(sets.values())
    assert len(sts.policies) == len({(sts.sessions[key], tuple(tenants)) for key, tenants in sets.items()})
    assert sorted([a.tenant_id, b.tenant_id]) in callers and [a.tenant_id] in callers


def test_the_policy_check_itself_catches_another_tenants_partition(scoped: tuple[Stack, FakeSts]) -> None:
    """The check above can fail: a call signed for tenant A that touches B's partition."""
    stack, sts = scoped
    a, b = stack.tenant("A"), stack.tenant("B")
    from chalicelib.store.models import TenantModel

    with record(context=_signed_with) as calls, sc.request_block():
        sc.bind_tenant(a.tenant_id)
        assert TenantModel.get(f"T#{b.tenant_id}", "TENANT")  # moto lets it through; AWS would not
    found, _ = violations(list(calls), sts)
    assert found == [
        f"dynamodb:GetItem vaultguard T#{b.tenant_id} under {sc.Scope(a.tenant_id, frozenset({a.tenant_id}))}"
    ]
