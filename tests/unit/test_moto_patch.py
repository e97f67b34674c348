"""local_aws/moto_patch.py against moto itself (boto3 over `mock_aws`): a cancelled
transaction leaves nothing behind, a successful one is unchanged, its cost does not depend
on the table size, concurrent transactions stay atomic, and moto keeps no copies."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from local_aws import moto_patch

TABLE = "patch-test"


KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]


def create_table(client: Any, *, with_index_and_stream: bool) -> None:
    names = ("pk", "sk", "client_id") if with_index_and_stream else ("pk", "sk")
    extra: dict[str, Any] = {}
    if with_index_and_stream:
        extra = {
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "client_id-index",
                    "KeySchema": [{"AttributeName": "client_id", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        }
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in names],
        **extra,
    )


@pytest.fixture
def ddb() -> Iterator[Any]:
    moto_patch.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, with_index_and_stream=True)
        yield client


def key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "T#1"}, "sk": {"S": sk}}


def put(sk: str, **attrs: str) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": {**key(sk), **{k: {"S": v} for k, v in attrs.items()}}}}


def update(sk: str, value: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": key(sk),
            "UpdateExpression": "SET #v = :v, tags = :t",
            "ExpressionAttributeNames": {"#v": "v"},
            "ExpressionAttributeValues": {":v": {"S": value}, ":t": {"L": [{"S": "new"}]}},
        }
    }


def exists(sk: str) -> dict[str, Any]:
    check = {"TableName": TABLE, "Key": key(sk), "ConditionExpression": "attribute_exists(pk)"}
    return {"ConditionCheck": check}


def table_items(ddb: Any) -> list[dict[str, Any]]:
    return sorted(ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"], key=lambda i: i["sk"]["S"])


def streams_client() -> Any:
    return boto3.client(  # botocore's account-id endpoints are unknown to moto
        "dynamodbstreams", region_name="us-east-1", config=Config(account_id_endpoint_mode="disabled")
    )


def stream_records(ddb: Any, streams: Any = None) -> list[dict[str, Any]]:
    streams = streams or streams_client()
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    return list(streams.get_records(ShardIterator=it["ShardIterator"], Limit=1000)["Records"])


def cancelled(ddb: Any, items: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(TransactItems=items)
    assert info.value.response["Error"]["Code"] == "TransactionCanceledException"
    return [r["Code"] for r in info.value.response["CancellationReasons"]]


def test_a_failed_condition_rolls_back_every_touched_item_exactly(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item={**key("A"), "v": {"S": "1"}, "tags": {"L": [{"S": "old"}]}})
    ddb.put_item(TableName=TABLE, Item={**key("D"), "v": {"S": "keep"}})
    before, records_before = table_items(ddb), stream_records(ddb)

    delete_d = {"Delete": {"TableName": TABLE, "Key": key("D")}}
    reasons = cancelled(
        ddb, [update("A", "2"), put("B", client_id="cid-B"), delete_d, update("N", "by-update"), exists("C")]
    )

    assert reasons == ["None", "None", "None", "None", "ConditionalCheckFailed"]
    assert table_items(ddb) == before  # A as it was, B and N gone again, D back
    assert ddb.get_item(TableName=TABLE, Key=key("B")).get("Item") is None
    index = ddb.query(
        TableName=TABLE, IndexName="client_id-index", KeyConditionExpression="client_id = :c",
        ExpressionAttributeValues={":c": {"S": "cid-B"}},
    )
    assert index["Items"] == []
    assert stream_records(ddb) == records_before  # a cancelled transaction emits nothing


def test_a_failure_in_the_first_item_changes_nothing_either(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item={**key("A"), "v": {"S": "1"}})
    before = table_items(ddb)
    reasons = cancelled(ddb, [exists("C"), put("B"), update("A", "2")])
    assert reasons == ["ConditionalCheckFailed", "None", "None"]
    assert table_items(ddb) == before


def test_a_successful_transaction_is_applied_with_its_stream_records(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item={**key("A"), "v": {"S": "1"}})
    ddb.put_item(TableName=TABLE, Item={**key("C")})
    records_before = len(stream_records(ddb))

    ddb.transact_write_items(TransactItems=[update("A", "2"), put("B", client_id="cid-B"), exists("C")])

    assert ddb.get_item(TableName=TABLE, Key=key("A"))["Item"] == {
        **key("A"), "v": {"S": "2"}, "tags": {"L": [{"S": "new"}]}
    }
    assert ddb.get_item(TableName=TABLE, Key=key("B"))["Item"] == {**key("B"), "client_id": {"S": "cid-B"}}
    new = stream_records(ddb)[records_before:]
    events = [(r["eventName"], r["dynamodb"]["Keys"]["sk"]["S"]) for r in new]
    assert events == [("MODIFY", "A"), ("INSERT", "B")]
    assert new[0]["dynamodb"]["OldImage"]["v"] == {"S": "1"}


def test_a_hundred_item_transaction_commits_or_rolls_back_as_one(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item={**key("x000"), "v": {"S": "0"}})
    before = table_items(ddb)
    items = [update("x000", "changed"), *(put(f"x{i:03d}", v="new") for i in range(1, 99)), exists("nope")]
    assert cancelled(ddb, items)[-1] == "ConditionalCheckFailed"
    assert table_items(ddb) == before

    ddb.transact_write_items(TransactItems=[*items[:-1], put("x099", v="new")])
    assert len(table_items(ddb)) == 100


def test_a_repeated_key_is_refused_and_rolled_back(ddb: Any) -> None:
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(TransactItems=[put("B"), put("E"), put("B")])
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert table_items(ddb) == []


def _deepcopies_in_one_transaction(ddb: Any, monkeypatch: pytest.MonkeyPatch, size: int) -> int:
    for start in range(0, size, 25):
        batch = [{"PutRequest": {"Item": {**key(f"seed{i:05d}"), "v": {"S": "x" * 50}}}}
                 for i in range(start, min(size, start + 25))]
        ddb.batch_write_item(RequestItems={TABLE: batch})
    calls = [0]
    original = copy.deepcopy

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(copy, "deepcopy", counting)
    try:
        ddb.transact_write_items(TransactItems=[update("seed00001", "changed"), put(f"new{size}")])
        assert cancelled(ddb, [update("seed00002", "changed"), put(f"other{size}"), exists("nope")])
    finally:
        monkeypatch.setattr(copy, "deepcopy", original)
    return calls[0]


def test_a_transaction_costs_the_same_with_50_items_as_with_5000(monkeypatch: pytest.MonkeyPatch) -> None:
    counts = []
    for size in (50, 5000):
        moto_patch.apply()
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            create_table(client, with_index_and_stream=False)
            counts.append(_deepcopies_in_one_transaction(client, monkeypatch, size))
    assert counts[0] == counts[1]
    assert 0 < counts[1] < 100  # a few attribute copies, not a table


def test_concurrent_transactions_stay_atomic(ddb: Any) -> None:
    """Writers race on one counter with optimistic transactions; a saboteur keeps running
    transactions that fail after writing; a reader must never see the saboteur's item."""
    ddb.put_item(TableName=TABLE, Item={**key("counter"), "n": {"N": "0"}})
    stop = threading.Event()
    seen_partial: list[dict[str, Any]] = []
    committed: list[int] = []
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        client = boto3.client("dynamodb", region_name="us-east-1")
        try:
            for i in range(25):
                while True:
                    n = int(client.get_item(TableName=TABLE, Key=key("counter"), ConsistentRead=True)
                            ["Item"]["n"]["N"])
                    try:
                        client.transact_write_items(TransactItems=[
                            {"Update": {"TableName": TABLE, "Key": key("counter"),
                                        "UpdateExpression": "SET n = :new", "ConditionExpression": "n = :old",
                                        "ExpressionAttributeValues": {":new": {"N": str(n + 1)},
                                                                      ":old": {"N": str(n)}}}},
                            put(f"w{worker}-{i}", n=str(n + 1)),
                        ])
                    except ClientError as exc:
                        assert exc.response["Error"]["Code"] == "TransactionCanceledException"
                        continue
                    committed.append(n + 1)
                    break
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def saboteur() -> None:
        client = boto3.client("dynamodb", region_name="us-east-1")
        while not stop.is_set():
            try:
                client.transact_write_items(TransactItems=[put("sabotage"), exists("nope")])
            except ClientError:
                pass

    def reader() -> None:
        client = boto3.client("dynamodb", region_name="us-east-1")
        while not stop.is_set():
            item = client.get_item(TableName=TABLE, Key=key("sabotage")).get("Item")
            if item:
                seen_partial.append(item)

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    others = [threading.Thread(target=saboteur), threading.Thread(target=reader)]
    for t in writers + others:
        t.start()
    for t in writers:
        t.join(timeout=120)
    stop.set()
    for t in others:
        t.join(timeout=30)

    assert errors == []
    assert sorted(committed) == list(range(1, 101))  # no lost update, no duplicate
    counter = ddb.get_item(TableName=TABLE, Key=key("counter"))["Item"]["n"]["N"]
    assert counter == "100"
    assert len([i for i in table_items(ddb) if i["sk"]["S"].startswith("w")]) == 100
    assert seen_partial == []


