"""The packager step after `chalice package --stage prod --merge-template infra/template.json`:
one Lambda per route, each with its own least-privilege role (except the CORS preflights: every
path's `OPTIONS` method runs in one shared function whose role has only its log group), the
tables from
`chalicelib/store/schema.py`, log groups, the audit export's event source and API Gateway's own
answers in the error shape.

`python -m infra.package build` (what `make package` runs) packages the prod stage into `build/`
and rewrites `build/sam.json` in place. The functions and
roles come from the app's route table and the permissions each route declares beside its
definition (`endpoint(permissions=...)`), so a new route cannot be left without either.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from chalicelib.api._http import gateway_responses
from chalicelib.api._lambda import PREFLIGHT, PREFLIGHT_METHOD
from chalicelib.api._permissions import Permission, function_name, permissions_for
from chalicelib.jobs import webhook_delivery
from chalicelib.store import schema
from chalicelib.store.webhook_deliveries import MARKER_ATTRIBUTES
from infra import alarms, cdn, data_plane, gateway, lambda_zip

Json = dict[str, Any]

PROJECT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = PROJECT / "infra" / "template.json"
HANDLER_MODULE = "chalicelib.api._lambda"
LOG_RETENTION_DAYS = 90
EXPORT_RETRIES = 5
CLEANUP, EXPORT = "ExpireDelegations", "ExportAuditEvents"  # chalice's names for app.py's jobs
VAULT_REFRESH = "RefreshIdleVaultConnections"
MAIN, AUDIT, BUCKET = "MainTable", "AuditTable", "AuditBucket"  # logical ids
SIGNING_KEY, DATA_KEY, EXPORT_FAILURES = "SigningKey", "DataKey", "AuditExportFailures"


def _arn(logical_id: str) -> Json:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _sub(text: str) -> Json:
    return {"Fn::Sub": text}


def _allow(sid: str, actions: Iterable[str], resources: Iterable[Any], **extra: Any) -> Json:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": list(resources), **extra}


MAIN_INDEXES = _sub("${MainTable.Arn}/index/*")
AUDIT_LOG_KEY = "AuditLogKey"  # the audit bucket's SSE-KMS key (infra/template.json)
# Writing or reading an object of the audit bucket uses its key, through S3 only.
AUDIT_LOG_KEY_THROUGH_S3 = _allow(
    "AuditLogKeyThroughS3",
    ["kms:Decrypt", "kms:GenerateDataKey"],
    [_arn(AUDIT_LOG_KEY)],
    Condition={"StringEquals": {"kms:ViaService": _sub("s3.${AWS::Region}.amazonaws.com")}},
)

# A transaction needs the per-item actions on every table it touches; there is no IAM action
# for TransactWriteItems or TransactGetItems themselves.
STATEMENTS: Mapping[Permission, list[Json]] = {
    Permission.MAIN_READ: [
        _allow("MainRead", ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"], [_arn(MAIN)]),
        _allow("MainIndexQuery", ["dynamodb:Query"], [MAIN_INDEXES]),
    ],
    Permission.MAIN_WRITE: [
        _allow(
            "MainWrite",
            ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"],
            [_arn(MAIN)],
        )
    ],
    Permission.AUDIT_READ: [_allow("AuditRead", ["dynamodb:Query"], [_arn(AUDIT)])],
    Permission.AUDIT_WRITE: [_allow("AuditAppend", ["dynamodb:PutItem"], [_arn(AUDIT)])],
    Permission.KMS_PUBLIC_KEY: [_allow("SigningPublicKey", ["kms:GetPublicKey"], [_arn(SIGNING_KEY)])],
    Permission.KMS_SIGN: [_allow("Sign", ["kms:Sign", "kms:GetPublicKey"], [_arn(SIGNING_KEY)])],
    Permission.KMS_DECRYPT: [_allow("DataKeyDecrypt", ["kms:Decrypt"], [_arn(DATA_KEY)])],
    Permission.KMS_ENCRYPT: [_allow("DataKeyGenerate", ["kms:GenerateDataKey"], [_arn(DATA_KEY)])],
    Permission.CSV_EXPORT: [
        _allow("CsvExport", ["s3:PutObject", "s3:GetObject"], [_sub("${AuditBucket.Arn}/exports/*")]),
        copy.deepcopy(AUDIT_LOG_KEY_THROUGH_S3),
    ],
}

# The jobs of app.py: the cleanup expires delegations (with audit events); the export reads the
# audit stream and writes the immutable log objects and their signed digests.
CLEANUP_NEEDS = frozenset({Permission.MAIN_READ, Permission.MAIN_WRITE, Permission.AUDIT_WRITE})
# The vault's idle refresh: decrypts the refresh token, encrypts the new tokens.
VAULT_REFRESH_NEEDS = CLEANUP_NEEDS | {Permission.KMS_DECRYPT, Permission.KMS_ENCRYPT}
EXPORT_STATEMENTS: list[Json] = [
    _allow(
        "AuditStreamRead",
        ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
        [{"Fn::GetAtt": [AUDIT, "StreamArn"]}],
    ),
    _allow(
        "AuditObjectsWrite",
        ["s3:PutObject", "s3:GetObject"],
        [_sub("${AuditBucket.Arn}/audit/*"), _sub("${AuditBucket.Arn}/digests/*")],
    ),
    _allow(
        "AuditObjectsList",
        ["s3:ListBucket"],
        [_arn(BUCKET)],
        Condition={"StringLike": {"s3:prefix": ["audit/*", "digests/*"]}},
    ),
    _allow("ExportFailures", ["sqs:SendMessage"], [_arn(EXPORT_FAILURES)]),
    copy.deepcopy(AUDIT_LOG_KEY_THROUGH_S3),
    *STATEMENTS[Permission.KMS_SIGN],
]

# The webhook delivery job (chalicelib/jobs/webhook_delivery.py), the audit stream's second
# consumer: one BatchGetItem of the main table per batch (webhooks, records, markers), delivered
# markers put with their own attributes only, webhook secrets decrypted, and a queue of its own
# for what it gave up on. Its timeout covers a batch whose every delivery times out.
WEBHOOKS, WEBHOOK_FAILURES = "DeliverWebhookEvents", "WebhookDeliveryFailures"
WEBHOOK_RETRIES = 5
WEBHOOK_STATEMENTS: list[Json] = [
    _allow("WebhookReads", ["dynamodb:BatchGetItem"], [_arn(MAIN)]),
    _allow(
        "DeliveredMarkers",
        ["dynamodb:PutItem"],
        [_arn(MAIN)],
        Condition={"ForAllValues:StringEquals": {"dynamodb:Attributes": list(MARKER_ATTRIBUTES)}},
    ),
    EXPORT_STATEMENTS[0],  # AuditStreamRead
    *STATEMENTS[Permission.KMS_DECRYPT],
    _allow("WebhookFailures", ["sqs:SendMessage"], [_arn(WEBHOOK_FAILURES)]),
]


def add_webhook_delivery(res: Json, overrides: Json) -> None:
    """The webhook job's role, log group, failure queue, timeout and event source mapping."""
    res[f"{WEBHOOKS}Role"] = role(copy.deepcopy(WEBHOOK_STATEMENTS), f"{WEBHOOKS}Logs")
    res[f"{WEBHOOKS}Logs"] = log_group(WEBHOOKS)
    res[WEBHOOK_FAILURES] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True},
    }
    props = res[WEBHOOKS]["Properties"]
    props["Environment"]["Variables"].update(overrides)
    props["Environment"]["Variables"].pop("VAULTGUARD_AUDIT_STREAM_ARN", None)
    props["Timeout"] = webhook_delivery.FUNCTION_TIMEOUT_SECONDS
    _observed(res[WEBHOOKS], f"{WEBHOOKS}Logs")
    source = next(iter(props["Events"].values()))["Properties"]
    source.update(
        {
            "Stream": {"Fn::GetAtt": [AUDIT, "StreamArn"]},
            "BatchSize": webhook_delivery.BATCH_SIZE,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "MaximumRetryAttempts": WEBHOOK_RETRIES,
            "BisectBatchOnFunctionError": True,
            "DestinationConfig": {"OnFailure": {"Destination": _arn(WEBHOOK_FAILURES)}},
        }
    )


