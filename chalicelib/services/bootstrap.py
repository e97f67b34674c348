"""Operator bootstrap: the first platform client, created with AWS credentials directly
(there is no API caller yet). Used by the local stack and by deployment scripts."""

from __future__ import annotations

import time

from chalicelib.domain import ids
from chalicelib.domain.principal import Role
from chalicelib.services.call import commit, iso
from chalicelib.services.container import Container


def create_platform_client(container: Container, subject: str = "operator") -> tuple[str, str]:
    """A new platform operator client; returns (client_id, client_secret), shown once."""
    client_id, secret = ids.new_client_id(None), ids.new_client_secret()
    tx = container.db.transaction()
    container.credential_repo.add(
        tx,
        None,
        client_id=client_id,
        role=Role.PLATFORM,
        subject=subject,
        secret_hash=container.secret_hasher.hash(secret),
        now=iso(time.time()),
    )
    commit(tx)
    return client_id, secret
