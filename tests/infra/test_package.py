"""`make package` without an AWS account: one Lambda per route, each role exactly what its route
declared (on the concrete ARNs, real IAM actions only), one shared function for every path's CORS
preflight (no data access), the data resources, the audit export's event source, API Gateway's
own answers in the error shape, room under CloudFormation's resource limit, and cfn-lint clean."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import cfnlint

from app import app
from chalicelib.api._lambda import PREFLIGHT
from chalicelib.api._permissions import Permission, function_name, permissions_for
from chalicelib.store import schema
from infra import data_plane, package
from tests.infra.conftest import deployed, resources

# The routes with a function of their own; every OPTIONS route runs in the shared PREFLIGHT.
ROUTES = [(method, path) for path, methods in app.routes.items() for method in methods if method != "OPTIONS"]
PREFLIGHT_PATHS = [path for path, methods in app.routes.items() if "OPTIONS" in methods]
JOBS = (package.CLEANUP, package.VAULT_REFRESH, package.EXPORT, package.WEBHOOKS)
# CloudFormation refuses a stack of more than 500 resources (after the SAM transform); this
# ceiling leaves room, so the growth that would reach the limit is noticed here first.
RESOURCE_CEILING = 400


def statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = template["Resources"][f"{function}Role"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def actions(template: dict[str, Any], function: str) -> set[str]:
    return {a for s in statements(template, function) if s["Effect"] == "Allow" for a in s["Action"]}


def test_every_route_has_a_function_of_its_own_that_api_gateway_calls(template: dict[str, Any]) -> None:
    functions = resources(template, "AWS::Serverless::Function")
    assert set(functions) == {function_name(m, p) for m, p in ROUTES} | set(JOBS) | {PREFLIGHT}
    assert "APIHandler" not in template["Resources"]
    # one role per function, plus the data-plane role their sessions narrow per tenant
    assert set(resources(template, "AWS::IAM::Role")) == {f"{name}Role" for name in functions} | {
        data_plane.DATA_PLANE
    }
    paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    for method, path in ROUTES:
        name = function_name(method, path)
        assert functions[name]["Properties"]["Handler"] == f"chalicelib.api._lambda.{name}"
        assert functions[name]["Properties"]["Role"] == {"Fn::GetAtt": [f"{name}Role", "Arn"]}
        uri = paths[path][method.lower()]["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        assert f"${{{name}.Arn}}" in uri
        source = template["Resources"][f"{name}InvokePermission"]["Properties"]["SourceArn"]["Fn::Sub"]
        assert f"/*/{method}/" in source


def test_every_preflight_runs_in_one_shared_function_that_touches_no_data(template: dict[str, Any]) -> None:
    assert len(PREFLIGHT_PATHS) > 1  # one preflight route per path (chalicelib/api/_http.py)
    res = template["Resources"]
    assert not [name for name in res if name.startswith("RouteOptions")]
    preflight = res[PREFLIGHT]["Properties"]
    assert preflight["Handler"] == f"chalicelib.api._lambda.{PREFLIGHT}"
    assert preflight["Role"] == {"Fn::GetAtt": [f"{PREFLIGHT}Role", "Arn"]}
    paths = res["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    with_options = [path for path, methods in paths.items() if "options" in methods]
    assert sorted(with_options) == sorted(PREFLIGHT_PATHS)
    for path in with_options:
        uri = paths[path]["options"]["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        assert f"${{{PREFLIGHT}.Arn}}" in uri, path
    # Its role: writing its own log group and its traces, nothing else (no table, key or bucket).
    logs, xray = statements(template, PREFLIGHT)
    assert xray == package.XRAY
    assert set(logs["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert logs["Resource"] == [{"Fn::GetAtt": [f"{PREFLIGHT}Logs", "Arn"]}]
    # API Gateway may invoke it for OPTIONS only.
    (permission,) = [
        p
        for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Ref": PREFLIGHT}
    ]
    assert permission["Properties"]["SourceArn"]["Fn::Sub"].endswith("/*/OPTIONS/*")
    # The preflights together cost four resources, not four per path.
    assert sorted(name for name in res if name.startswith(PREFLIGHT)) == [
        PREFLIGHT,
        f"{PREFLIGHT}InvokePermission",
        f"{PREFLIGHT}Logs",
        f"{PREFLIGHT}Role",
    ]


def test_the_stack_stays_well_under_cloudformations_resource_limit(template: dict[str, Any]) -> None:
    expanded = deployed(template)
    assert len(resources(expanded, "AWS::Lambda::Function")) == len(ROUTES) + len(JOBS) + 1
    count = len(expanded["Resources"])
    assert count < RESOURCE_CEILING, f"{count} resources after the SAM transform; the limit is 500"


def test_each_route_role_is_what_the_route_declared() -> None:
    request = permissions_for("POST", "/delegations/request")
    assert Permission.KMS_SIGN in request and Permission.CSV_EXPORT not in request
    assert permissions_for("GET", "/.well-known/jwks.json") == {Permission.KMS_PUBLIC_KEY}
    assert permissions_for("GET", "/openapi.json") == frozenset()


def test_no_internet_facing_function_can_write_the_audit_log_objects(template: dict[str, Any]) -> None:
    for method, path in ROUTES:
        name = function_name(method, path)
        s3 = [s for s in statements(template, name) if any(a.startswith("s3:") for a in s["Action"])]
        resources_ = json.dumps([s["Resource"] for s in s3])
        assert "/audit/" not in resources_ and "/digests/" not in resources_, name
        if (method, path) != ("GET", "/audit/export.csv"):
            assert s3 == [], name
    request = actions(template, function_name("POST", "/delegations/request"))
    assert not any(a.startswith("s3:") for a in request)
    assert {"s3:PutObject"} <= actions(template, package.EXPORT)


def test_no_function_can_change_or_delete_audit_items(template: dict[str, Any]) -> None:
    for name in [function_name(m, p) for m, p in ROUTES] + list(JOBS):
        for s in statements(template, name):
            if s["Resource"] == [{"Fn::GetAtt": [package.AUDIT, "Arn"]}]:
                assert set(s["Action"]) <= {"dynamodb:PutItem", "dynamodb:Query"}, name


def test_only_token_issuing_functions_can_sign(template: dict[str, Any]) -> None:
    signers = {n for n in [function_name(m, p) for m, p in ROUTES] if "kms:Sign" in actions(template, n)}
    assert signers == {
        function_name("POST", "/oauth/token"),
        function_name("POST", "/delegations/request"),
        function_name("POST", "/stepup/initiate"),
        function_name("POST", "/bc-authorize"),
        function_name("GET", "/stepup/{auth_req_id}/status"),
        # an approval issues the delegation token there and then
        function_name("POST", "/delegations/{delegation_id}/approve"),
        function_name("POST", "/stepup/{auth_req_id}/complete"),
        # the signed status list token
        function_name("GET", "/statuslists/{list_id}"),
    }
    static = actions(template, function_name("GET", "/openapi.json"))
    assert static == {"logs:CreateLogStream", "logs:PutLogEvents", *package.XRAY["Action"]}


def test_every_action_is_a_real_iam_action_on_a_named_resource(template: dict[str, Any]) -> None:
    known = json.loads((Path(cfnlint.__file__).parent / "data/AdditionalSpecs/Policies.json").read_text())
    for name in resources(template, "AWS::Serverless::Function"):
        for s in statements(template, name):
            # only X-Ray, which has no resource-level permissions, is allowed on `*`
            assert "*" not in s["Resource"] or s["Sid"] in package.ANY_RESOURCE_SIDS, name
            for action in s["Action"]:
                service, verb = action.split(":")
                assert verb.lower() in known[service]["Actions"], action
    assert "dynamodb:TransactWriteItems" not in json.dumps(template)


def test_the_tables_are_those_of_the_schema(template: dict[str, Any]) -> None:
    res = template["Resources"]
    main, audit = res[package.MAIN], res[package.AUDIT]
    expected = schema.main_table("vaultguard-prod")
    props = main["Properties"]
    assert props["TableName"] == "vaultguard-prod" and props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["GlobalSecondaryIndexes"] == expected["GlobalSecondaryIndexes"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    for table in (main, audit):
        assert table["DeletionPolicy"] == "Retain"
        assert table["Properties"]["DeletionProtectionEnabled"] is True
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert audit["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}


def test_the_audit_export_reports_partial_failures_and_keeps_what_fails(template: dict[str, Any]) -> None:
    events = template["Resources"][package.EXPORT]["Properties"]["Events"]
    (source,) = events.values()
    props = source["Properties"]
    assert props["Stream"] == {"Fn::GetAtt": [package.AUDIT, "StreamArn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True and props["MaximumRetryAttempts"] > 0
    destination = props["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": [package.EXPORT_FAILURES, "Arn"]}


def test_the_audit_bucket_is_locked_versioned_private_and_encrypted(template: dict[str, Any]) -> None:
    bucket = template["Resources"][package.BUCKET]["Properties"]
    assert bucket["ObjectLockEnabled"] is True and bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [package.AUDIT_LOG_KEY, "Arn"]},
    }
    assert rule["BucketKeyEnabled"] is True  # one KMS call per bucket key, not per object
    # only the export job and the CSV export route may use that key, and only through S3
    users = {
        name
        for name, res in resources(template, "AWS::IAM::Role").items()
        for st in res["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        if {"Fn::GetAtt": [package.AUDIT_LOG_KEY, "Arn"]} in st["Resource"]
        and st["Condition"]["StringEquals"]["kms:ViaService"]
    }
    assert users == {f"{package.EXPORT}Role", f"{function_name('GET', '/audit/export.csv')}Role"}
    keys = resources(template, "AWS::KMS::Key")
    assert keys[package.AUDIT_LOG_KEY]["Properties"]["EnableKeyRotation"] is True
    assert keys[package.SIGNING_KEY]["Properties"]["KeySpec"] == "RSA_2048"
    groups = resources(template, "AWS::Logs::LogGroup")
    # one per function (and the shared preflight function's), and the API's access logs
    assert len(groups) == len(ROUTES) + len(JOBS) + 1 + 1
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {package.LOG_RETENTION_DAYS}


def test_every_function_has_a_time_limit_that_fits_its_work(template: dict[str, Any]) -> None:
    functions = resources(template, "AWS::Serverless::Function")
    for method, path in ROUTES:  # API Gateway gives up on an integration after 29 s
        assert functions[function_name(method, path)]["Properties"]["Timeout"] <= 29
    for job, seconds in package.JOB_TIMEOUT_SECONDS.items():
        assert functions[job]["Properties"]["Timeout"] == seconds
    assert functions[package.WEBHOOKS]["Properties"]["Timeout"] == 30


def test_api_gateway_answers_in_the_error_shape(template: dict[str, Any]) -> None:
    answers = resources(template, "AWS::ApiGateway::GatewayResponse")
    by_type = {a["Properties"]["ResponseType"]: a["Properties"] for a in answers.values()}
    assert {"MISSING_AUTHENTICATION_TOKEN", "DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED"} <= set(by_type)
    body = json.loads(by_type["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"])
    assert set(body) == {"error", "error_description", "request_id"}
    assert by_type["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"


def test_cfn_lint_finds_nothing(built: Path) -> None:
    lint = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(built)], capture_output=True, text=True
    )
    assert (lint.returncode, lint.stdout) == (0, "")


def test_the_zip_holds_the_app_but_not_the_local_stack(built: Path) -> None:
    with zipfile.ZipFile(built.with_name("deployment.zip")) as zipped:
        names = zipped.namelist()
    assert "app.py" in names and "chalicelib/api/_lambda.py" in names
    assert not [n for n in names if n.startswith(("chalicelib/local/", "local_aws/", "tests/"))]
