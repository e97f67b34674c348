"""Structured JSON logs, CloudWatch EMF metrics and X-Ray traces (powertools); every log line
carries the request id, and metrics are flushed once per request by the HTTP middleware.

The Tracer is built on a deployed stage's first event, not at import: it imports the X-Ray SDK,
which the local stack does not need and which costs a cold start about half a second of CPU."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE, NAMESPACE = "vaultguard", "VaultGuard"
AUTH_FAILURES = "AuthFailures"  # one per failed client authentication (infra/alarms.py)

logger = Logger(service=SERVICE)
_LEVEL = logger.log_level  # from POWERTOOLS_LOG_LEVEL (INFO by default)


def restore_log_level() -> None:
    """Chalice(app_name="vaultguard") sets the same-named stdlib logger to ERROR when debug
    is off; put back the level powertools chose, so INFO/WARNING lines are not dropped."""
    logger.setLevel(_LEVEL)


metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

DECISION_METRICS = {
    "ALLOW": "DelegationsAllowed",
    "STEP_UP": "DelegationsSteppedUp",
    "BLOCK": "DelegationsBlocked",
}


def count_decision(decision: str) -> None:
    metrics.add_metric(name=DECISION_METRICS[decision], unit=MetricUnit.Count, value=1)


def count_auth_failure() -> None:
    """A failed client authentication (`auth.failed`): the alarm on their rate watches this."""
    metrics.add_metric(name=AUTH_FAILURES, unit=MetricUnit.Count, value=1)


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


@cache
def tracer() -> Any | None:
    """The powertools Tracer of a deployed stage (None on the local stage, or without the X-Ray
    SDK in the package: tracing is then Lambda's own segments only). It records the AWS SDK
    calls (DynamoDB, KMS, S3) as subsegments; POWERTOOLS_TRACE_DISABLED turns it off."""
    from chalicelib.config import get_settings

    if get_settings().stage == "local":
        return None
    try:
        from aws_lambda_powertools import Tracer

        return Tracer(service=SERVICE, patch_modules=["botocore"])
    except ImportError:
        logger.info("aws-xray-sdk is not in the package: no X-Ray subsegments")
        return None


Note = Callable[[int], None]


@contextmanager
def traced(route: str) -> Iterator[Note]:
    """A `## <route>` subsegment around one invocation, annotated with the route (the function
    name, never an id or a tenant) and, through the yielded callable, the HTTP status."""
    active = tracer()
    if active is None or active.disabled:
        yield lambda status: None
        return
    with active.provider.in_subsegment(f"## {route}") as subsegment:
        subsegment.put_annotation("route", route)
        yield lambda status: subsegment.put_annotation("status", status)
