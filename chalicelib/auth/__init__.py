"""Caller authentication: client secrets and bearer tokens -> Principal and TenantScope."""