# The jobs' time limits (the routes keep the stage's 10 s, well under API Gateway's 29 s):
# the cleanup pages through the due delegations of every tenant; the idle vault refresh calls a
# provider per due connection (up to ~6 s each with its timeouts; what a run leaves is still due
# in the index and taken by the next hourly run); the export writes a batch's objects and signs
# its digests.
JOB_TIMEOUT_SECONDS: Mapping[str, int] = {CLEANUP: 120, VAULT_REFRESH: 600, EXPORT: 60}

# X-Ray has no resource-level permissions: the one statement allowed on `*` (every function
# sends its traces; `Tracing: Active`).
XRAY = _allow("XRay", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"])
ANY_RESOURCE_SIDS = frozenset({"XRay"})


def role(statements: list[Json], log_group: str) -> Json:
    """Every function's role: its own statements, its log group and X-Ray."""
    logs = _allow("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [_arn(log_group)])
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "least-privilege",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [*statements, logs, copy.deepcopy(XRAY)],
                    },
                }
            ],
        },
    }


def statements_for(needs: Iterable[Permission]) -> list[Json]:
    return [copy.deepcopy(s) for p in sorted(set(needs)) for s in STATEMENTS[p]]


def log_group(name: str) -> Json:
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "LogGroupName": _sub(f"/vaultguard/${{AWS::StackName}}/{name}"),
            "RetentionInDays": LOG_RETENTION_DAYS,
        },
    }


