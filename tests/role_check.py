"""Are the AWS calls a route (or job) made allowed by the role `infra/package.py` builds for it?

The recording comes from `tests/aws_calls.py`; a call labelled `METHOD /path/{template}` is
checked against `statements_for(permissions_for(METHOD, path))`, a job's (labelled with its
function name, e.g. `ExpireDelegations`) against its own statements. The statements' logical
ids (MainTable, AuditTable, AuditBucket, SigningKey, DataKey) become the ARNs of the tables,
bucket and keys named by the settings in effect when the call was made.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.api import _permissions
from chalicelib.api._lambda import PREFLIGHT_METHOD
from chalicelib.config import Settings, get_settings
from infra import package
from tests import aws_calls
from tests.aws_calls import Access, AwsCall

Json = dict[str, Any]

# The jobs' labels are their function names (app.py's handlers, as chalice names them).
JOB_STATEMENTS: Mapping[str, Callable[[], list[Json]]] = {
    package.CLEANUP: lambda: package.statements_for(package.CLEANUP_NEEDS),
    package.VAULT_REFRESH: lambda: package.statements_for(package.VAULT_REFRESH_NEEDS),
    package.EXPORT: lambda: list(package.EXPORT_STATEMENTS),
    package.WEBHOOKS: lambda: list(package.WEBHOOK_STATEMENTS),
}


@dataclass(frozen=True)
class Names:
    """What the logical ids of the template stand for in a test stack."""

    region: str
    table: str
    audit_table: str
    bucket: str
    signing_key: str | None
    data_key: str | None

    @classmethod
    def of(cls, settings: Settings) -> Names:
        return cls(
            settings.aws_region,
            settings.table_name,
            settings.audit_table_name,
            settings.audit_bucket,
            settings.kms_key_id if settings.signer == "kms" else None,
            settings.kms_data_key_id if settings.encryptor == "kms" else None,
        )

    def arn(self, logical_id: str, attribute: str = "Arn") -> str:
        """The ARN a `Fn::GetAtt` stands for; an unmatchable placeholder for anything else."""
        r = self.region
        if attribute == "StreamArn" and logical_id == package.AUDIT:
            return aws_calls.table_arn(r, self.audit_table) + "/stream/*"
        if attribute != "Arn":
            return f"<{logical_id}.{attribute}>"
        known = {
            package.MAIN: aws_calls.table_arn(r, self.table),
            package.AUDIT: aws_calls.table_arn(r, self.audit_table),
            package.BUCKET: aws_calls.arn("s3", r, self.bucket),
            package.SIGNING_KEY: aws_calls.key_arn(r, self.signing_key) if self.signing_key else None,
            package.DATA_KEY: aws_calls.key_arn(r, self.data_key) if self.data_key else None,
        }
        return known.get(logical_id) or f"<{logical_id}>"


def current_names() -> Mapping[str, Any]:
    """`record(context=current_names)`: the names in effect at each call."""
    try:
        return {"names": Names.of(get_settings())}
    except ValueError:  # a test that configures a broken stage on purpose
        return {}


def resolve(resource: Any, names: Names) -> str:
    if resource == "*" or isinstance(resource, str):
        return str(resource)
    if "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        return names.arn(logical_id, attribute)
    if "Fn::Sub" in resource:
        return re.sub(
            r"\$\{([A-Za-z0-9]+)(?:\.([A-Za-z]+))?\}",
            lambda m: names.arn(m.group(1), m.group(2) or "Arn") if m.group(2) else f"<{m.group(1)}>",
            resource["Fn::Sub"],
        )
    return f"<{resource}>"


def _conditions_hold(condition: Mapping[str, Mapping[str, Any]], access: Access) -> bool:
    keys: dict[str, list[str]] = {}
    for key, value in access.conditions:  # a multi-valued key (dynamodb:Attributes) repeats
        keys.setdefault(key, []).append(value)
    for operator, tests in condition.items():
        for key, wanted in tests.items():
            patterns = wanted if isinstance(wanted, list) else [wanted]
            if key not in keys:
                return False
            values = keys[key]
            if operator == "StringLike" and len(values) == 1:
                if not any(fnmatch.fnmatchcase(values[0], p) for p in patterns):
                    return False
            elif operator == "StringEquals" and len(values) == 1:
                if values[0] not in patterns:
                    return False
            elif operator == "ForAllValues:StringEquals":
                if not all(v in patterns for v in values):
                    return False
            else:
                return False  # an operator this check does not know: not proven allowed
    return True


def allows(statements: Iterable[Json], access: Access, names: Names) -> bool:
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if not any(fnmatch.fnmatchcase(access.action, a) for a in actions):
            continue
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if not any(fnmatch.fnmatchcase(access.resource, resolve(r, names)) for r in resources):
            continue
        if _conditions_hold(statement.get("Condition", {}), access):
            return True
    return False


def statements_of(label: str) -> list[Json]:
    """The statements of the role that serves `label`; KeyError for a route without a
    declaration. Every preflight runs in the shared function whose role has none."""
    if label in JOB_STATEMENTS:
        return JOB_STATEMENTS[label]()
    method, path = label.split(" ", 1)
    if method == PREFLIGHT_METHOD:
        return []
    return package.statements_for(_permissions.permissions_for(method, path))


def violations(
    calls: Iterable[AwsCall], statements: Callable[[str], list[Json]] = statements_of
) -> list[str]:
    """One line per (label, action, resource) a labelled call needed and its role lacks."""
    found: dict[tuple[str, str, str], str] = {}
    for call in calls:
        if call.label is None:
            continue
        try:
            allowed = statements(call.label)
        except KeyError:
            found[(call.label, "", "")] = f"{call.label}: no permissions declared for it"
            continue
        names = call.context.get("names") or Names.of(Settings())
        for access in call.accesses:
            if not allows(allowed, access, names):
                key = (call.label, access.action, access.resource)
                found.setdefault(
                    key, f"{call.label}: {access.action} on {access.resource} ({call.operation})"
                )
    return sorted(found.values())


def routes() -> set[str]:
    """Every route of the app that runs in a function of its own (preflights excluded)."""
    from app import app

    return {f"{m} {p}" for p, by_method in app.routes.items() for m in by_method if m != PREFLIGHT_METHOD}


@contextlib.contextmanager
def jobs_labelled() -> Iterator[None]:
    """Calls made by the jobs' entry points carry the job's function name."""
    from chalicelib.jobs.audit_export import AuditExporter
    from chalicelib.jobs.cleanup import CleanupJob
    from chalicelib.jobs.vault_refresh import VaultRefreshJob
    from chalicelib.jobs.webhook_delivery import StreamDelivery

    undo = [
        aws_calls.attributing(CleanupJob, "run", package.CLEANUP),
        aws_calls.attributing(VaultRefreshJob, "run", package.VAULT_REFRESH),
        aws_calls.attributing(AuditExporter, "handle", package.EXPORT),
        aws_calls.attributing(StreamDelivery, "handle", package.WEBHOOKS),
    ]
    try:
        yield
    finally:
        for step in reversed(undo):
            step()


@contextlib.contextmanager
def recording() -> Iterator[aws_calls.Recording]:
    """Record with the stack's names and the jobs labelled."""
    with jobs_labelled(), aws_calls.record(context=current_names) as calls:
        yield calls
