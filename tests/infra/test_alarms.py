"""The packaged template's alarms (infra/alarms.py): each one on what the brief names, all to
the one topic, found from the template so that a new job or on-failure queue is watched too;
the failed-authentication alarm watches the metric the app actually emits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import observability
from infra import alarms
from tests.infra.conftest import deployed, resources

Json = dict[str, Any]


def _alarms(template: Json) -> dict[str, Json]:
    return {k: v["Properties"] for k, v in resources(template, "AWS::CloudWatch::Alarm").items()}


def _dims(alarm: Json) -> Json:
    return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


def test_every_alarm_notifies_the_topic_and_email_is_optional(template: Json) -> None:
    found = _alarms(template)
    assert len(found) >= 6
    for name, alarm in found.items():
        assert alarm["AlarmActions"] == [{"Ref": alarms.TOPIC}] == alarm["OKActions"], name
        assert alarm["AlarmDescription"], name
    subscription = template["Resources"][alarms.SUBSCRIPTION]
    assert subscription["Condition"] == alarms.HAS_EMAIL
    assert subscription["Properties"]["Endpoint"] == {"Ref": alarms.EMAIL}
    assert template["Parameters"][alarms.EMAIL]["Default"] == ""
    assert template["Conditions"][alarms.HAS_EMAIL] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": alarms.EMAIL}, ""]}]
    }


def test_the_5xx_alarm_is_the_rate_of_5xx_answers_of_the_api_stage(template: Json) -> None:
    alarm = _alarms(template)[alarms.API_5XX]
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    api = template["Resources"]["RestAPI"]["Properties"]
    stage = {"ApiName": api["DefinitionBody"]["info"]["title"], "Stage": api["StageName"]}
    assert queries["errors"]["MetricStat"]["Metric"]["MetricName"] == "5XXError"
    assert queries["requests"]["MetricStat"]["Metric"]["MetricName"] == "Count"
    for id_ in ("errors", "requests"):
        assert _dims(queries[id_]["MetricStat"]["Metric"]) == stage
    (returned,) = [q for q in alarm["Metrics"] if q["ReturnData"]]
    assert "errors / requests" in returned["Expression"]
    assert 0 < alarm["Threshold"] < 1


def test_throttles_of_any_function_and_the_audit_exports_lag_raise_alarms(template: Json) -> None:
    found = _alarms(template)
    throttles = found[alarms.THROTTLES]
    assert (throttles["Namespace"], throttles["MetricName"], throttles["Dimensions"]) == (
        "AWS/Lambda",
        "Throttles",
        [],
    )
    lag = found[alarms.EXPORT_LAG]
    assert (lag["MetricName"], lag["Statistic"]) == ("IteratorAge", "Maximum")
    assert _dims(lag) == {"FunctionName": {"Ref": "ExportAuditEvents"}}


def test_every_on_failure_queue_has_a_depth_alarm(template: Json) -> None:
    queues = alarms.on_failure_queues(template["Resources"])
    assert "AuditExportFailures" in queues
    found = _alarms(template)
    for queue in queues:
        alarm = found[f"{queue}DepthAlarm"]
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert _dims(alarm) == {"QueueName": {"Fn::GetAtt": [queue, "QueueName"]}}
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_a_new_functions_on_failure_queue_is_watched_without_a_change() -> None:
    template: Json = {
        "Resources": {
            "RestAPI": {
                "Type": "AWS::Serverless::Api",
                "Properties": {"StageName": "api", "DefinitionBody": {"info": {"title": "t"}}},
            },
            "Later": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Job": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "EventInvokeConfig": {
                        "DestinationConfig": {
                            "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["Later", "Arn"]}}
                        }
                    }
                },
            },
            "Nightly": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Events": {"E": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 day)"}}}
                },
            },
        }
    }
    alarms.add(template, api="RestAPI")
    assert "LaterDepthAlarm" in template["Resources"]
    assert template["Resources"]["NightlyErrorsAlarm"]["Properties"]["Period"] == 86400


def test_every_scheduled_job_alarms_when_two_runs_in_a_row_fail(template: Json) -> None:
    jobs = alarms.scheduled_jobs(template["Resources"])
    assert {"ExpireDelegations": 300, "RefreshIdleVaultConnections": 3600}.items() <= jobs.items()
    found = _alarms(template)
    for job, seconds in jobs.items():
        alarm = found[f"{job}ErrorsAlarm"]
        assert (alarm["MetricName"], alarm["Period"]) == ("Errors", seconds)
        assert _dims(alarm) == {"FunctionName": {"Ref": job}}
        assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 2


@pytest.mark.parametrize(
    ("expression", "seconds"), [("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("cron(0 3 * * ? *)", 300)]
)
def test_schedule_intervals(expression: str, seconds: int) -> None:
    assert alarms.schedule_seconds(expression) == seconds


def test_the_auth_failure_alarm_watches_the_metric_a_failed_authentication_emits(
    template: Json, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    observability.count_auth_failure()
    observability.flush_metrics()
    (blob,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    alarm = _alarms(template)[alarms.AUTH_SPIKE]
    assert directive["Namespace"] == alarm["Namespace"]
    assert alarm["MetricName"] in [m["Name"] for m in directive["Metrics"]]
    assert blob[alarm["MetricName"]] in (1, [1], 1.0)
    # the alarm's dimensions are exactly the blob's (CloudWatch matches on the whole set)
    assert directive["Dimensions"] == [list(_dims(alarm))]
    assert {k: blob[k] for k in _dims(alarm)} == _dims(alarm)
    assert alarm["Threshold"] == {"Ref": alarms.AUTH_THRESHOLD}


def test_the_alarms_survive_the_sam_transform(template: Json) -> None:
    expanded = deployed(template)
    assert set(_alarms(template)) == set(_alarms(expanded))
    assert alarms.TOPIC in expanded["Resources"]
