"""The dashboard on S3 and the API behind one CloudFront distribution, so that both share an
origin: the app calls the API same-origin with the session cookie and CORS stays closed, as
`make run` serves it locally (`chalicelib/local/dashboard.py`).

`/dashboard/*` comes from a private bucket (origin access control, cached; a CloudFront Function
gives the app's routes `index.html`); everything else goes to the API Gateway stage, uncached,
with all the viewer's cookies, headers (but `Host`) and query strings.
"""

from __future__ import annotations

from typing import Any

from chalicelib.api._middleware import SECURITY_HEADERS
from chalicelib.local.dashboard import POLICY, PREFIX

Json = dict[str, Any]

BUCKET, BUCKET_POLICY = "DashboardBucket", "DashboardBucketPolicy"
ACCESS_CONTROL, DISTRIBUTION = "DashboardOriginAccessControl", "Distribution"
REWRITE, HEADERS = "DashboardRewrite", "DashboardResponseHeaders"
API_ORIGIN, DASHBOARD_ORIGIN = "api", "dashboard"

# AWS-managed policies (fixed ids, listed in the CloudFront developer guide).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"  # honours the objects' Cache-Control
# Every cookie, query string and header of the viewer (Authorization, Content-Type, Origin,
# If-None-Match, X-Request-Id...) except Host, which must stay the execute-api host.
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"

# The API's own HSTS ("max-age=N; includeSubDomains"), for the dashboard too.
HSTS_SECONDS = int(SECURITY_HEADERS["Strict-Transport-Security"].split(";")[0].removeprefix("max-age="))

# The decisions of chalicelib/local/dashboard.py's `answer`, at the edge: `/dashboard` redirects
# to `/dashboard/` (query kept); a path under it that names no file (no extension, not under
# assets/) is one of the app's routes and gets index.html; files pass to S3 as they are.
REWRITE_CODE = """\
function query(qs) {
  var parts = [];
  for (var key in qs) {
    var values = qs[key].multiValue ? qs[key].multiValue : [qs[key]];
    for (var i = 0; i < values.length; i++) {
      parts.push(key + (values[i].value === '' ? '' : '=' + values[i].value));
    }
  }
  return parts.length ? '?' + parts.join('&') : '';
}

function handler(event) {
  var request = event.request;
  var prefix = '__PREFIX__';
  if (request.uri === prefix) {
    return {
      statusCode: 308,
      statusDescription: 'Permanent Redirect',
      headers: {location: {value: prefix + '/' + query(request.querystring)}},
    };
  }
  var rest = request.uri.slice(prefix.length + 1);
  var name = rest.split('/').pop();
  if (rest.indexOf('assets/') !== 0 && name.indexOf('.') === -1) {
    request.uri = prefix + '/index.html';
  }
  return request;
}
""".replace("__PREFIX__", PREFIX)


# The optional custom domain: its name and an ACM certificate for it, which CloudFront takes
# from us-east-1 only.
DOMAIN, CERTIFICATE, HAS_DOMAIN = "DomainName", "CertificateArn", "HasCustomDomain"
MIN_TLS = "TLSv1.2_2021"


def domain_parameters() -> Json:
    return {
        DOMAIN: {
            "Type": "String",
            "Default": "",
            "AllowedPattern": r"^$|^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$",
            "Description": "custom domain of the distribution, e.g. vaultguard.example.org (optional)",
        },
        CERTIFICATE: {
            "Type": "String",
            "Default": "",
            "AllowedPattern": r"^$|^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[0-9a-f-]+$",
            "Description": "ACM certificate for DomainName, in us-east-1 (required with DomainName)",
        },
    }


def issuer(parameter: str) -> Json:
    """The functions' VAULTGUARD_ISSUER: https://DomainName when there is one, else the issuer
    `parameter` (the distribution's URL, which `make deploy` reads from the stack's outputs).
    Never the distribution's domain by reference: the distribution's origin is the API, whose
    integrations name every function, so a function naming the distribution is a cycle."""
    return {"Fn::If": [HAS_DOMAIN, {"Fn::Sub": f"https://${{{DOMAIN}}}"}, {"Ref": parameter}]}


