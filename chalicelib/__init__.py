"""VaultGuard: a trust broker for agent-to-agent delegations across tenants."""
