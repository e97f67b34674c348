"""Records every AWS call the code under test makes, with the IAM actions it needs.

`record()` patches `botocore.client.BaseClient._make_api_call` (boto3 and pynamodb both go
through it) and botocore's `generate_presigned_url` while it is active. Each call becomes an
`AwsCall`: service, operation, full params, the (IAM action, resource ARN) pairs AWS would
authorise it against, and the label of what was running at the time, e.g. the route in
flight (`"POST /delegations/request"`, set around every `Chalice.__call__`) or a label given
with `attributed(...)`. `dynamodb_touches(call)` lists the items and keys a DynamoDB call
reads or writes (for checks on partition keys).

    with record() as calls:
        client.http.get("/health")
    [call] = calls.by_label("GET /health")
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.client
import botocore.signers
import chalice.app

ACCOUNT = "123456789012"  # moto's account: every resource ARN is built with it

_LABEL: contextvars.ContextVar[str | None] = contextvars.ContextVar("aws_calls_label", default=None)


@dataclass(frozen=True)
class Access:
    """One IAM authorisation a call needs: an action on a resource, with the condition keys
    the call sets (e.g. `s3:prefix` of a listing)."""

    action: str
    resource: str
    conditions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AwsCall:
    service: str  # botocore's service name: dynamodb, dynamodbstreams, s3, kms...
    operation: str  # the API operation: TransactWriteItems, GetObject...
    params: Mapping[str, Any]
    accesses: tuple[Access, ...]
    label: str | None  # the route in flight (`METHOD /path/{template}`), a job, or None
    region: str
    presigned: bool = False  # a presigned URL: the signer's credentials authorise its use
    context: Mapping[str, Any] = field(default_factory=dict)  # what `record(context=)` returned

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(a.action for a in self.accesses)

    @property
    def resources(self) -> frozenset[str]:
        return frozenset(a.resource for a in self.accesses)


class Recording(list[AwsCall]):
    seconds: float = 0.0  # the time the recording itself took (what it adds to a test run)

    def by_label(self, label: str | None) -> list[AwsCall]:
        return [c for c in self if c.label == label]

    def labels(self) -> set[str]:
        return {c.label for c in self if c.label is not None}


# -- the actions and resources of a call ------------------------------------------------------


def arn(service: str, region: str, resource: str) -> str:
    if service == "s3":
        return f"arn:aws:s3:::{resource}"
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def table_arn(region: str, table: str, index: str | None = None) -> str:
    return arn("dynamodb", region, f"table/{table}" + (f"/index/{index}" if index else ""))


def key_arn(region: str, key_id: str) -> str:
    """A KMS key (id, alias or ARN) as an ARN."""
    if key_id.startswith("arn:"):
        return key_id
    return arn("kms", region, key_id if key_id.startswith("alias/") else f"key/{key_id}")


_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_S3_ACTIONS = {
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "ListObjectsV2": "ListBucket",
    "ListObjects": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListMultipartUploads": "ListBucketMultipartUploads",
}


def _dynamodb(op: str, params: Mapping[str, Any], region: str) -> list[Access]:
    if op in ("TransactWriteItems", "TransactGetItems"):
        out = []
        for item in params.get("TransactItems", []):
            for kind, body in item.items():
                out.append(
                    Access(f"dynamodb:{_TRANSACT_ITEM_ACTIONS[kind]}", table_arn(region, body["TableName"]))
                )
        return out
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [Access(f"dynamodb:{op}", table_arn(region, t)) for t in params.get("RequestItems", {})]
    if op == "PutItem" and "TableName" in params:
        # `dynamodb:Attributes`: the attribute names the item writes (one entry per name)
        names = tuple(("dynamodb:Attributes", name) for name in sorted(params.get("Item", {})))
        return [Access("dynamodb:PutItem", table_arn(region, params["TableName"]), names)]
    if "TableName" in params:
        return [Access(f"dynamodb:{op}", table_arn(region, params["TableName"], params.get("IndexName")))]
    if "StreamArn" in params:
        return [Access(f"dynamodb:{op}", params["StreamArn"])]
    return [Access(f"dynamodb:{op}", "*")]


def _s3(op: str, params: Mapping[str, Any]) -> list[Access]:
    action = f"s3:{_S3_ACTIONS.get(op, op)}"
    bucket = params.get("Bucket")
    if bucket is None:
        return [Access(action, "*")]
    if "Key" in params:
        out = [Access(action, arn("s3", "", f"{bucket}/{params['Key']}"))]
        if op == "CopyObject":
            source = params["CopySource"]
            if isinstance(source, Mapping):
                source = f"{source['Bucket']}/{source['Key']}"
            out.append(Access("s3:GetObject", arn("s3", "", str(source).lstrip("/"))))
        return out
    conditions = (("s3:prefix", str(params.get("Prefix", ""))),) if action == "s3:ListBucket" else ()
    return [Access(action, arn("s3", "", bucket), conditions)]


def accesses(
    service: str, prefix: str, op: str, params: Mapping[str, Any], region: str, answer: Any = None
) -> tuple[Access, ...]:
    """The IAM authorisations of one call (`prefix` is the IAM service prefix, botocore's
    signing name: DynamoDB Streams signs as `dynamodb`)."""
    if service in ("dynamodb", "dynamodbstreams"):
        return tuple(_dynamodb(op, params, region))
    if service == "s3":
        return tuple(_s3(op, params))
    if service == "kms":
        key = params.get("KeyId")
        if not key and isinstance(answer, Mapping):
            key = answer.get("KeyId")  # Decrypt may leave the key to the ciphertext
        return (Access(f"kms:{op}", key_arn(region, key) if key else "*"),)
    if service == "sqs" and "QueueUrl" in params:
        return (
            Access(f"sqs:{op}", arn("sqs", region, str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1])),
        )
    if service == "sts" and "RoleArn" in params:
        return (Access(f"sts:{op}", str(params["RoleArn"])),)
    return (Access(f"{prefix}:{op}", "*"),)


Touch = tuple[str, str | None, str, Mapping[str, Any] | None]


def dynamodb_touches(call: AwsCall) -> list[Touch]:
    """(table, index, item operation, key or item) for every item a DynamoDB call names; the key
    is None for a Query or Scan (their keys are in `KeyConditionExpression`)."""
    if call.service != "dynamodb":
        return []
    p, op = call.params, call.operation
    if op in ("TransactWriteItems", "TransactGetItems"):
        out: list[Touch] = []
        for item in p.get("TransactItems", []):
            for kind, body in item.items():
                out.append((body["TableName"], None, kind, body.get("Key") or body.get("Item")))
        return out
    if op == "BatchGetItem":
        return [
            (t, None, "Get", key)
            for t, req in p.get("RequestItems", {}).items()
            for key in req.get("Keys", [])
        ]
    if op == "BatchWriteItem":
        return [
            (t, None, kind[: -len("Request")], body.get("Key") or body.get("Item"))
            for t, reqs in p.get("RequestItems", {}).items()
            for req in reqs
            for kind, body in req.items()
        ]
    if "TableName" not in p:
        return []
    return [(p["TableName"], p.get("IndexName"), op, p.get("Key") or p.get("Item"))]


# -- recording ------------------------------------------------------------------------------

_ACTIVE: list[tuple[Recording, Callable[[], Mapping[str, Any]] | None]] = []
_ORIGINAL_CALL = botocore.client.BaseClient._make_api_call
_ORIGINAL_PRESIGN = botocore.signers.generate_presigned_url
_ORIGINAL_DISPATCH = chalice.app.Chalice.__call__


def _note(client: Any, op: str, params: Mapping[str, Any], answer: Any, presigned: bool = False) -> None:
    started = time.perf_counter()
    model = client.meta.service_model
    region = client.meta.region_name or "us-east-1"
    needs = accesses(model.service_name, model.signing_name, op, params, region, answer)
    for recording, context in _ACTIVE:
        recording.append(
            AwsCall(
                model.service_name,
                op,
                params,
                needs,
                _LABEL.get(),
                region,
                presigned,
                dict(context()) if context else {},
            )
        )
        recording.seconds += time.perf_counter() - started


def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
    if not _ACTIVE:
        return _ORIGINAL_CALL(self, operation_name, api_params)
    answer = None
    try:
        answer = _ORIGINAL_CALL(self, operation_name, api_params)
        return answer
    finally:  # a refused or failed call was still authorised (or not) first
        _note(self, operation_name, api_params, answer)


def _generate_presigned_url(
    self: Any, ClientMethod: str, Params: Any = None, *args: Any, **kwargs: Any
) -> Any:
    url = _ORIGINAL_PRESIGN(self, ClientMethod, Params, *args, **kwargs)
    if _ACTIVE:
        _note(self, self._PY_TO_OP_NAME.get(ClientMethod, ClientMethod), Params or {}, None, presigned=True)
    return url


def _route_of(event: Any) -> str | None:
    """`METHOD /path/{template}` of an API Gateway (REST) event: API Gateway sets both at the
    top and in `requestContext`, chalice's local gateway only in `requestContext`."""
    if not isinstance(event, Mapping) or not isinstance(event.get("requestContext"), Mapping):
        return None
    context = event["requestContext"]
    method = context.get("httpMethod") or event.get("httpMethod")
    path = context.get("resourcePath") or event.get("resource")
    return f"{method} {path}" if method and path else None