def custom_domain(template: Json) -> None:
    """The custom domain's parameters, its condition and the rule that it comes with a
    certificate (the distribution's Aliases and ViewerCertificate follow the condition)."""
    template["Parameters"] = {**template.get("Parameters", {}), **domain_parameters()}
    template.setdefault("Conditions", {})[HAS_DOMAIN] = {"Fn::Not": [{"Fn::Equals": [{"Ref": DOMAIN}, ""]}]}
    template.setdefault("Rules", {})["CustomDomainHasCertificate"] = {
        "RuleCondition": {"Fn::Not": [{"Fn::Equals": [{"Ref": DOMAIN}, ""]}]},
        "Assertions": [
            {
                "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": CERTIFICATE}, ""]}]},
                "AssertDescription": "DomainName needs CertificateArn (ACM, us-east-1)",
            }
        ],
    }


def _arn(logical_id: str) -> Json:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _distribution_arn() -> Json:
    return {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"}


def bucket() -> Json:
    return {
        "Type": "AWS::S3::Bucket",
        "Properties": {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
        },
    }


def bucket_policy() -> Json:
    """TLS only; reads only by this distribution (through its origin access control)."""
    objects = {"Fn::Sub": f"${{{BUCKET}.Arn}}{PREFIX}/*"}
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": BUCKET},
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [_arn(BUCKET), {"Fn::Sub": f"${{{BUCKET}.Arn}}/*"}],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                    {
                        "Sid": "DistributionReads",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudfront.amazonaws.com"},
                        "Action": "s3:GetObject",
                        "Resource": [objects],
                        "Condition": {"StringEquals": {"AWS:SourceArn": _distribution_arn()}},
                    },
                ],
            },
        },
    }


def origin_access_control() -> Json:
    return {
        "Type": "AWS::CloudFront::OriginAccessControl",
        "Properties": {
            "OriginAccessControlConfig": {
                "Name": {"Fn::Sub": "${AWS::StackName}-dashboard"},
                "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always",
                "SigningProtocol": "sigv4",
            }
        },
    }


def rewrite_function() -> Json:
    return {
        "Type": "AWS::CloudFront::Function",
        "Properties": {
            "Name": {"Fn::Sub": "${AWS::StackName}-dashboard-rewrite"},
            "AutoPublish": True,
            "FunctionConfig": {
                "Comment": "dashboard app routes -> index.html",
                "Runtime": "cloudfront-js-2.0",
            },
            "FunctionCode": REWRITE_CODE,
        },
    }


def response_headers_policy() -> Json:
    """The dashboard's Content-Security-Policy (the local server's, one source) and the API's
    other security headers, set by CloudFront on every dashboard answer."""
    return {
        "Type": "AWS::CloudFront::ResponseHeadersPolicy",
        "Properties": {
            "ResponseHeadersPolicyConfig": {
                "Name": {"Fn::Sub": "${AWS::StackName}-dashboard"},
                "SecurityHeadersConfig": {
                    "ContentSecurityPolicy": {"ContentSecurityPolicy": POLICY, "Override": True},
                    "StrictTransportSecurity": {
                        "AccessControlMaxAgeSec": HSTS_SECONDS,
                        "IncludeSubdomains": True,
                        "Override": True,
                    },
                    "ContentTypeOptions": {"Override": True},
                    "FrameOptions": {"FrameOption": "DENY", "Override": True},
                    "ReferrerPolicy": {
                        "ReferrerPolicy": SECURITY_HEADERS["Referrer-Policy"],
                        "Override": True,
                    },
                },
            }
        },
    }


