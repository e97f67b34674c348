"""local_aws/loopback.py: the embedded stack's own AWS calls reach its moto server without a
socket, get the same answers, and other processes still use the socket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from chalicelib.local.aws import LocalAws
from local_aws.loopback import LoopbackTransport, wsgi_environ


@pytest.fixture
def local_aws() -> Iterator[LocalAws]:
    aws = LocalAws()
    aws.start()
    yield aws
    aws.stop()


def _client(aws: LocalAws, service: str) -> Any:
    # a session of its own: the loopback reaches sessions created after it is installed, and
    # boto3's default session may be older (an earlier test in the run made it)
    return boto3.session.Session().client(
        service,
        endpoint_url=aws.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_calls_are_answered_in_process_even_with_the_socket_closed(local_aws: LocalAws) -> None:
    ddb, s3, kms = (_client(local_aws, s) for s in ("dynamodb", "s3", "kms"))
    local_aws._server.shutdown()  # nothing listens any more: only the loopback can answer
    local_aws._server.server_close()

    ddb.create_table(
        TableName="loop",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    ddb.put_item(TableName="loop", Item={"pk": {"S": "a b/ü"}, "blob": {"B": b"\x00\xff"}})
    assert ddb.get_item(TableName="loop", Key={"pk": {"S": "a b/ü"}})["Item"]["blob"] == {"B": b"\x00\xff"}
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.describe_table(TableName="missing")

    s3.create_bucket(Bucket="loop-bucket")
    s3.put_object(Bucket="loop-bucket", Key="dir/a key+ü.json", Body=b"\x00binary\xff")
    body = s3.get_object(Bucket="loop-bucket", Key="dir/a key+ü.json")["Body"].read()
    assert body == b"\x00binary\xff"
    listed = s3.list_objects_v2(Bucket="loop-bucket", Prefix="dir/")["Contents"]
    assert [o["Key"] for o in listed] == ["dir/a key+ü.json"]

    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    sealed = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"secret"


def test_other_processes_still_reach_moto_over_the_socket(local_aws: LocalAws) -> None:
    ddb = _client(local_aws, "dynamodb")
    ddb.create_table(
        TableName="shared",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    # A plain HTTP request (what another process sends) sees the same table.
    reply = requests.post(
        str(local_aws.endpoint),
        data="{}",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
        timeout=10,
    )
    assert reply.status_code == 200
    assert "shared" in reply.json()["TableNames"]


def test_requests_to_any_other_endpoint_are_left_alone() -> None:
    transport = LoopbackTransport("http://127.0.0.1:4566", lambda environ, start: [b""])

    class Request:
        url = "http://127.0.0.1:45660/"

    assert transport(Request()) is None
    assert not transport.handles("http://127.0.0.1:4566evil/")
    assert transport.handles("http://127.0.0.1:4566/bucket/key")


def test_the_environ_is_what_werkzeug_would_build() -> None:
    environ = wsgi_environ(
        "put", "http://127.0.0.1:4566/bucket/a%20b%2B%C3%BC?uploads=&x=1", [("X-Amz-Date", b"2026")], b"body"
    )
    assert environ["REQUEST_METHOD"] == "PUT"
    assert environ["PATH_INFO"] == "/bucket/a b+ü".encode().decode("latin-1")
    assert environ["RAW_URI"] == "/bucket/a%20b%2B%C3%BC?uploads=&x=1"
    assert environ["QUERY_STRING"] == "uploads=&x=1"
    assert environ["HTTP_HOST"] == "127.0.0.1:4566"
    assert environ["HTTP_X_AMZ_DATE"] == "2026"
    assert environ["CONTENT_LENGTH"] == "4"
    assert environ["wsgi.input"].read() == b"body"
