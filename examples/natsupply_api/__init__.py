"""NatSupply's LMIS: a small FastAPI app whose routes each need one VaultGuard delegation."""