def distribution(api: str, stage: str) -> Json:
    """`api` is the RestApi's logical id, `stage` its stage name (the origin path)."""
    to_bucket = {
        "TargetOriginId": DASHBOARD_ORIGIN,
        "ViewerProtocolPolicy": "redirect-to-https",
        "AllowedMethods": ["GET", "HEAD"],
        "CachedMethods": ["GET", "HEAD"],
        "Compress": True,
        "CachePolicyId": CACHING_OPTIMIZED,
        "ResponseHeadersPolicyId": {"Ref": HEADERS},
        "FunctionAssociations": [
            {
                "EventType": "viewer-request",
                "FunctionARN": {"Fn::GetAtt": [REWRITE, "FunctionMetadata.FunctionARN"]},
            }
        ],
    }
    return {
        "Type": "AWS::CloudFront::Distribution",
        # cfn-lint checks CertificateArn's empty default against ACM's ARN pattern, though the
        # certificate is used only with a DomainName (and then required: a template rule).
        "Metadata": {"cfn-lint": {"config": {"ignore_checks": ["W1030"]}}},
        "Properties": {
            "DistributionConfig": {
                "Enabled": True,
                "Comment": {"Fn::Sub": "${AWS::StackName}: the API and the dashboard on one origin"},
                "HttpVersion": "http2and3",
                "IPV6Enabled": True,
                "PriceClass": "PriceClass_100",
                "Aliases": {"Fn::If": [HAS_DOMAIN, [{"Ref": DOMAIN}], {"Ref": "AWS::NoValue"}]},
                "ViewerCertificate": {
                    "Fn::If": [
                        HAS_DOMAIN,
                        {
                            "AcmCertificateArn": {"Ref": CERTIFICATE},
                            "SslSupportMethod": "sni-only",
                            "MinimumProtocolVersion": MIN_TLS,
                        },
                        {"CloudFrontDefaultCertificate": True},
                    ]
                },
                "Origins": [
                    {
                        "Id": API_ORIGIN,
                        "DomainName": {
                            "Fn::Sub": f"${{{api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"
                        },
                        "OriginPath": f"/{stage}",
                        "CustomOriginConfig": {
                            "OriginProtocolPolicy": "https-only",
                            "OriginSSLProtocols": ["TLSv1.2"],
                        },
                    },
                    {
                        "Id": DASHBOARD_ORIGIN,
                        "DomainName": {"Fn::GetAtt": [BUCKET, "RegionalDomainName"]},
                        "OriginAccessControlId": {"Fn::GetAtt": [ACCESS_CONTROL, "Id"]},
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    },
                ],
                "DefaultCacheBehavior": {
                    "TargetOriginId": API_ORIGIN,
                    "ViewerProtocolPolicy": "https-only",
                    "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
                    "CachedMethods": ["GET", "HEAD"],
                    "Compress": True,
                    "CachePolicyId": CACHING_DISABLED,
                    "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST_HEADER,
                },
                # `/dashboard` itself (redirected by the function) and everything under it.
                "CacheBehaviors": [
                    {**to_bucket, "PathPattern": PREFIX},
                    {**to_bucket, "PathPattern": f"{PREFIX}/*"},
                ],
            }
        },
    }


def add(res: Json, outputs: Json, *, api: str, stage: str) -> None:
    """Add the dashboard bucket and the shared distribution to a template's resources."""
    res[BUCKET] = bucket()
    res[BUCKET_POLICY] = bucket_policy()
    res[ACCESS_CONTROL] = origin_access_control()
    res[REWRITE] = rewrite_function()
    res[HEADERS] = response_headers_policy()
    res[DISTRIBUTION] = distribution(api, stage)
    outputs["DistributionDomainName"] = {
        "Description": "The API and the dashboard (/dashboard/) on one origin",
        "Value": {"Fn::GetAtt": [DISTRIBUTION, "DomainName"]},
    }
    outputs["DashboardBucketName"] = {
        "Description": "Where `dashboard/dist` is synced to (under dashboard/)",
        "Value": {"Ref": BUCKET},
    }
