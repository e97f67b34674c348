"""One `make package` build per test session, shared by the template's contract tests."""

from __future__ import annotations

import copy
import fcntl
import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from infra import package


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return package.build(tmp_path_factory.mktemp("build"))
    # pytest-xdist: the workers share one build, the first to get here makes it (chalice's
    # dependency cache, .chalice/deployments, is written in place: two builds at once could
    # read each other's half-written zip). Each worker's basetemp is under the run's one.
    shared = tmp_path_factory.getbasetemp().parent / "infra-build"
    with (shared.parent / "infra-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = shared / ".built"
        if not done.exists():
            shared.mkdir(exist_ok=True)
            template = package.build(shared)
            done.write_text(template.name)
        return shared / done.read_text()


@pytest.fixture(scope="session")
def template(built: Path) -> dict[str, Any]:
    return json.loads(built.read_text())


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def deployed(template: dict[str, Any], *, keep_code_uri: bool = False) -> dict[str, Any]:
    """The template as CloudFormation gets it: after the SAM transform (offline, no AWS call;
    the code's S3 location stands for what `make deploy` puts there, unless `keep_code_uri`)."""
    sam = copy.deepcopy(template)
    for resource in resources(sam, "AWS::Serverless::Function").values():
        if not keep_code_uri:
            resource["Properties"]["CodeUri"] = "s3://packaging/deployment.zip"
    session = boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="packaging", aws_secret_access_key="packaging"
    )
    translator = Translator(None, Parser(), boto_session=session)
    # every role is the template's own: no managed policy to look up
    expanded: dict[str, Any] = translator.translate(sam, parameter_values={}, get_managed_policy_map=dict)
    return expanded
