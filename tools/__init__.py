"""Operator tools that talk to VaultGuard over its public HTTP API (no chalicelib imports)."""
