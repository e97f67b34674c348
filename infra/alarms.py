"""CloudWatch alarms on what an operator must act on, all to one SNS topic (optional email
subscription): the API's 5xx rate, Lambda throttles, the audit export's lag, messages in any
on-failure queue, failing scheduled jobs and spikes of failed client authentications.

The alarms are found from the template (the stage, the scheduled functions, the queues named as
on-failure destinations), so a new job or queue is watched without a change here. What each
alarm means and what to do: infra/README.md.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.observability import AUTH_FAILURES, NAMESPACE, SERVICE

Json = dict[str, Any]

TOPIC, SUBSCRIPTION = "AlarmTopic", "AlarmEmailSubscription"
EMAIL, HAS_EMAIL = "AlarmEmail", "HasAlarmEmail"
AUTH_THRESHOLD = "AuthFailuresAlarmThreshold"
API_5XX, THROTTLES, EXPORT_LAG = "Api5xxRateAlarm", "LambdaThrottlesAlarm", "AuditExportLagAlarm"
AUTH_SPIKE = "AuthFailuresAlarm"
EXPORT = "ExportAuditEvents"

FIVE_MINUTES = 300
API_5XX_RATE = 0.05  # of the requests in five minutes, in 2 of 3 periods
API_MIN_REQUESTS = 20  # fewer requests in five minutes: no rate (one 500 of 3 is not an outage)
EXPORT_LAG_MS = 10 * 60 * 1000  # the stream keeps records 24 h; 10 min behind for 15 min is stuck
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function", "AWS::Lambda::EventInvokeConfig")
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def parameters() -> Json:
    return {
        EMAIL: {
            "Type": "String",
            "Default": "",
            "AllowedPattern": r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$",
            "Description": "where the alarms are mailed (optional; the topic is an output)",
        },
        AUTH_THRESHOLD: {
            "Type": "Number",
            "Default": 100,
            "MinValue": 1,
            "Description": "failed client authentications in 5 minutes (all clients) that raise the alarm",
        },
    }


def _alarm(description: str, **props: Any) -> Json:
    topic = [{"Ref": TOPIC}]
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "ActionsEnabled": True,
            "AlarmActions": topic,
            "OKActions": topic,
            "TreatMissingData": "notBreaching",
            **props,
        },
    }


def _metric(namespace: str, name: str, stat: str, dimensions: Json, period: int = FIVE_MINUTES) -> Json:
    return {
        "Namespace": namespace,
        "MetricName": name,
        "Statistic": stat,
        "Period": period,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
    }


def api_5xx_rate(api_name: str, stage: str) -> Json:
    """Metric math on the stage: 5XXError / Count, when there are enough requests to mean it."""
    dims = [{"Name": "ApiName", "Value": api_name}, {"Name": "Stage", "Value": stage}]

    def stat(id_: str, name: str) -> Json:
        metric = {"Namespace": "AWS/ApiGateway", "MetricName": name, "Dimensions": dims}
        stat = {"Metric": metric, "Period": FIVE_MINUTES, "Stat": "Sum"}
        return {"Id": id_, "MetricStat": stat, "ReturnData": False}

    return _alarm(
        f"More than {API_5XX_RATE:.0%} of the API's answers were 5xx (2 of 3 five-minute periods)",
        Metrics=[
            stat("errors", "5XXError"),
            stat("requests", "Count"),
            {
                "Id": "rate",
                "Label": "5xx rate",
                "Expression": f"IF(requests >= {API_MIN_REQUESTS}, errors / requests, 0)",
                "ReturnData": True,
            },
        ],
        ComparisonOperator="GreaterThanThreshold",
        Threshold=API_5XX_RATE,
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
    )


def schedule_seconds(expression: str) -> int:
    """The interval of a `rate(...)` schedule; five minutes for anything else (cron)."""
    match = _RATE.fullmatch(expression.strip())
    if match is None:
        return FIVE_MINUTES
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def scheduled_jobs(res: Json) -> dict[str, int]:
    """Function logical id -> its schedule's interval in seconds."""
    jobs = {}
    for name, resource in res.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] == "Schedule":
                jobs[name] = schedule_seconds(event["Properties"]["Schedule"])
    return jobs


