"""NatSupply's LMIS (logistics management information system), as a receiving API.

Each route is protected in one line: `Depends(require_delegation(verifier, "<action>"))`
verifies the delegation token offline (signature against VaultGuard's JWKS, issuer, audience
= NatSupply's, receiving tenant = NatSupply, `typ`, expiry) and checks that its scope is that
action. A DPoP-bound token (`cnf.jkt`) is taken only as `Authorization: DPoP` with a fresh
proof by its key for this very request, so a copy of the token alone is useless; a revoked
delegation is refused from VaultGuard's status list, which the verifier refreshes in the
background (every 2 s at most): no call to VaultGuard per request. `GET /activity` counts the
calls NatSupply made to VaultGuard (JWKS and status lists) so that the demo can show it.
The store is in memory; every change records which agent of which tenant made it, under
which delegation.
"""

# No `from __future__ import annotations` here: FastAPI reads each route's Annotated[...,
# Depends(require_delegation(verifier, ...))] from the live annotation, and `verifier` is local
# to create_app, which a string annotation could not see.
import os
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import requests
from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field
from vaultguard import DelegationVerifier, JWKSCache, StatusLists, VerifiedDelegation
from vaultguard.adapters.fastapi import require_delegation

from examples import local_state

AUDIENCE_ENV = "NATSUPPLY_AUDIENCE"
TENANT_ID_ENV = "NATSUPPLY_TENANT_ID"


class StockUpdate(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity_delta: int = Field(ge=-100_000, le=100_000)
    reason: str = Field(default="", max_length=200)


class RequisitionLine(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=100_000)


class Requisition(BaseModel):
    reference: str = Field(min_length=1, max_length=64)
    lines: list[RequisitionLine] = Field(min_length=1, max_length=50)
    deliver_to: str = Field(default="", max_length=200)


@dataclass(frozen=True)
class Activity:
    """One thing a delegated agent did here (what `GET /activity` lists)."""

    at: str
    action: str
    delegation_id: str
    agent_id: str
    requesting_tenant_id: str
    summary: str


@dataclass
class Ledger:
    """The in-memory LMIS: stock on hand, submitted requisitions, and who did what."""

    stock: dict[str, int] = field(default_factory=lambda: {"GLV-NITRILE-M": 1200, "SYR-5ML": 800})
    requisitions: list[dict[str, Any]] = field(default_factory=list)
    activity: list[Activity] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, who: VerifiedDelegation, action: str, summary: str) -> Activity:
        entry = Activity(
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            action=action,
            delegation_id=who.delegation_id,
            agent_id=who.agent_id,
            requesting_tenant_id=who.requesting_tenant_id,
            summary=summary,
        )
        self.activity.append(entry)
        return entry


