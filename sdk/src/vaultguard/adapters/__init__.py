"""Framework adapters. Each module imports its framework, so import only the one you use:
``vaultguard.adapters.fastapi``, ``vaultguard.adapters.flask``, ``vaultguard.adapters.chalice``,
``vaultguard.adapters.auth`` (requests / httpx)."""
