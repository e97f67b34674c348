"""The token vault's provider side: presets (`providers`), the OAuth client that talks to a
provider's token and revocation endpoints (`client`) and its one HTTP transport (`transport`).
The use cases are in `chalicelib/services/vault.py`, the records in `store/connections.py`."""