class CountingSession(requests.Session):
    """The verifier's HTTP session: counts each call NatSupply makes to VaultGuard, by path."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {}

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        path = urlsplit(url if isinstance(url, str) else url.decode()).path
        with self._lock:
            self.calls[path] = self.calls.get(path, 0) + 1
        return super().request(method, url, *args, **kwargs)

    def counted(self) -> dict[str, int]:
        with self._lock:
            return dict(self.calls)


def _by(who: VerifiedDelegation) -> dict[str, str]:
    return {
        "agent_id": who.agent_id,
        "requesting_tenant_id": who.requesting_tenant_id,
        "delegation_id": who.delegation_id,
    }


def create_app(
    verifier: DelegationVerifier, ledger: Ledger | None = None, calls: CountingSession | None = None
) -> FastAPI:
    """The LMIS, checking delegation tokens with `verifier` (issuer, NatSupply's audience and
    NatSupply's tenant id); `calls`, the verifier's session, if its calls are to be shown."""
    app = FastAPI(title="NatSupply LMIS", version="1.0")
    app.state.ledger = store = ledger or Ledger()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/activity")
    def activity() -> dict[str, Any]:
        """What delegated agents did here, oldest first. Demo only and unauthenticated (the demo
        and its test read it); the server binds to 127.0.0.1 by default."""
        with store.lock:
            listed = [asdict(a) for a in store.activity]
        return {"activity": listed, "vaultguard_calls": calls.counted() if calls is not None else None}

    @app.get("/stock/{sku}")
    def stock_level(
        sku: str,
        who: Annotated[VerifiedDelegation, Depends(require_delegation(verifier, "stock.write"))],
    ) -> dict[str, Any]:
        """On hand for one SKU, for an agent delegated stock.write (it may read what it
        writes); a read, so not recorded as activity."""
        with store.lock:
            if sku not in store.stock:
                raise HTTPException(404, detail={"error": "not_found", "error_description": "unknown SKU"})
            return {"result": "stock level", "sku": sku, "on_hand": store.stock[sku], "by": _by(who)}

    @app.post("/stock", status_code=201)
    def update_stock(
        update: StockUpdate,
        who: Annotated[VerifiedDelegation, Depends(require_delegation(verifier, "stock.write"))],
    ) -> dict[str, Any]:
        with store.lock:
            on_hand = store.stock.get(update.sku, 0) + update.quantity_delta
            if on_hand < 0:
                on_hand = 0
            store.stock[update.sku] = on_hand
            entry = store.record(
                who, "stock.write", f"{update.sku} {update.quantity_delta:+d} (now {on_hand})"
            )
        return {
            "result": "stock updated",
            "sku": update.sku,
            "on_hand": on_hand,
            "by": _by(who),
            "message": f"agent {who.agent_id} of tenant {who.requesting_tenant_id}: {entry.summary}",
        }

    @app.post("/requisitions", status_code=201)
    def submit_requisition(
        requisition: Requisition,
        who: Annotated[VerifiedDelegation, Depends(require_delegation(verifier, "requisition.submit"))],
    ) -> dict[str, Any]:
        with store.lock:
            requisition_id = f"RQ-{len(store.requisitions) + 1:05d}"
            store.requisitions.append(
                {"requisition_id": requisition_id, **requisition.model_dump(), "by": _by(who)}
            )
            units, lines = sum(line.quantity for line in requisition.lines), len(requisition.lines)
            entry = store.record(
                who,
                "requisition.submit",
                f"{requisition_id} ({requisition.reference}: {units} units on {lines} line(s))",
            )
        return {
            "result": "requisition submitted",
            "requisition_id": requisition_id,
            "reference": requisition.reference,
            "by": _by(who),
            "message": f"agent {who.agent_id} of tenant {who.requesting_tenant_id}: {entry.summary}",
        }

    @app.get("/admin")
    def admin_console(
        who: Annotated[VerifiedDelegation, Depends(require_delegation(verifier, "admin.access"))],
    ) -> dict[str, Any]:
        with store.lock:
            store.record(who, "admin.access", "opened the admin console")
            return {"result": "admin console", "stock": dict(store.stock), "by": _by(who)}

    return app


def build_verifier(
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
    session: requests.Session | None = None,
) -> DelegationVerifier:
    """Issuer = VaultGuard's URL (`VAULTGUARD_API_URL` or local.json's api_url); audience =
    `NATSUPPLY_AUDIENCE` or local.json's tenants.natsupply.audience; the receiving tenant is
    pinned to `NATSUPPLY_TENANT_ID` or local.json's tenants.natsupply.tenant_id, so a token
    VaultGuard issued for any other tenant is refused even if its `aud` were NatSupply's.
    Revocations come from VaultGuard's status lists (`status_list`), refreshed in the
    background; `session` makes the verifier's calls (JWKS and status lists)."""
    env = os.environ if environ is None else environ
    state: dict[str, Any] | None = None
    if not all(env.get(name) for name in (local_state.API_URL_ENV, AUDIENCE_ENV, TENANT_ID_ENV)):
        state = local_state.load_state(state_dir, env)
    natsupply = local_state.tenant(state, "natsupply") if state else {}
    issuer = local_state.api_url(state, env)
    jwks = JWKSCache(f"{issuer}/.well-known/jwks.json", session=session)
    return DelegationVerifier(
        issuer=issuer,
        audience=env.get(AUDIENCE_ENV) or str(natsupply["audience"]),
        receiving_tenant_id=env.get(TENANT_ID_ENV) or str(natsupply["tenant_id"]),
        jwks=jwks,
        status_list=StatusLists(issuer, jwks, session=session),
    )