def table(definition: Json, *, ttl: bool) -> Json:
    """A table of `chalicelib/store/schema.py` as CloudFormation, kept when the stack goes."""
    keys = ("TableName", "BillingMode", "KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes")
    props: Json = {key: copy.deepcopy(definition[key]) for key in keys if key in definition}
    if "StreamSpecification" in definition:  # CloudFormation has no StreamEnabled
        props["StreamSpecification"] = {"StreamViewType": definition["StreamSpecification"]["StreamViewType"]}
    props["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    props["DeletionProtectionEnabled"] = True
    props["SSESpecification"] = {"SSEEnabled": True}
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": "ttl", "Enabled": True}
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": props,
    }


def _source_arn(method: str, path: str) -> Json:
    resource = "/".join("*" if part.startswith("{") else part for part in path.split("/"))
    api = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${RestAPI}"
    return _sub(f"{api}/*/{method}{resource}")


def _integrate(paths: Json, method: str, path: str, function: str) -> None:
    integration = paths[path][method.lower()]["x-amazon-apigateway-integration"]
    integration["uri"] = _sub(
        f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{function}.Arn}}/invocations"
    )


def _function(api_handler: Json, name: str, overrides: Json) -> Json:
    fn = copy.deepcopy(api_handler)
    props = fn["Properties"]
    props["Handler"] = f"{HANDLER_MODULE}.{name}"
    props["Role"] = _arn(f"{name}Role")
    props["Environment"]["Variables"].update(overrides)
    props.pop("Events", None)
    return _observed(fn, f"{name}Logs")


def _invoke_permission(name: str, source_arn: Json) -> Json:
    return {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "FunctionName": {"Ref": name},
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": source_arn,
        },
    }


def _observed(function: Json, group: str) -> Json:
    """JSON logs to the function's own group (with retention) and active X-Ray tracing."""
    function["Properties"]["LoggingConfig"] = {"LogGroup": {"Ref": group}, "LogFormat": "JSON"}
    function["Properties"]["Tracing"] = "Active"
    return function


