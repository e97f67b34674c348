"""The few object-store operations the audit export needs: S3, or a directory mirror of a
bucket (the local stack's persisted copy, which `audit_verify` can read offline)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

_SAFE_KEY = re.compile(r"^[A-Za-z0-9=_.\-/]{1,512}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> str:
    """Keys are built from validated ids only; refuse anything that could escape a prefix."""
    if not _SAFE_KEY.match(key) or ".." in key or key.startswith("/"):
        raise ValueError(f"unsafe object key: {key!r}")
    return key


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


class ObjectStore(Protocol):
    def put(self, key: str, body: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def list(self, prefix: str) -> list[StoredObject]: ...


class S3ObjectStore:
    """One bucket; the boto3 client is built on first use (one per Lambda container)."""

    def __init__(self, bucket: str, client_factory: Callable[[], Any]) -> None:
        self.bucket = bucket
        self._factory = client_factory
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=check_key(key), Body=body, ContentType=content_type)

    def get(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return bytes(response["Body"].read())

    def list(self, prefix: str) -> list[StoredObject]:
        found: list[StoredObject] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(StoredObject(o["Key"], int(o["Size"])) for o in page.get("Contents", []))
        return sorted(found, key=lambda o: o.key)


class DirectoryObjectStore:
    """A bucket mirrored as files: `<root>/<key>`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, body: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> list[StoredObject]:
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix) and not key.endswith(".tmp"):
                found.append(StoredObject(key, path.stat().st_size))
        return sorted(found, key=lambda o: o.key)
