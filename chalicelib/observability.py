"""The one structured JSON logger (powertools); every line carries the request id."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="vaultguard")
