"""Pure VaultGuard logic: no chalice, boto3 or pynamodb imports."""