def test_moto_keeps_no_copies_of_items_or_stream_records(ddb: Any) -> None:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord

    for i in range(50):
        ddb.transact_write_items(TransactItems=[put(f"k{i}"), update("counter", str(i))])
        cancelled(ddb, [put(f"gone{i}"), exists("nope")])
    assert len(table_items(ddb)) == 51
    assert Item.instances_tracked == []  # type: ignore[attr-defined]
    assert StreamRecord.instances_tracked == []  # type: ignore[attr-defined]


def test_shard_iterators_do_not_pile_up(ddb: Any) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    ddb.put_item(TableName=TABLE, Item=key("A"))
    streams = streams_client()
    for _ in range(moto_patch.MAX_SHARD_ITERATORS // 2 + 10):
        stream_records(ddb, streams)  # two iterators each
    backend = dynamodbstreams_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    assert len(backend.shard_iterators) == moto_patch.MAX_SHARD_ITERATORS
    assert [r["eventName"] for r in stream_records(ddb)] == ["INSERT"]


def test_the_change_feed_reports_current_values(ddb: Any) -> None:
    with moto_patch.ChangeFeed([TABLE]) as feed:
        ddb.put_item(TableName=TABLE, Item={**key("A"), "v": {"S": "1"}})
        ddb.put_item(TableName=TABLE, Item={**key("D"), "v": {"S": "1"}})
        assert feed.pending() == 2
        ddb.transact_write_items(TransactItems=[update("A", "2"), put("B")])
        cancelled(ddb, [put("X"), update("A", "3"), exists("nope")])
        ddb.delete_item(TableName=TABLE, Key=key("D"))
        ddb.update_item(TableName=TABLE, Key=key("U"), UpdateExpression="SET v = :v",
                        ExpressionAttributeValues={":v": {"S": "u"}})
        changes = {c[1]["sk"]["S"]: c for c in feed.drain()}
        assert feed.drain() == []
    assert set(changes) == {"A", "B", "D", "U", "X"}
    assert changes["A"] == (TABLE, key("A"), {**key("A"), "v": {"S": "2"}, "tags": {"L": [{"S": "new"}]}})
    assert changes["B"][2] == key("B")
    assert changes["D"][2] is None and changes["X"][2] is None  # deleted; never committed
    assert changes["U"][2] == {**key("U"), "v": {"S": "u"}}
    ddb.put_item(TableName=TABLE, Item=key("after-close"))
    assert feed.pending() == 0


def test_apply_refuses_another_moto_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_patch, "_applied", False)
    monkeypatch.setattr(moto_patch.metadata, "version", lambda name: "5.2.6")
    with pytest.raises(moto_patch.MotoVersionError, match="moto==5.2.5"):
        moto_patch.apply()


