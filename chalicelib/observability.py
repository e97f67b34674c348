"""Structured JSON logs and CloudWatch EMF metrics (powertools); every log line carries the
request id, and metrics are flushed once per request by the HTTP middleware."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="vaultguard")
_LEVEL = logger.log_level  # from POWERTOOLS_LOG_LEVEL (INFO by default)


def restore_log_level() -> None:
    """Chalice(app_name="vaultguard") sets the same-named stdlib logger to ERROR when debug
    is off; put back the level powertools chose, so INFO/WARNING lines are not dropped."""
    logger.setLevel(_LEVEL)


metrics = Metrics(namespace="VaultGuard", service="vaultguard")

DECISION_METRICS = {
    "ALLOW": "DelegationsAllowed",
    "STEP_UP": "DelegationsSteppedUp",
    "BLOCK": "DelegationsBlocked",
}


def count_decision(decision: str) -> None:
    metrics.add_metric(name=DECISION_METRICS[decision], unit=MetricUnit.Count, value=1)


def record_request(status_code: int, duration_ms: float) -> None:
    metrics.add_metric(name="RequestLatency", unit=MetricUnit.Milliseconds, value=duration_ms)
    if status_code >= 500:
        metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)


def flush_metrics() -> None:
    """Print this request's EMF blob (unless POWERTOOLS_METRICS_DISABLED) and start afresh."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics.flush_metrics()
    metrics.clear_metrics()
