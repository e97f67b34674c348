"""Shared fixtures: dummy AWS credentials everywhere, so nothing can reach real AWS."""

from __future__ import annotations

import os

import pytest

# Set before any boto3 client is built anywhere in the test session.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("VAULTGUARD_AWS_ENDPOINT", None)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist the workers run the tests and only this conftest is loaded in the
    controller: there, the functional suite's AWS role summary adds up the workers' recordings."""
    distributed = config.getoption("dist", "no") != "no" and config.getoption("tx", None)
    if not distributed or hasattr(config, "workerinput"):
        return
    from tests.functional import aws_roles

    summary = aws_roles.pytest_terminal_summary
    if not any(
        getattr(p, "pytest_terminal_summary", None) is summary for p in config.pluginmanager.get_plugins()
    ):
        config.pluginmanager.register(aws_roles, "vaultguard-aws-roles-summary")  # (not loaded yet)
