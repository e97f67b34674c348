"""DelegationVerifier(receiving_tenant_id=...): the receiving API pins its own tenant, so a
token VaultGuard issued for another receiving tenant is refused even when its `aud` matches
(issue 8: audiences were not unique, so `aud` alone did not say whose delegation it was)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from vaultguard import DelegationVerifier, InvalidDelegationToken, JWKSCache

from examples.natsupply_api.app import build_verifier
from tests.sdk._tokens import AUDIENCE, ISSUER, StubJWKS, token, verifier


def test_pinned_verifier_accepts_its_own_tenants_token() -> None:
    pinned = verifier(receiving_tenant_id="natsupply")
    assert pinned.verify(token(receiving_tenant_id="natsupply")).receiving_tenant_id == "natsupply"


def test_pinned_verifier_refuses_another_receiving_tenant_with_the_same_audience() -> None:
    forged = token(aud=AUDIENCE, receiving_tenant_id="evil", scope="admin.access")
    assert verifier().verify(forged).receiving_tenant_id == "evil"  # unpinned: aud alone passes
    with pytest.raises(InvalidDelegationToken) as exc:
        verifier(receiving_tenant_id="natsupply").verify(forged, action="admin.access")
    assert exc.value.reason == "wrong_tenant"


@pytest.mark.parametrize(
    ("claimed", "reason"),
    [
        ("NatSupply", "wrong_tenant"),
        ("natsupply ", "wrong_tenant"),
        ("", "invalid_claim"),
        (None, "missing_claim"),
        (7, "invalid_claim"),
        (["natsupply"], "invalid_claim"),
    ],
)
def test_pin_is_exact(claimed: object, reason: str) -> None:
    with pytest.raises(InvalidDelegationToken) as exc:
        verifier(receiving_tenant_id="natsupply").verify(token(receiving_tenant_id=claimed))
    assert exc.value.reason == reason


@pytest.mark.parametrize("bad", ["", "  ", 7])
def test_constructor_refuses_an_empty_pin(bad: object) -> None:
    with pytest.raises(ValueError):
        DelegationVerifier(ISSUER, AUDIENCE, receiving_tenant_id=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("source", ["environment", "local.json"])
def test_natsupply_example_pins_its_tenant(tmp_path: Path, source: str) -> None:
    if source == "environment":
        env = {
            "VAULTGUARD_API_URL": ISSUER,
            "NATSUPPLY_AUDIENCE": AUDIENCE,
            "NATSUPPLY_TENANT_ID": "natsupply",
        }
    else:
        env = {}
        natsupply = {"tenant_id": "natsupply", "audience": AUDIENCE}
        state = {"api_url": ISSUER, "tenants": {"natsupply": natsupply}}
        (tmp_path / "local.json").write_text(json.dumps(state))
    built = build_verifier(env, tmp_path)
    assert built.receiving_tenant_id == "natsupply"
    assert built.status_lists is not None  # revocations refused offline (tested in test_demo)
    built.status_lists = None  # these tokens name no status list
    built.jwks = JWKSCache(f"{ISSUER}/.well-known/jwks.json", fetch=StubJWKS())
    assert built.verify(token()).receiving_tenant_id == "natsupply"
    with pytest.raises(InvalidDelegationToken) as exc:
        built.verify(token(receiving_tenant_id="evil"))
    assert exc.value.reason == "wrong_tenant"
