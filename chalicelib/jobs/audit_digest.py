"""Tamper evidence for the audit export, after CloudTrail's log file integrity validation.

Per tenant and hour, `s3://<bucket>/digests/tenant=<id>/<yyyy-mm-dd>T<hh>.json`:

    {"tenant_id", "hour", "objects": [{"key", "sha256", "size"}],
     "previous_digest": {"key", "sha256"} | null, "signing_kid", "signature"}

`signature` is a detached compact JWS (RFC 7515 Appendix F, `typ` "vg-digest+jwt", RS256,
VaultGuard's token signing key, verifiable with the public JWKS) over the canonical JSON
(sorted keys, no whitespace) of every other field. `previous_digest` names the tenant's
closest earlier hour digest and the SHA-256 of its bytes, so the digests form a chain.

Objects of one hour can arrive in several batches, so an hour's digest is rewritten: its
entries are those of the existing digest (whose signature is checked first: a digest that
does not verify is never re-signed, which would launder tampering) plus the objects this
batch wrote, hashed from the bytes written rather than read back from S3. Rewriting an hour
that already has later digests re-links those, in order, until the chain agrees again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.jobs.objects import ObjectStore, check_key, sha256_hex
from chalicelib.tokens.detached import DetachedSignatureError, sign_detached, verify_detached
from chalicelib.tokens.jwks import KeySet
from chalicelib.tokens.signer import Signer

DIGEST_PREFIX = "digests"
DIGEST_TYP = "vg-digest+jwt"
CONTENT_TYPE = "application/json"


class DigestTampered(Exception):
    """An existing digest does not verify; the export refuses to re-sign it."""


@dataclass(frozen=True)
class WrittenObject:
    key: str
    tenant_id: str
    hour: str
    sha256: str
    size: int


def tenant_digest_prefix(tenant_id: str) -> str:
    return f"{DIGEST_PREFIX}/tenant={tenant_id}/"


def digest_key(tenant_id: str, hour: str) -> str:
    return check_key(f"{tenant_digest_prefix(tenant_id)}{hour}.json")


def hour_of_digest_key(key: str) -> str:
    return key.rsplit("/", 1)[-1].removesuffix(".json")


def signed_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """Everything the signature covers: the document without `signature`."""
    return {k: v for k, v in doc.items() if k != "signature"}


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, indent=2).encode("utf-8") + b"\n"


def parse(raw: bytes) -> dict[str, Any]:
    """The digest document, or ValueError when it is not one."""
    doc = json.loads(raw)
    if not isinstance(doc, dict) or not isinstance(doc.get("objects"), list):
        raise ValueError("not a digest document")
    return doc


def check_signature(keys: KeySet, doc: dict[str, Any]) -> None:
    """Raise DetachedSignatureError unless `doc` is signed by one of our keys."""
    kid = verify_detached(keys, signed_fields(doc), str(doc.get("signature", "")), typ=DIGEST_TYP)
    if doc.get("signing_kid") != kid:
        raise DetachedSignatureError("signing_kid does not match the signature")


class DigestWriter:
    """(Re)writes hour digests after an export batch."""

    def __init__(self, store: ObjectStore, signer: Callable[[], Signer], keys: Callable[[], KeySet]) -> None:
        self._store = store
        self._signer = signer
        self._keys = keys

    def record(self, written: Iterable[WrittenObject]) -> None:
        by_tenant: dict[str, dict[str, list[WrittenObject]]] = {}
        for obj in written:
            by_tenant.setdefault(obj.tenant_id, {}).setdefault(obj.hour, []).append(obj)
        for tenant_id in sorted(by_tenant):
            self._refresh_tenant(tenant_id, by_tenant[tenant_id])

    def _load_trusted(self, key: str) -> tuple[dict[str, Any], bytes] | None:
        raw = self._store.get(key)
        if raw is None:
            return None
        try:
            doc = parse(raw)
            check_signature(self._keys(), doc)
        except (ValueError, DetachedSignatureError) as exc:
            raise DigestTampered(f"{key}: {exc}") from exc
        return doc, raw

    def _refresh_tenant(self, tenant_id: str, changed: dict[str, list[WrittenObject]]) -> None:
        existing = {hour_of_digest_key(o.key) for o in self._store.list(tenant_digest_prefix(tenant_id))}
        hours = sorted(existing | set(changed))
        start = hours.index(min(changed))
        previous = self._link(tenant_id, hours[start - 1]) if start > 0 else None
        last_changed = max(changed)
        for hour in hours[start:]:
            key = digest_key(tenant_id, hour)
            current = self._load_trusted(key)
            if hour > last_changed and current is not None and current[0].get("previous_digest") == previous:
                return  # the rest of the chain already links here
            entries = {e["key"]: e for e in (current[0]["objects"] if current else [])}
            for obj in changed.get(hour, []):
                entries[obj.key] = {"key": obj.key, "sha256": obj.sha256, "size": obj.size}
            raw = self._write(tenant_id, hour, sorted(entries.values(), key=lambda e: e["key"]), previous)
            previous = {"key": key, "sha256": sha256_hex(raw)}

    def _link(self, tenant_id: str, hour: str) -> dict[str, str] | None:
        key = digest_key(tenant_id, hour)
        raw = self._store.get(key)
        return {"key": key, "sha256": sha256_hex(raw)} if raw is not None else None

    def _write(
        self, tenant_id: str, hour: str, objects: list[dict[str, Any]], previous: dict[str, str] | None
    ) -> bytes:
        signer = self._signer()
        doc: dict[str, Any] = {
            "tenant_id": tenant_id,
            "hour": hour,
            "objects": objects,
            "previous_digest": previous,
            "signing_kid": signer.kid,
        }
        doc["signature"] = sign_detached(signer, doc, typ=DIGEST_TYP)
        raw = encode(doc)
        self._store.put(digest_key(tenant_id, hour), raw, CONTENT_TYPE)
        return raw