def transform(template: Json, routes: Mapping[str, Mapping[str, Any]]) -> Json:
    """`chalice package`'s template (merged with infra/template.json) -> the deployable one.

    `routes` is the app's route table (`app.routes`: path -> method -> entry)."""
    out = copy.deepcopy(template)
    res: Json = out["Resources"]
    api_handler = res.pop("APIHandler")
    for gone in ("ApiHandlerRole", "APIHandlerRole", "APIHandlerInvokePermission"):
        res.pop(gone, None)
    out["Outputs"] = {k: v for k, v in out.get("Outputs", {}).items() if not k.startswith("APIHandler")}
    env = api_handler["Properties"]["Environment"]["Variables"]
    overrides = {"VAULTGUARD_AUDIT_BUCKET": {"Ref": BUCKET}, **data_plane.environment()}

    res[MAIN] = table(schema.main_table(env["VAULTGUARD_TABLE"]), ttl=True)
    res[AUDIT] = table(schema.audit_table(env["VAULTGUARD_AUDIT_TABLE"]), ttl=False)

    paths = res["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    preflights = 0
    for path, methods in routes.items():
        for method in methods:
            if method == PREFLIGHT_METHOD:
                # Every path's preflight runs in the one shared function below; it may need
                # no AWS access, since that function's role has none.
                if permissions_for(method, path):
                    raise ValueError(f"the preflight of {path} declares AWS permissions")
                _integrate(paths, method, path, PREFLIGHT)
                preflights += 1
                continue
            name = function_name(method, path)
            if name in res:
                raise ValueError(f"two routes are named {name}")
            res[name] = _function(api_handler, name, overrides)
            res[f"{name}Logs"] = log_group(name)
            res[f"{name}Role"] = role(statements_for(permissions_for(method, path)), f"{name}Logs")
            res[f"{name}InvokePermission"] = _invoke_permission(name, _source_arn(method, path))
            _integrate(paths, method, path, name)
    if preflights:
        # One function, role, log group and invoke permission for all the preflights (not
        # four resources per path): a preflight reads nothing and authenticates nobody.
        res[PREFLIGHT] = _function(api_handler, PREFLIGHT, overrides)
        res[f"{PREFLIGHT}Logs"] = log_group(PREFLIGHT)
        res[f"{PREFLIGHT}Role"] = role([], f"{PREFLIGHT}Logs")
        res[f"{PREFLIGHT}InvokePermission"] = _invoke_permission(
            PREFLIGHT, _source_arn(PREFLIGHT_METHOD, "/*")
        )

    # request paths that touch the tables: tenant-scoped credentials (a route that declared no
    # table access, e.g. GET /openapi.json, may not assume the data-plane role either)
    data_routes = [
        function_name(m, p)
        for p, ms in routes.items()
        for m in ms
        if m != PREFLIGHT_METHOD and permissions_for(m, p) & {Permission.MAIN_READ, Permission.MAIN_WRITE}
    ]
    data_plane.apply(res, data_routes)

    jobs = (
        (CLEANUP, statements_for(CLEANUP_NEEDS)),
        (VAULT_REFRESH, statements_for(VAULT_REFRESH_NEEDS)),
        (EXPORT, copy.deepcopy(EXPORT_STATEMENTS)),
    )
    for job, statements in jobs:
        res[job]["Properties"]["Timeout"] = JOB_TIMEOUT_SECONDS[job]
        res[f"{job}Role"] = role(statements, f"{job}Logs")
        res[f"{job}Logs"] = log_group(job)
        res[job]["Properties"]["Environment"]["Variables"].update(overrides)
        _observed(res[job], f"{job}Logs")
    source = next(iter(res[EXPORT]["Properties"]["Events"].values()))["Properties"]
    source.update(
        {
            "Stream": {"Fn::GetAtt": [AUDIT, "StreamArn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "MaximumRetryAttempts": EXPORT_RETRIES,
            "BisectBatchOnFunctionError": True,
            "DestinationConfig": {"OnFailure": {"Destination": _arn(EXPORT_FAILURES)}},
        }
    )
    res[EXPORT]["Properties"]["Environment"]["Variables"].pop("VAULTGUARD_AUDIT_STREAM_ARN", None)
    add_webhook_delivery(res, overrides)

    for response_type, props in gateway_responses().items():
        name = "GatewayResponse" + "".join(w.capitalize() for w in response_type.split("_"))
        res[name] = {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": props}

    out["Parameters"] = {**out.get("Parameters", {}), **gateway.parameters()}
    gateway.configure(res["RestAPI"])
    res[gateway.ACCESS_LOGS] = log_group("api-access")
    cdn.add(res, out["Outputs"], api="RestAPI", stage=res["RestAPI"]["Properties"]["StageName"])
    cdn.custom_domain(out)
    alarms.add(out, api="RestAPI")
    return out


# Packed by chalice (it takes all of chalicelib/) but only ever run by `make run`: nothing a
# Lambda imports reaches it (tests/infra checks the zip).
LOCAL_ONLY = ("chalicelib/local/",)


def strip_local_only(zip_path: Path) -> list[str]:
    """Rewrite the deployment zip without the local stack's modules; the names dropped."""
    kept = zip_path.with_suffix(".tmp")
    dropped = []
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(kept, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename.startswith(LOCAL_ONLY):
                dropped.append(info.filename)
            else:
                dst.writestr(info, src.read(info))
    kept.replace(zip_path)
    return dropped


SECRET_HASH_KEY_BLOB_ENV = "VAULTGUARD_SECRET_HASH_KEY_BLOB"
SECRET_HASH_KEY_BLOB_PARAMETER = "SecretHashKeyBlob"
# The issuer is the distribution's (or a custom domain's) URL, known only once the stack exists:
# a parameter, which `make deploy` (infra/deploy.py) fills in.
ISSUER_ENV, ISSUER_PARAMETER = "VAULTGUARD_ISSUER", "Issuer"


def deployment_properties(template: Json) -> Json:
    """The functions' deployment-package properties: every function runs the zip's Python on
    the zip's architecture (arm64, `.chalice/config.json`), and gets the KMS-sealed
    secret-hashing key from a stack parameter (it is made with the stack's data key, so it cannot
    be in the stage config; without it a function refuses to start)."""
    out = copy.deepcopy(template)
    out.setdefault("Parameters", {})[SECRET_HASH_KEY_BLOB_PARAMETER] = {
        "Type": "String",
        "NoEcho": True,
        "MinLength": 1,
        "Description": "the secret-hashing key sealed with the data key (make deploy keeps it in SSM)",
    }
    out["Parameters"][ISSUER_PARAMETER] = {
        "Type": "String",
        "AllowedPattern": "^https://[^/?#]+$",
        "Description": "the token issuer: the distribution's or custom domain's https:// URL (make deploy)",
    }
    runtime = "python{}.{}".format(*lambda_zip.LAMBDA_PYTHON)
    for name, resource in out["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        if props.get("Architectures") != [lambda_zip.ARCHITECTURE] or props.get("Runtime") != runtime:
            raise ValueError(
                f"{name} runs {props.get('Runtime')} on {props.get('Architectures')}, "
                f"the zip is built for {runtime} on {lambda_zip.ARCHITECTURE}"
            )
        props["Environment"]["Variables"][SECRET_HASH_KEY_BLOB_ENV] = {"Ref": SECRET_HASH_KEY_BLOB_PARAMETER}
        props["Environment"]["Variables"][ISSUER_ENV] = cdn.issuer(ISSUER_PARAMETER)
    return out


def build(out: Path, stage: str = "prod") -> Path:
    """`chalice package` into `out` (no AWS account: dummy credentials), then `transform`;
    the path of the deployable template."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="packaging", AWS_SECRET_ACCESS_KEY="packaging")
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    # chalice imports app.py with the stage's environment, and a deployed stage refuses to start
    # without its sealed secret-hashing key: a stand-in for the import only (the functions get
    # the real one from the stack's parameter, `deployment_properties`).
    env[SECRET_HASH_KEY_BLOB_ENV] = "packaging"
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run(
        [str(chalice), "package", "--stage", stage, "--merge-template", str(MERGE_TEMPLATE), str(out)],
        cwd=PROJECT,
        env=env,
        check=True,
    )
    strip_local_only(out / "deployment.zip")
    lambda_zip.optimise(out / "deployment.zip")
    from app import app  # the route table

    path = out / "sam.json"
    template = json.loads(path.read_text())
    deployable = deployment_properties(transform(template, app.routes))
    path.write_text(json.dumps(deployable, indent=2, sort_keys=True) + "\n")
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m infra.package <output dir>", file=sys.stderr)
        return 2
    print(build(Path(argv[0]).resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