def on_failure_queues(res: Json) -> list[str]:
    """The SQS queues (logical ids) that any function's event source, async invocation or
    dead-letter setting sends what failed to."""
    found: set[str] = set()

    def visit(node: Any, under_failure: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                failure = under_failure or key in ("OnFailure", "DeadLetterQueue", "DeadLetterConfig")
                if key == "Fn::GetAtt" and under_failure and isinstance(value, list):
                    found.add(value[0])
                else:
                    visit(value, failure)
        elif isinstance(node, list):
            for item in node:
                visit(item, under_failure)

    for resource in res.values():
        if resource["Type"] in FUNCTION_TYPES:
            visit(resource["Properties"], False)
    return sorted(q for q in found if res.get(q, {}).get("Type") == "AWS::SQS::Queue")


def add(template: Json, *, api: str) -> None:
    """Add the topic, its optional email subscription and the alarms to `template` (after the
    functions, queues and the API stage are in it); `api` is the RestApi's logical id."""
    res = template["Resources"]
    template["Parameters"] = {**template.get("Parameters", {}), **parameters()}
    template.setdefault("Conditions", {})[HAS_EMAIL] = {"Fn::Not": [{"Fn::Equals": [{"Ref": EMAIL}, ""]}]}
    res[TOPIC] = {
        "Type": "AWS::SNS::Topic",
        "Properties": {"DisplayName": {"Fn::Sub": "${AWS::StackName} alarms"}},
    }
    res[SUBSCRIPTION] = {
        "Type": "AWS::SNS::Subscription",
        "Condition": HAS_EMAIL,
        "Properties": {"TopicArn": {"Ref": TOPIC}, "Protocol": "email", "Endpoint": {"Ref": EMAIL}},
    }
    rest_api = res[api]["Properties"]
    res[API_5XX] = api_5xx_rate(rest_api["DefinitionBody"]["info"]["title"], rest_api["StageName"])
    res[THROTTLES] = _alarm(
        "A Lambda function of the account and region was throttled (requests refused)",
        **_metric("AWS/Lambda", "Throttles", "Sum", {}),
        ComparisonOperator="GreaterThanThreshold",
        Threshold=0,
        EvaluationPeriods=1,
    )
    if EXPORT in res:
        res[EXPORT_LAG] = _alarm(
            "The audit export is more than 10 minutes behind the audit table's stream (15 minutes)",
            **_metric("AWS/Lambda", "IteratorAge", "Maximum", {"FunctionName": {"Ref": EXPORT}}),
            ComparisonOperator="GreaterThanThreshold",
            Threshold=EXPORT_LAG_MS,
            EvaluationPeriods=3,
        )
    for queue in on_failure_queues(res):
        name = {"Fn::GetAtt": [queue, "QueueName"]}
        res[f"{queue}DepthAlarm"] = _alarm(
            f"{queue} holds what a function gave up on: nothing is retried from there by itself",
            **_metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", {"QueueName": name}),
            ComparisonOperator="GreaterThanThreshold",
            Threshold=0,
            EvaluationPeriods=1,
            TreatMissingData="ignore",  # an idle queue stops reporting: keep the state it had
        )
    for job, seconds in sorted(scheduled_jobs(res).items()):
        period = max(seconds, 60)
        res[f"{job}ErrorsAlarm"] = _alarm(
            f"The scheduled job {job} failed in two runs in a row",
            **_metric("AWS/Lambda", "Errors", "Sum", {"FunctionName": {"Ref": job}}, period=period),
            ComparisonOperator="GreaterThanThreshold",
            Threshold=0,
            EvaluationPeriods=2,
            DatapointsToAlarm=2,
        )
    res[AUTH_SPIKE] = _alarm(
        "Failed client authentications (auth.failed) over the threshold in 5 minutes, all clients",
        **_metric(NAMESPACE, AUTH_FAILURES, "Sum", {"service": SERVICE}),
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Threshold={"Ref": AUTH_THRESHOLD},
        EvaluationPeriods=1,
    )
    template.setdefault("Outputs", {})["AlarmTopicArn"] = {
        "Description": "Subscribe to the alarms here (email: the AlarmEmail parameter)",
        "Value": {"Ref": TOPIC},
    }
