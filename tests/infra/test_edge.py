"""What stands in front of the functions in the packaged template: one CloudFront distribution
serving the dashboard from a private bucket and everything else from API Gateway uncached, with
the dashboard's own Content-Security-Policy; the stage's throttling, JSON access logs and
tracing; every function traced and logging to a group with retention."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app import app
from chalicelib.local import dashboard
from infra import cdn, gateway, package
from tests.infra.conftest import deployed, resources

Json = dict[str, Any]


def _distribution(template: Json) -> Json:
    config: Json = template["Resources"][cdn.DISTRIBUTION]["Properties"]["DistributionConfig"]
    return config


def test_the_dashboard_bucket_is_private_and_only_the_distribution_may_read_it(template: Json) -> None:
    res = template["Resources"]
    bucket = res[cdn.BUCKET]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    statements = res[cdn.BUCKET_POLICY]["Properties"]["PolicyDocument"]["Statement"]
    (tls,) = [s for s in statements if s["Effect"] == "Deny"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and tls["Action"] == "s3:*"
    (read,) = [s for s in statements if s["Effect"] == "Allow"]
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"} and read["Action"] == "s3:GetObject"
    source = read["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith(":distribution/${Distribution}")
    (origin,) = [o for o in _distribution(template)["Origins"] if o["Id"] == cdn.DASHBOARD_ORIGIN]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [cdn.ACCESS_CONTROL, "Id"]}
    assert origin["DomainName"] == {"Fn::GetAtt": [cdn.BUCKET, "RegionalDomainName"]}
    assert res[cdn.ACCESS_CONTROL]["Properties"]["OriginAccessControlConfig"]["SigningBehavior"] == "always"


def test_everything_but_the_dashboard_goes_to_the_api_uncached_with_what_it_reads(template: Json) -> None:
    config = _distribution(template)
    (api,) = [o for o in config["Origins"] if o["Id"] == cdn.API_ORIGIN]
    stage = template["Resources"]["RestAPI"]["Properties"]["StageName"]
    assert api["OriginPath"] == f"/{stage}"
    assert api["DomainName"]["Fn::Sub"].startswith("${RestAPI}.execute-api.")
    assert api["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == cdn.API_ORIGIN
    assert set(default["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert default["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
    # AllViewerExceptHostHeader: cookies, Authorization, query strings, every other header
    assert default["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    assert template["Outputs"]["DistributionDomainName"]["Value"] == {
        "Fn::GetAtt": [cdn.DISTRIBUTION, "DomainName"]
    }


def test_the_dashboard_is_cached_rewritten_and_sent_with_its_content_security_policy(template: Json) -> None:
    behaviours = {b["PathPattern"]: b for b in _distribution(template)["CacheBehaviors"]}
    assert set(behaviours) == {"/dashboard", "/dashboard/*"}
    for behaviour in behaviours.values():
        assert behaviour["TargetOriginId"] == cdn.DASHBOARD_ORIGIN
        assert behaviour["CachePolicyId"] != "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
        assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
        (function,) = behaviour["FunctionAssociations"]
        assert function["EventType"] == "viewer-request"
        assert function["FunctionARN"] == {"Fn::GetAtt": [cdn.REWRITE, "FunctionMetadata.FunctionARN"]}
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": cdn.HEADERS}
    policy = template["Resources"][cdn.HEADERS]["Properties"]["ResponseHeadersPolicyConfig"]
    security = policy["SecurityHeadersConfig"]
    assert security["ContentSecurityPolicy"] == {"ContentSecurityPolicy": dashboard.POLICY, "Override": True}
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ContentTypeOptions"] == {"Override": True}
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>VaultGuard</title>")
    (tmp_path / "assets" / "app-3f2a.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


PATHS = [
    "/dashboard",
    "/dashboard?tab=queue",
    "/dashboard/",
    "/dashboard/index.html",
    "/dashboard/queue",
    "/dashboard/delegations/d-123",
    "/dashboard/assets/app-3f2a.js",
    "/dashboard/assets/gone-1234.js",
    "/dashboard/assets/chunk",
    "/dashboard/favicon.svg",
    "/dashboard/missing.png",
]


def _edge(paths: list[str], tmp_path: Path) -> list[Json]:
    """Run the CloudFront Function's code under node on viewer-request events for `paths`."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    events = []
    for raw in paths:
        uri, _, query = raw.partition("?")
        qs = {k: {"value": v} for k, _, v in (p.partition("=") for p in query.split("&") if p)}
        events.append(
            {"version": "1.0", "request": {"method": "GET", "uri": uri, "querystring": qs, "headers": {}}}
        )
    script = tmp_path / "rewrite.js"
    script.write_text(
        cdn.REWRITE_CODE + "\nconsole.log(JSON.stringify(JSON.parse(process.argv[2]).map(handler)));\n"
    )
    run = subprocess.run([node, str(script), json.dumps(events)], capture_output=True, text=True, check=True)
    answers: list[Json] = json.loads(run.stdout)
    return answers


def test_the_edge_rewrite_decides_as_the_local_server_does(dist: Path, tmp_path: Path) -> None:
    index = (dist / "index.html").read_bytes()
    for raw, edge in zip(PATHS, _edge(PATHS, tmp_path), strict=True):
        local = dashboard.answer(raw, "req-1", root=dist)
        if local.status == 308:
            assert (
                edge["statusCode"] == 308
                and edge["headers"]["location"]["value"] == local.headers["Location"]
            )
        elif local.status == 200 and local.body == index:
            assert edge["uri"] == "/dashboard/index.html", raw  # an app route: the app's page
        else:
            assert edge["uri"] == raw, raw  # a file (or a missing one): S3 answers for it
    assert dashboard.answer("/dashboard/queue", "req-1", root=dist).body == index  # the cases are covered


def test_the_stage_throttles_logs_json_and_traces(template: Json) -> None:
    (stage,) = resources(deployed(template), "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["TracingEnabled"] is True
    settings = {(s["HttpMethod"], s["ResourcePath"]): s for s in props["MethodSettings"]}
    params = template["Parameters"]
    everything, login = settings[("*", "/*")], settings[("GET", "/~1auth~1login")]
    assert "/auth/login" in app.routes and "GET" in app.routes["/auth/login"]
    for limit in ("ThrottlingBurstLimit", "ThrottlingRateLimit"):
        # template parameters with defaults; sign-in gets a tighter budget than the stage
        stage_wide, sign_in = (params[setting[limit]["Ref"]]["Default"] for setting in (everything, login))
        assert 0 < sign_in < stage_wide, limit
    logs = props["AccessLogSetting"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": [gateway.ACCESS_LOGS, "Arn"]}
    fields = json.loads(logs["Format"])
    for name in ("requestId", "ip", "method", "path", "status", "latency", "userAgent"):
        assert fields[name].startswith("$context."), name
    group = template["Resources"][gateway.ACCESS_LOGS]["Properties"]
    assert group["RetentionInDays"] == package.LOG_RETENTION_DAYS


def test_every_function_traces_and_logs_to_a_group_that_expires(template: Json) -> None:
    res = template["Resources"]
    functions = resources(template, "AWS::Serverless::Function")
    assert len(functions) > 3
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Tracing"] == "Active", name
        group = res[props["LoggingConfig"]["LogGroup"]["Ref"]]
        assert group["Properties"]["RetentionInDays"] == package.LOG_RETENTION_DAYS, name
        role = res[props["Role"]["Fn::GetAtt"][0]]["Properties"]
        allowed = {a for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] for a in s["Action"]}
        assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= allowed, name
