"""Shared fixtures: dummy AWS credentials everywhere, so nothing can reach real AWS."""

from __future__ import annotations

import os

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