def _chalice_call(self: Any, event: Any, context: Any) -> Any:
    route = _route_of(event)
    if route is None:
        return _ORIGINAL_DISPATCH(self, event, context)
    token = _LABEL.set(route)
    try:
        return _ORIGINAL_DISPATCH(self, event, context)
    finally:
        _LABEL.reset(token)


def _install(on: bool) -> None:
    botocore.client.BaseClient._make_api_call = _make_api_call if on else _ORIGINAL_CALL
    # botocore copies this function into each client class it builds: clients built while
    # a recording runs report their presigned URLs (and pass through once it has ended)
    botocore.signers.generate_presigned_url = _generate_presigned_url if on else _ORIGINAL_PRESIGN
    chalice.app.Chalice.__call__ = _chalice_call if on else _ORIGINAL_DISPATCH  # type: ignore[method-assign]


@contextlib.contextmanager
def record(context: Callable[[], Mapping[str, Any]] | None = None) -> Iterator[Recording]:
    """Record the AWS calls made inside the block; `context()` is called at each call and its
    answer kept with it (e.g. the table names in effect). Recorders nest."""
    recording = Recording()
    _install(True)
    entry = (recording, context)
    _ACTIVE.append(entry)
    try:
        yield recording
    finally:
        _ACTIVE.remove(entry)
        if not _ACTIVE:
            _install(False)


@contextlib.contextmanager
def attributed(label: str) -> Iterator[None]:
    """Calls made inside the block carry `label` (unless a route in flight labels them)."""
    token = _LABEL.set(label)
    try:
        yield
    finally:
        _LABEL.reset(token)


def attributing(owner: Any, name: str, label: str) -> Callable[[], None]:
    """Wrap `owner.name` (a function or method) so that its calls carry `label`; returns the
    undo."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def labelled(*args: Any, **kwargs: Any) -> Any:
        with attributed(label):
            return original(*args, **kwargs)

    setattr(owner, name, labelled)
    return lambda: setattr(owner, name, original)
