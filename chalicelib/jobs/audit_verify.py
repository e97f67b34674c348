"""Validate a tenant's audit export against its signed hour digests (see audit_digest).

Reports export objects changed (SHA-256 differs), missing (listed in a digest, gone),
unexpected (present, in no digest), broken chain links and bad digest signatures.

    .venv/bin/python -m chalicelib.jobs.audit_verify --tenant <id> [--since <iso8601>]
    make audit-verify TENANT=<id> [SINCE=...]

Where it reads: real S3 (the configured bucket and endpoint) when an AWS endpoint is
configured or the stage is not `local`; otherwise the local stack's persisted mirror of its
bucket, `<state dir>/s3/<bucket>/`, which `make run` refreshes after every export and at
exit, so it works whether or not the local server is running (`--source` overrides).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.jobs.audit_digest import (
    check_signature,
    digest_key,
    hour_of_digest_key,
    parse,
    tenant_digest_prefix,
)
from chalicelib.jobs.audit_export import EXPORT_PREFIX
from chalicelib.jobs.objects import ObjectStore, sha256_hex
from chalicelib.tokens.detached import DetachedSignatureError
from chalicelib.tokens.jwks import KeySet

_EXPORT_HOUR = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/(\d{2})-[^/]+$")


@dataclass
class VerifyReport:
    tenant_id: str
    since_hour: str | None
    digests_checked: int = 0
    objects_checked: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    broken_links: list[str] = field(default_factory=list)
    bad_signatures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        problems = (self.changed, self.missing, self.unexpected, self.broken_links, self.bad_signatures)
        return not any(problems)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def since_hour(since: str | None) -> str | None:
    """`--since` as the first hour it covers ("yyyy-mm-ddThh", UTC)."""
    if not since:
        return None
    instant = datetime.fromisoformat(since)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H")


def export_hour(key: str) -> str | None:
    match = _EXPORT_HOUR.search(key)
    return f"{match.group(1)}T{match.group(2)}" if match else None


def _expected_link(store: ObjectStore, hours: list[str], index: int, tenant_id: str) -> dict[str, str] | None:
    if index == 0:
        return None
    key = digest_key(tenant_id, hours[index - 1])
    raw = store.get(key)
    return {"key": key, "sha256": sha256_hex(raw)} if raw is not None else None


def _check_digest(
    store: ObjectStore, keys: KeySet, report: VerifyReport, key: str, hour: str
) -> dict[str, Any] | None:
    raw = store.get(key)
    if raw is None:
        report.broken_links.append(f"{key}: disappeared while verifying")
        return None
    try:
        doc = parse(raw)
    except ValueError:
        report.bad_signatures.append(f"{key}: not a digest document")
        return None
    try:
        check_signature(keys, doc)
    except DetachedSignatureError as exc:
        report.bad_signatures.append(f"{key}: {exc}")
    if doc.get("tenant_id") != report.tenant_id or doc.get("hour") != hour:
        report.bad_signatures.append(f"{key}: names another tenant or hour")
    return doc


def _check_objects(store: ObjectStore, report: VerifyReport, doc: dict[str, Any], covered: set[str]) -> None:
    for entry in doc.get("objects", []):
        key = str(entry.get("key"))
        covered.add(key)
        report.objects_checked += 1
        body = store.get(key)
        if body is None:
            report.missing.append(key)
        elif sha256_hex(body) != entry.get("sha256") or len(body) != entry.get("size"):
            report.changed.append(key)


def verify_tenant(store: ObjectStore, keys: KeySet, tenant_id: str, since: str | None = None) -> VerifyReport:
    """Check every digest from `since` (all when None), its chain link and its objects."""
    report = VerifyReport(tenant_id, since_hour(since))
    start = report.since_hour or ""
    hours = sorted(hour_of_digest_key(o.key) for o in store.list(tenant_digest_prefix(tenant_id)))
    covered: set[str] = set()
    for index, hour in enumerate(hours):
        if hour < start:
            continue
        key = digest_key(tenant_id, hour)
        doc = _check_digest(store, keys, report, key, hour)
        if doc is None:
            continue
        report.digests_checked += 1
        expected = _expected_link(store, hours, index, tenant_id)
        if doc.get("previous_digest") != expected:
            report.broken_links.append(f"{key}: previous_digest {doc.get('previous_digest')} != {expected}")
        _check_objects(store, report, doc, covered)
    for obj in store.list(f"{EXPORT_PREFIX}/tenant={tenant_id}/"):
        obj_hour = export_hour(obj.key)
        if obj.key not in covered and (obj_hour is None or obj_hour >= start):
            report.unexpected.append(obj.key)
    return report


def _store(source: str) -> ObjectStore:
    from chalicelib.config import get_settings
    from chalicelib.jobs.objects import DirectoryObjectStore, S3ObjectStore
    from chalicelib.services.container import get_container

    settings = get_settings()
    if source == "auto":
        source = "s3" if settings.aws_endpoint or settings.stage != "local" else "mirror"
    if source == "mirror":
        return DirectoryObjectStore(settings.state_dir / "s3" / settings.audit_bucket)
    return S3ObjectStore(settings.audit_bucket, get_container().s3_client)


def _print(report: VerifyReport) -> None:
    counts = f"{report.digests_checked} digests, {report.objects_checked} objects checked"
    print(f"tenant {report.tenant_id}: {counts}")
    for name in ("changed", "missing", "unexpected", "broken_links", "bad_signatures"):
        for item in getattr(report, name):
            print(f"  {name.upper()}: {item}")
    print("OK: the audit export matches its signed digests" if report.ok else "FAILED: see above")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.jobs.audit_verify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--since", help="ISO-8601 instant; digests from its hour on")
    parser.add_argument("--source", choices=("auto", "s3", "mirror"), default="auto")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    from chalicelib.services.container import get_container

    try:
        report = verify_tenant(_store(args.source), get_container().keys, args.tenant, args.since)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
