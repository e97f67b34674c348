"""Table definitions, shared by the local stack, the tests and `infra/`."""

from __future__ import annotations

from typing import Any

from chalicelib.config import Settings


def _gsi(name: str, hash_key: str, range_key: str | None = None) -> dict[str, Any]:
    keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        keys.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return {"IndexName": name, "KeySchema": keys, "Projection": {"ProjectionType": "KEYS_ONLY"}}


def main_table(name: str) -> dict[str, Any]:
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": n, "AttributeType": t}
            for n, t in (
                ("pk", "S"),
                ("sk", "S"),
                ("cred_client_id", "S"),
                ("expiry_bucket", "S"),
                ("expiry_at", "N"),
            )
        ],
        "GlobalSecondaryIndexes": [
            _gsi("client_id-index", "cred_client_id"),
            _gsi("expiry-index", "expiry_bucket", "expiry_at"),
        ],
    }


def audit_table(name: str) -> dict[str, Any]:
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }


def ensure_tables(settings: Settings, client: Any) -> list[str]:
    """Create the tables that do not exist yet (and enable TTL); the names created."""
    existing = set(client.list_tables().get("TableNames", []))
    created = []
    for definition in (main_table(settings.table_name), audit_table(settings.audit_table_name)):
        if definition["TableName"] in existing:
            continue
        client.create_table(**definition)
        client.get_waiter("table_exists").wait(TableName=definition["TableName"])
        created.append(definition["TableName"])
    ttl_spec = {"Enabled": True, "AttributeName": "ttl"}
    if settings.table_name in created:
        client.update_time_to_live(TableName=settings.table_name, TimeToLiveSpecification=ttl_spec)
    return created
