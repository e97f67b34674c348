"""`make deploy` and `make bootstrap` (infra/deploy.py, infra/bootstrap.py) against moto's server
on 127.0.0.1: the package's template, SAM transform expanded offline (moto has no transform),
reaches CREATE_COMPLETE in moto's CloudFormation, the secret-hashing key is sealed once and kept,
the first operator client is created once, and the unzipped package's own handlers serve
`/health`, the JWKS and `/oauth/token` (with that client's secret) from Lambda proxy events.

A pass proves none of what moto ignores (infra/README.md lists it): moto's CloudFormation lacks
the types of `MOTO_LACKS` (stripped here), and accepts TTL, PITR, deletion protection, Object
Lock, key policies and IAM policies without enforcing any of them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from moto.awslambda import models as lambda_models
from moto.cloudformation import models as cfn_models
from moto.cloudformation.parsing import resource_class_from_type
from moto.kms import models as kms_models
from moto.kms import responses as kms_responses
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from chalicelib.api._permissions import function_name
from chalicelib.auth.secrets import SECRET_HASH_KEY_CONTEXT
from chalicelib.config import SECRET_HASH_KEY_BLOB, SECRET_HASH_KEY_PENDING, Settings
from chalicelib.crypto import KmsEncryptor
from chalicelib.services import container as container_module
from infra import bootstrap, deploy, lambda_zip
from local_aws import moto_patch
from tests.infra.conftest import deployed, resources

REGION = "eu-west-1"
STACK = "vaultguard-moto"
# moto's CloudFormation has no model for these: the stack is created without them.
MOTO_LACKS = frozenset(
    {
        "AWS::ApiGateway::GatewayResponse",
        "AWS::ApiGateway::Stage",
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::Function",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::ResponseHeadersPolicy",
        "AWS::CloudWatch::Alarm",
        "AWS::SNS::Subscription",
        "AWS::S3::BucketPolicy",
    }
)
# moto has a model for these, but one that cannot create ours: its RestApi drops the OpenAPI body,
# so the deployment of an API without methods fails.
MOTO_CANNOT = frozenset({"AWS::ApiGateway::Deployment"})
# What the stripped distribution's output would hold (a CloudFront domain of the documented form).
DISTRIBUTION_STAND_IN = "d111111abcdef8.cloudfront.net"


def _refers_to(value: Any, names: frozenset[str]) -> bool:
    text = json.dumps(value)
    return any(f'"{n}"' in text or f"${{{n}" in text for n in names)


def for_moto(template: dict[str, Any]) -> dict[str, Any]:
    """What CloudFormation would make of the uploaded template (SAM transform, offline), without
    the resources moto cannot create; their outputs get stand-ins."""
    expanded = deployed(template, keep_code_uri=True)
    gone = frozenset(k for k, v in expanded["Resources"].items() if v["Type"] in MOTO_LACKS | MOTO_CANNOT)
    expanded["Resources"] = {k: v for k, v in expanded["Resources"].items() if k not in gone}
    for resource in expanded["Resources"].values():
        if "DependsOn" in resource:
            needs = (
                resource["DependsOn"] if isinstance(resource["DependsOn"], list) else [resource["DependsOn"]]
            )
            resource["DependsOn"] = [n for n in needs if n not in gone]
        assert not _refers_to(resource, gone), resource
    for api in resources(expanded, "AWS::ApiGateway::RestApi").values():
        # AWS names an API after its OpenAPI body's title; moto needs the Name property
        api["Properties"].setdefault("Name", api["Properties"]["Body"]["info"]["title"])
    outputs = expanded["Outputs"]
    outputs[deploy.DISTRIBUTION_OUTPUT] = {"Value": DISTRIBUTION_STAND_IN}
    expanded["Outputs"] = {k: v for k, v in outputs.items() if not _refers_to(v, gone)}
    return expanded


def _honest_key_spec(
    cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
) -> Any:
    """moto's `AWS::KMS::Key` with the template's KeySpec and KeyUsage (moto makes every key
    SYMMETRIC_DEFAULT, so the RSA signing key would not sign)."""
    props = cloudformation_json["Properties"]
    key = kms_models.kms_backends[account_id][region_name].create_key(
        policy=json.dumps(props["KeyPolicy"]),
        key_usage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
        key_spec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
        description=props.get("Description"),
        tags=props.get("Tags", []),
    )
    key.key_rotation_status = props.get("EnableKeyRotation", False)
    return key


def _one_copy_of_the_code() -> Any:
    """moto copies the code object into every function (~70 x 24 MB): one shared copy instead."""
    original, seen = lambda_models._s3_content, {}

    def shared(key: Any) -> Any:
        ident = (key.bucket_name, key.name, key.etag)
        if ident not in seen:
            seen[ident] = original(key)
        return seen[ident]

    return shared


def _execute_change_set_fully(original: Any) -> Any:
    """moto's `ExecuteChangeSet` that also gives the stack the change set's outputs and parameters
    (moto keeps the ones the stack had before)."""

    def execute(backend: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original(backend, change_set_name, stack_name)
        for change_set in backend.change_sets.values():
            if change_set_name in (change_set.change_set_name, change_set.change_set_id):
                stack = change_set.stack
                stack.parameters = change_set.parameters
                stack._parse_template()  # the change set's, which moto gave the stack
                stack.output_map = stack._create_output_map()

    return execute


def _describe_stack_resource(backend: Any, stack_name: str, logical_resource_id: str) -> Any:
    """moto's `DescribeStackResource`, which fails (500) on a stack holding a resource it kept as
    None (one it has no model for, or whose Condition is false)."""
    stack = backend.get_stack(stack_name)
    for resource in stack.stack_resources:
        if resource is not None and resource.logical_resource_id == logical_resource_id:
            return stack, resource
    message = f"Resource {logical_resource_id} does not exist for stack {stack_name}"
    raise cfn_models.ValidationError(stack_name, message)


def _sign_digests(original: Any) -> Any:
    """moto's KMS `Sign` honouring MessageType=DIGEST for RSASSA_PKCS1_V1_5_SHA_256, as AWS does
    (moto 5.2.5 hashes the digest again; tests/functional/test_kms_signer.py does the same)."""

    def sign(self: Any) -> str:
        algorithm = self._get_param("SigningAlgorithm")
        if self._get_param("MessageType") != "DIGEST" or algorithm != "RSASSA_PKCS1_V1_5_SHA_256":
            return str(original(self))
        key = self.kms_backend.describe_key(self._get_param("KeyId"))
        digest = self._get_param("Message")
        signature = key.private_key.private_key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        return json.dumps(
            {
                "KeyId": key.arn,
                "Signature": base64.b64encode(signature).decode(),
                "SigningAlgorithm": algorithm,
            }
        )

    return sign


@dataclass
class Moto:
    url: str
    session: Any

    def client(self, service: str) -> Any:
        return self.session.client(service)


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    moto_patch.apply()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kms_models.Key, "create_from_cloudformation_json", classmethod(_honest_key_spec))
        mp.setattr(lambda_models, "_s3_content", _one_copy_of_the_code())
        backend = cfn_models.CloudFormationBackend
        mp.setattr(backend, "execute_change_set", _execute_change_set_fully(backend.execute_change_set))
        mp.setattr(backend, "describe_stack_resource", _describe_stack_resource)
        mp.setattr(kms_responses.KmsResponse, "sign", _sign_digests(kms_responses.KmsResponse.sign))
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        for name, value in {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "VAULTGUARD_AWS_ENDPOINT"):
            mp.delenv(name, raising=False)
        try:
            yield Moto(url, boto3.session.Session(region_name=REGION))
        finally:
            requests.post(f"{url}/moto-api/reset", timeout=30)
            server.stop()
            container_module.reset()


@dataclass
class Deployment:
    outputs: dict[str, str]
    log: list[str]


def run_deploy(moto: Moto, built: Path) -> Deployment:
    log: list[str] = []
    options = deploy.Options(stack=STACK, build_dir=built.parent, poll_seconds=1, rebuild_stale=False)
    outputs = deploy.Deployer(moto.session, options, prepare=for_moto, log=log.append).run()
    return Deployment(outputs, log)


@pytest.fixture(scope="module")
def first(moto: Moto, built: Path) -> Deployment:
    return run_deploy(moto, built)


def _function_env(moto: Moto, logical_id: str) -> dict[str, str]:
    cfn, lambda_ = moto.client("cloudformation"), moto.client("lambda")
    name = cfn.describe_stack_resource(StackName=STACK, LogicalResourceId=logical_id)["StackResourceDetail"][
        "PhysicalResourceId"
    ]
    return dict(lambda_.get_function_configuration(FunctionName=name)["Environment"]["Variables"])


def _stored_blob(moto: Moto) -> str:
    name = deploy.blob_parameter_name(STACK)
    return str(moto.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])


HEALTH = function_name("GET", "/health")


def test_moto_lacks_exactly_the_types_stripped(template: dict[str, Any]) -> None:
    types = {r["Type"] for r in deployed(template)["Resources"].values()}
    assert {t for t in types if resource_class_from_type(t) is None} == MOTO_LACKS


def test_the_first_deploy_creates_the_stack_then_seals_the_key_into_it(
    moto: Moto, first: Deployment, built: Path
) -> None:
    stack = moto.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"  # phase 1 CREATE_COMPLETE, then phase 2
    assert any("phase 1" in line for line in first.log)
    assert any("sealing a new secret-hashing key" in line for line in first.log)
    blob = _stored_blob(moto)
    assert blob.startswith("v1.kms.") and blob not in "\n".join(first.log)
    env = _function_env(moto, HEALTH)
    assert env[SECRET_HASH_KEY_BLOB] == blob
    assert env["VAULTGUARD_ISSUER"] == f"https://{DISTRIBUTION_STAND_IN}" == first.outputs["Issuer"]
    # the key opens only with the data key the functions use, under its context
    key = KmsEncryptor(env["VAULTGUARD_KMS_DATA_KEY_ID"], lambda: moto.client("kms")).decrypt(
        blob, SECRET_HASH_KEY_CONTEXT
    )
    assert len(key) == 32
    assert first.outputs["SecretHashKeyBlobParameter"] == deploy.blob_parameter_name(STACK)
    assert first.outputs["EndpointURL"].endswith("/api/")
    # every function of the stack runs the zip deploy uploaded
    zipped = base64.b64encode(
        hashlib.sha256(built.with_name("deployment.zip").read_bytes()).digest()
    ).decode()
    pages = moto.client("lambda").get_paginator("list_functions").paginate()
    shas = [f["CodeSha256"] for page in pages for f in page["Functions"]]
    assert len(shas) == len(resources(for_moto(_sam(moto)), "AWS::Lambda::Function")) > 40
    assert set(shas) == {zipped}


def _sam(moto: Moto) -> dict[str, Any]:
    """The SAM template the last deploy uploaded (content-addressed in the artifacts bucket)."""
    s3 = moto.client("s3")
    account = moto.client("sts").get_caller_identity()["Account"]
    bucket = f"vaultguard-artifacts-{account}-{REGION}"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert all(k.startswith(f"{STACK}/") for k in keys)
    template = [k for k in keys if k.endswith(".template.json")][-1]
    expanded: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=template)["Body"].read())
    return expanded


def test_the_artifacts_bucket_is_private_and_encrypted(moto: Moto, first: Deployment) -> None:
    s3 = moto.client("s3")
    account = moto.client("sts").get_caller_identity()["Account"]
    bucket = f"vaultguard-artifacts-{account}-{REGION}"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_a_later_deploy_keeps_the_key(moto: Moto, first: Deployment, built: Path) -> None:
    blob = _stored_blob(moto)
    again = run_deploy(moto, built)
    assert not any("phase 1" in line or "sealing" in line for line in again.log)
    assert _stored_blob(moto) == blob == _function_env(moto, HEALTH)[SECRET_HASH_KEY_BLOB]


def test_a_lost_parameter_is_restored_from_the_functions_not_replaced(
    moto: Moto, first: Deployment, built: Path
) -> None:
    blob = _stored_blob(moto)
    moto.client("ssm").delete_parameter(Name=deploy.blob_parameter_name(STACK))
    again = run_deploy(moto, built)
    assert any("restoring it from the deployed functions" in line for line in again.log)
    assert _stored_blob(moto) == blob == _function_env(moto, HEALTH)[SECRET_HASH_KEY_BLOB]


def test_a_key_sealed_by_another_data_key_is_refused_not_replaced(moto: Moto, first: Deployment) -> None:
    kms = moto.client("kms")
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    foreign = KmsEncryptor(other, lambda: kms).encrypt(b"k" * 32, SECRET_HASH_KEY_CONTEXT)
    deployer = deploy.Deployer(moto.session, deploy.Options(stack=STACK), log=lambda _: None)
    with pytest.raises(deploy.DeployError, match="does not open with alias/vaultguard-data"):
        deployer.check_opens(foreign, "alias/vaultguard-data", "the parameter")


def test_a_function_started_before_the_key_is_sealed_refuses_to_start(moto: Moto, first: Deployment) -> None:
    env = {**_function_env(moto, HEALTH), SECRET_HASH_KEY_BLOB: SECRET_HASH_KEY_PENDING}
    with pytest.raises(ValueError, match="still the first deploy's placeholder: `make deploy`"):
        Settings.from_env(env)


@pytest.fixture(scope="module")
def operator(moto: Moto, first: Deployment) -> bootstrap.Outcome:
    try:
        return bootstrap.bootstrap(moto.session, STACK)
    finally:
        container_module.reset()


def test_bootstrap_creates_the_first_operator_once(moto: Moto, operator: bootstrap.Outcome) -> None:
    assert operator.client_secret
    try:
        again = bootstrap.bootstrap(moto.session, STACK)
    finally:
        container_module.reset()
    assert again == bootstrap.Outcome(operator.client_id, None)


# -- the package's own handlers ----------------------------------------------------------------

_SERVE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
job = json.load(sys.stdin)
for handler in job["handlers"]:
    module, _, name = handler.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name)), handler
import app
assert app.__file__.startswith(sys.argv[1]), app.__file__
class Context:
    function_name, memory_limit_in_mb, aws_request_id = "smoke", 1024, "smoke-request"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:smoke"
    def get_remaining_time_in_millis(self):
        return 10000
answers = []
for handler, event in job["events"]:
    module, _, name = handler.rpartition(".")
    answers.append(getattr(importlib.import_module(module), name)(event, Context()))
print(json.dumps(answers))
"""


