"""Tenant-scoped data-plane credentials (chalicelib/store/scoped_credentials.py): the session
policy STS gets, the per-tenant-set cache and its renewal, and which credentials a request's
DynamoDB calls are signed with. AWS enforces the policy; moto does not, so
tests/functional/test_scoped_partitions.py checks every key the API touches against it."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.credentials import Credentials

from chalicelib.store import scoped_credentials as sc

ROLE = "arn:aws:iam::123456789012:role/vaultguard-data-plane"
TABLES = sc.Tables.of(ROLE, "eu-west-1", "vaultguard", "vaultguard-audit")
A, B = "tnt_" + "a" * 20, "tnt_" + "b" * 20
SHARED = ["PLATFORM#COUNT#*", "SRC#*", "STATUSLIST#*", "T#platform"]
MAIN_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/vaultguard"
AUDIT_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/vaultguard-audit"


def scope(caller: str, *others: str) -> sc.Scope:
    return sc.Scope(caller, frozenset({caller, *others}))


def test_the_session_policy_names_exactly_the_partitions_of_the_request() -> None:
    policy = json.loads(sc.partition_policy(scope(A, B), TABLES))
    leading_key_present = {"Null": {"dynamodb:LeadingKeys": "false"}}
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Main",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:BatchGetItem",
                    "dynamodb:ConditionCheckItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:Query",
                    "dynamodb:UpdateItem",
                ],
                "Resource": MAIN_ARN,
                "Condition": {
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"T#{A}", f"T#{B}", *SHARED]},
                    **leading_key_present,
                },
            },
            {
                "Sid": "Audit",
                "Effect": "Allow",
                "Action": ["dynamodb:PutItem", "dynamodb:Query"],
                "Resource": AUDIT_ARN,
                "Condition": {
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"T#{A}", f"T#{B}", "T#platform"]},
                    **leading_key_present,
                },
            },
            {
                "Sid": "DataKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:EncryptionContext:tenant_id": [A, B]}},
            },
        ],
    }
    text = json.dumps(policy)
    assert "Scan" not in text and "index" not in text
    assert "UpdateItem" not in json.dumps(policy["Statement"][1])  # the audit log is append-only


def test_a_single_tenant_request_gets_only_its_own_partition() -> None:
    policy = json.loads(sc.partition_policy(scope(A), TABLES))
    keys = policy["Statement"][0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert [k for k in keys if k.startswith("T#")] == [f"T#{A}", "T#platform"]
    assert policy["Statement"][2]["Condition"]["StringEquals"]["kms:EncryptionContext:tenant_id"] == [A]


def test_wildcards_in_a_counterpart_named_by_a_request_body_match_only_themselves() -> None:
    # a receiving_tenant_id of "*" must not become "T#*" (every partition)
    policy = json.loads(sc.partition_policy(scope(A, "*", "x?y", "${aws:username}"), TABLES))
    keys = policy["Statement"][0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert "T#${*}" in keys and "T#x${?}y" in keys and "T#${$}{aws:username}" in keys
    assert "T#*" not in keys and not any(k.startswith("T#") and "*" in k.replace("${*}", "") for k in keys)


def test_the_largest_request_fits_the_sts_session_policy_limit() -> None:
    """The most a request names: its tenant and one counterpart, here the longest id a body may
    give (64 characters) made only of characters that escaping triples, with 64-character
    table names in the longest partition and region names."""
    tables = sc.Tables.of("arn:aws-us-gov:iam::123456789012:role/r", "ap-southeast-2", "t" * 64, "a" * 64)
    text = sc.partition_policy(scope(A, "$" * 64), tables)
    assert 1800 < len(text) <= sc.POLICY_LIMIT == 2048
    with pytest.raises(ValueError, match="characters"):
        sc.partition_policy(scope(A, "$" * 64, "*" * 64), tables)


def test_tables_come_from_the_role_account_and_partition() -> None:
    tables = sc.Tables.of("arn:aws-cn:iam::210987654321:role/dp", "cn-north-1", "m", "a")
    assert tables.main_arn == "arn:aws-cn:dynamodb:cn-north-1:210987654321:table/m"
    with pytest.raises(ValueError):
        sc.Tables.of("not-an-arn", "us-east-1", "m", "a")


class FakeSts:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lifetime = 3600.0
        self.now = 1_700_000_000.0

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        n = len(self.calls)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIAFAKE{n}",
                "SecretAccessKey": f"secret{n}",
                "SessionToken": f"token{n}",
                "Expiration": datetime.fromtimestamp(self.now + self.lifetime, tz=UTC),
            }
        }


@pytest.fixture
def sts() -> FakeSts:
    return FakeSts()


@pytest.fixture
def provider(sts: FakeSts) -> sc.DataPlaneCredentials:
    return sc.DataPlaneCredentials(ROLE, TABLES, lambda: sts, clock=lambda: sts.now)


def test_one_sts_call_per_tenant_set_until_five_minutes_before_expiry(
    sts: FakeSts, provider: sc.DataPlaneCredentials
) -> None:
    first = provider.frozen(scope(A))
    assert provider.frozen(scope(A)) == first and len(sts.calls) == 1
    call = sts.calls[0]
    assert call["RoleArn"] == ROLE and call["DurationSeconds"] == 3600
    assert call["RoleSessionName"] == f"vg-{A}"
    assert call["Policy"] == sc.partition_policy(scope(A), TABLES)

    provider.frozen(scope(A, B))  # another tenant set: its own session
    assert len(sts.calls) == 2 and json.loads(sts.calls[1]["Policy"]) != json.loads(call["Policy"])

    sts.now += 3600 - 301  # still more than the margin left
    assert provider.frozen(scope(A)) == first and len(sts.calls) == 2
    sts.now += 2  # within five minutes of expiry: renewed before it runs out
    renewed = provider.frozen(scope(A))
    assert renewed != first and renewed.access_key == "ASIAFAKE3"


def test_the_cache_keeps_a_bounded_number_of_tenant_sets(
    sts: FakeSts, provider: sc.DataPlaneCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sc, "MAX_CACHED_SETS", 2)
    for other in ("tnt_1", "tnt_2", "tnt_3"):
        provider.frozen(scope(A, other))
    provider.frozen(scope(A, "tnt_3"))
    assert len(sts.calls) == 3
    provider.frozen(scope(A, "tnt_1"))  # the oldest set was dropped
    assert len(sts.calls) == 4


@pytest.fixture
def scoped(provider: sc.DataPlaneCredentials) -> Any:
    sc.configure(provider)
    yield provider
    sc.configure(None)


BASE = Credentials("AKIAFUNCTIONROLE", "function-secret")


def test_outside_a_bound_request_the_functions_own_role_signs(scoped: Any, sts: FakeSts) -> None:
    creds = sc.ScopedCredentials(BASE)
    assert creds.get_frozen_credentials().access_key == "AKIAFUNCTIONROLE"
    with sc.request_block():
        assert creds.access_key == "AKIAFUNCTIONROLE"  # no tenant yet (authentication lookups)
        sc.bind_tenant(None)  # a platform operator
        assert creds.access_key == "AKIAFUNCTIONROLE"
        sc.bind_tenant(A)
        assert creds.access_key == "ASIAFAKE1" and creds.token == "token1"
        sc.add_counterpart(B)
        assert creds.access_key == "ASIAFAKE2"
        assert sc.current_scope() == scope(A, B)
        with pytest.raises(RuntimeError):
            sc.bind_tenant(B)
    assert creds.access_key == "AKIAFUNCTIONROLE" and sc.current_scope() is None
    assert len(sts.calls) == 2


def test_without_a_data_plane_role_nothing_changes(sts: FakeSts) -> None:
    assert sc.provider_for(None, "us-east-1", "m", "a") is None
    creds = sc.ScopedCredentials(BASE)
    with sc.request_block():
        sc.bind_tenant(A)
        assert creds.access_key == "AKIAFUNCTIONROLE"
    assert sts.calls == []


def test_a_counterpart_outside_a_bound_request_is_ignored() -> None:
    sc.add_counterpart(B)
    assert sc.current_scope() is None


def test_concurrent_requests_each_sign_with_their_own_tenant(scoped: Any, sts: FakeSts) -> None:
    creds = sc.ScopedCredentials(BASE)
    barrier = threading.Barrier(2)
    seen: dict[str, list[str]] = {}

    def request(tenant: str) -> None:
        with sc.request_block():
            sc.bind_tenant(tenant)
            barrier.wait()  # both bound before either signs
            keys = [creds.access_key for _ in range(3)]
            barrier.wait()
            seen[tenant] = keys + [str(sc.current_scope())]

    threads = [threading.Thread(target=request, args=(t,)) for t in (A, B)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    policies = {c["RoleSessionName"]: json.loads(c["Policy"]) for c in sts.calls}
    key_of = {c["RoleSessionName"]: f"ASIAFAKE{i + 1}" for i, c in enumerate(sts.calls)}
    for tenant in (A, B):
        assert set(seen[tenant][:3]) == {key_of[f"vg-{tenant}"]}
        assert tenant in seen[tenant][3]
        keys = policies[f"vg-{tenant}"]["Statement"][0]["Condition"]["ForAllValues:StringLike"]
        assert f"T#{tenant}" in keys["dynamodb:LeadingKeys"]
    assert seen[A][0] != seen[B][0]
