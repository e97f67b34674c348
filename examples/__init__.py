"""Runnable examples: NatSupply's LMIS (`natsupply_api`), MediCore's agent (`medicore_agent`)
and the demo that runs the two against VaultGuard (`python -m examples.demo`, `make demo`)."""
