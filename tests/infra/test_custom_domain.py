"""The optional custom domain (issue 14 item 7): DomainName + a us-east-1 ACM certificate on the
distribution (TLS 1.2 minimum), and the functions' issuer https://DomainName, else the Issuer
parameter; never the distribution's domain by reference (the distribution's origin is the API,
whose integrations name every function: a cycle)."""

from __future__ import annotations

import json
from typing import Any

from infra import cdn, package
from tests.infra.conftest import resources

Json = dict[str, Any]


def test_the_distribution_takes_the_custom_domain_and_its_certificate_when_given(template: Json) -> None:
    config = template["Resources"][cdn.DISTRIBUTION]["Properties"]["DistributionConfig"]
    assert config["Aliases"] == {"Fn::If": [cdn.HAS_DOMAIN, [{"Ref": cdn.DOMAIN}], {"Ref": "AWS::NoValue"}]}
    condition, custom, default = config["ViewerCertificate"]["Fn::If"]
    assert condition == cdn.HAS_DOMAIN
    assert custom == {
        "AcmCertificateArn": {"Ref": cdn.CERTIFICATE},
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    assert default == {"CloudFrontDefaultCertificate": True}
    params = template["Parameters"]
    assert params[cdn.DOMAIN]["Default"] == params[cdn.CERTIFICATE]["Default"] == ""
    assert ":acm:us-east-1:" in params[cdn.CERTIFICATE]["AllowedPattern"]
    rule = template["Rules"]["CustomDomainHasCertificate"]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": cdn.CERTIFICATE}, ""]}]}


def test_every_function_gets_the_https_issuer_and_none_names_the_distribution(template: Json) -> None:
    functions = resources(template, "AWS::Serverless::Function")
    for name, function in functions.items():
        env = function["Properties"]["Environment"]["Variables"]
        assert env["VAULTGUARD_ISSUER"] == {
            "Fn::If": [
                cdn.HAS_DOMAIN,
                {"Fn::Sub": "https://${DomainName}"},
                {"Ref": package.ISSUER_PARAMETER},
            ]
        }, name
        assert cdn.DISTRIBUTION not in json.dumps(function), name
    assert template["Parameters"][package.ISSUER_PARAMETER]["AllowedPattern"].startswith("^https://")
