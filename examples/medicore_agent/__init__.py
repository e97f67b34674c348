"""MediCore's agent: three NatSupply tools, each run under one VaultGuard delegation."""