def test_a_stream_keeps_its_latest_records_and_readers_carry_on(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moto_patch, "MAX_STREAM_RECORDS", 20)
    for i in range(25):
        ddb.put_item(TableName=TABLE, Item=key(f"k{i:02d}"))
    records = stream_records(ddb)
    # 21 records: the oldest 3 (20 - 20 + a tenth) go; 4 more come
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in records] == [f"k{i:02d}" for i in range(6, 25)]
    sequence_numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequence_numbers == list(range(sequence_numbers[0], sequence_numbers[0] + 19))

    cancelled(ddb, [put("x1"), put("x2"), put("x3"), exists("nope")])  # rolled back after a trim
    ddb.put_item(TableName=TABLE, Item=key("last"))
    after = stream_records(ddb)
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in after][-2:] == ["k24", "last"]
    assert int(after[-1]["dynamodb"]["SequenceNumber"]) == sequence_numbers[-1] + 1


def test_items_share_their_attribute_names(ddb: Any) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    for sk in ("a", "b"):
        ddb.transact_write_items(TransactItems=[put(sk, tenant_id="t1")])
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[TABLE]
    names = [next(n for n in item.attrs if n == "tenant_id") for item in table.all_items()]
    assert names[0] is names[1]


EVERY_KIND = {
    "s": {"S": "héllo"},
    "empty": {"S": ""},
    "n": {"N": "-12.5"},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
    "none": {"NULL": True},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2"]},
    "b": {"B": b"\x00\xffbytes"},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "m": {"M": {"inner": {"S": "x"}, "flag": {"BOOL": False}, "raw": {"B": b"\x03"}}},
    "l": {"L": [{"N": "1"}, {"S": "two"}, {"NULL": True}, {"L": []}, {"M": {}}]},
}


def test_every_attribute_kind_reads_back_exactly_as_written(ddb: Any) -> None:
    # Scalars and sets skip moto's shape walk; maps, lists and binary values take it: both
    # must give botocore exactly the wire form it expects, in items and stream images alike.
    item = {**key("kinds"), **EVERY_KIND}
    ddb.put_item(TableName=TABLE, Item=item)
    got = ddb.get_item(TableName=TABLE, Key=key("kinds"), ConsistentRead=True)["Item"]
    assert _sets_sorted(got) == _sets_sorted(item)
    [record] = [r for r in stream_records(ddb) if r["dynamodb"]["Keys"]["sk"] == {"S": "kinds"}]
    assert _sets_sorted(record["dynamodb"]["NewImage"]) == _sets_sorted(item)


def _sets_sorted(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB sets have no order."""
    sets = ("SS", "NS", "BS")
    return {k: {t: sorted(v) if t in sets else v for t, v in a.items()} for k, a in item.items()}