def proxy_event(
    method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
) -> Any:
    """An API Gateway (REST, Lambda proxy) event for `method path`, as the stage `api` sends it."""
    headers = {
        "Host": "abc123.execute-api.eu-west-1.amazonaws.com",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "smoke"},
            "domainName": headers["Host"],
            "apiId": "abc123",
        },
        "body": body,
        "isBase64Encoded": False,
    }


@pytest.fixture(scope="module")
def unpacked(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = lambda_zip.unpack(built.with_name("deployment.zip"), tmp_path_factory.mktemp("task") / "task")
    lambda_zip.use_host_native_libraries(root, Path(sysconfig.get_paths()["purelib"]))
    return root


def test_the_packaged_handlers_serve_health_jwks_and_the_operators_token(
    moto: Moto, first: Deployment, operator: bootstrap.Outcome, unpacked: Path
) -> None:
    expanded = for_moto(_sam(moto))
    handlers = sorted(
        {f["Properties"]["Handler"] for f in resources(expanded, "AWS::Lambda::Function").values()}
    )
    assert len(handlers) > 40 and "chalicelib.api._lambda.RouteGetHealth" in handlers
    token_form = (
        f"grant_type=client_credentials&client_id={operator.client_id}&client_secret={operator.client_secret}"
    )
    job = {
        "handlers": handlers,
        "events": [
            [f"chalicelib.api._lambda.{HEALTH}", proxy_event("GET", "/health")],
            [
                f"chalicelib.api._lambda.{function_name('GET', '/.well-known/jwks.json')}",
                proxy_event("GET", "/.well-known/jwks.json"),
            ],
            [
                f"chalicelib.api._lambda.{bootstrap.TOKEN_FUNCTION}",
                proxy_event(
                    "POST", "/oauth/token", token_form, {"Content-Type": "application/x-www-form-urlencoded"}
                ),
            ],
        ],
    }
    # the health function's environment as deployed; AWS is moto's server
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VAULTGUARD_", "PYTHON", "AWS_"))},
        **_function_env(moto, HEALTH),
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    done = subprocess.run(
        [sys.executable, "-I", "-c", _SERVE, str(unpacked)],
        cwd=unpacked,
        env=env,
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    health, jwks, token = json.loads(done.stdout.strip().splitlines()[-1])
    assert health["statusCode"] == 200, health
    assert json.loads(health["body"]) == {"status": "ok", "checks": {"dynamodb": "ok"}}
    assert jwks["statusCode"] == 200, jwks
    keys = json.loads(jwks["body"])["keys"]
    assert [(k["kty"], k["alg"]) for k in keys] == [("RSA", "RS256")] and "d" not in keys[0]
    assert token["statusCode"] == 200, (token, done.stdout[-4000:])
    assert json.loads(token["body"])["token_type"] == "Bearer"
