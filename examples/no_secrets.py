"""The demo's last two scenes ("No shared secrets" in the README), after the four tasks:

1. A copy of a live delegation token leaks. MediCore's agent holds the DPoP key the token is
   bound to; the thief does not. NatSupply's API refuses the copy as a bearer token, as DPoP
   with a proof by another key, and the agent's own request replayed (token and proof).
2. MediCore's admin revokes the delegation. NatSupply's API, which checks tokens offline,
   refuses it within seconds from VaultGuard's status list, refreshed in the background; the
   demo measures the time and counts NatSupply's calls to VaultGuard meanwhile (none per
   request: only the status list refreshes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
from vaultguard import Delegation, DPoPKey, VaultGuardClient, VaultGuardError

from examples.medicore_agent.narration import Say

SKU = "GLV-NITRILE-M"
REVOCATION_DEADLINE = 5.0  # seconds: the bound for an offline refusal
POLL_EVERY = 0.05
BURST = 20  # requests the agent makes before the revocation, to count VaultGuard calls against


@dataclass(frozen=True)
class Attempt:
    """One request to NatSupply's API and its answer."""

    who: str
    how: str
    status: int
    reason: str | None


@dataclass
class Revocation:
    refused_after: float | None  # seconds from the revocation to the first refusal, None if never
    requests: int  # NatSupply requests the agent made from just before the revocation to the refusal
    vaultguard_calls: dict[str, int]  # NatSupply's calls to VaultGuard meanwhile, by path
    reason: str | None = None


@dataclass
class Scenes:
    attempts: list[Attempt] = field(default_factory=list)
    revocation: Revocation | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The agent's own use accepted, every theft refused, the revocation seen within 5 s."""
        own = [a for a in self.attempts if a.who == "agent"]
        thief = [a for a in self.attempts if a.who == "thief"]
        revocation = self.revocation
        return (
            self.error is None
            and bool(own)
            and own[0].status == 200  # its later request with the revoked token is refused
            and len(thief) == 3
            and all(a.status == 401 for a in thief)
            and revocation is not None
            and revocation.refused_after is not None
            and revocation.refused_after < REVOCATION_DEADLINE
        )


def _reason(reply: httpx.Response) -> str | None:
    try:
        body = reply.json()
    except ValueError:
        return None
    detail = body.get("detail") if isinstance(body, dict) else None
    found = detail.get("reason") or detail.get("error") if isinstance(detail, dict) else None
    return str(found) if found else None


def _calls(http: httpx.Client, natsupply_url: str) -> dict[str, int]:
    reply = http.get(f"{natsupply_url}/activity")
    reply.raise_for_status()
    return dict(reply.json().get("vaultguard_calls") or {})


class NoSecretsScenes:
    def __init__(
        self,
        client: VaultGuardClient,
        natsupply_tenant_id: str,
        natsupply_url: str,
        admin_credentials: tuple[str, str],
        say: Say,
    ) -> None:
        if client.dpop_key is None:
            raise ValueError("the scenes need an agent client with a DPoP key")
        self._client, self._key = client, client.dpop_key
        self._tenant = natsupply_tenant_id
        self._url = natsupply_url.rstrip("/")
        self._admin = admin_credentials
        self._say = say
        self.result = Scenes()

    def run(self) -> Scenes:
        with httpx.Client(timeout=30.0) as http:
            try:
                self._say(
                    "demo",
                    "scene 5, a stolen token: the agent gets a stock.write delegation, and a copy of its "
                    "token leaks (a log, a proxy); the token is DPoP-bound to the agent's key, which never "
                    "leaves the agent",
                )
                delegation = self._client.request_delegation(
                    self._tenant, "stock.write", purpose="stock check (the last two scenes)"
                )
                assert isinstance(delegation, Delegation)  # stock.write is ALLOW
                self._stolen(http, delegation)
                self._revoked(http, delegation)
            except (VaultGuardError, httpx.HTTPError, AssertionError) as exc:
                self.result.error = f"{type(exc).__name__}: {exc}"
                self._say("demo", f"the last scenes failed: {self.result.error}")
        return self.result

    def _record(self, who: str, how: str, reply: httpx.Response) -> Attempt:
        attempt = Attempt(who, how, reply.status_code, _reason(reply))
        self.result.attempts.append(attempt)
        if reply.status_code == 200:
            body = reply.json()
            line = f"200 {body.get('result')}: {body.get('sku')} on hand {body.get('on_hand')}"
        else:
            line = f"refused: HTTP {reply.status_code} {attempt.reason or ''}".rstrip()
        self._say("natsupply-api", f"{line} ({who}, {how})")
        return attempt

    def _own_request(self, http: httpx.Client, token: str) -> tuple[httpx.Response, dict[str, str]]:
        url = f"{self._url}/stock/{SKU}"
        headers = {"Authorization": f"DPoP {token}", "DPoP": self._key.proof("GET", url, access_token=token)}
        return http.get(url, headers=headers), headers

    def _stolen(self, http: httpx.Client, delegation: Delegation) -> None:
        token = delegation.access_token
        reply, captured = self._own_request(http, token)
        self._record("agent", "its token with a proof by its key", reply)
        stock_url = f"{self._url}/stock"
        theft = {"sku": SKU, "quantity_delta": -500, "reason": "not MediCore"}
        self._say("thief", "tries the copy on NatSupply's API without the key")
        bearer = http.post(stock_url, json=theft, headers={"Authorization": f"Bearer {token}"})
        self._record("thief", "as a bearer token", bearer)
        proof = DPoPKey().proof("POST", stock_url, access_token=token)  # the thief's own key
        forged = http.post(stock_url, json=theft, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        self._record("thief", "as DPoP with a proof by another key", forged)
        replay = http.get(f"{self._url}/stock/{SKU}", headers=captured)
        self._record("thief", "replaying the agent's request, its proof included", replay)

    def _revoked(self, http: httpx.Client, delegation: Delegation) -> None:
        token = delegation.access_token
        self._say(
            "demo",
            f"scene 6, a revocation: MediCore revokes delegation {delegation.delegation_id} while the agent "
            "keeps using it; NatSupply's API checks tokens offline (no call to VaultGuard per request)",
        )
        before = _calls(http, self._url)
        accepted = sum(self._own_request(http, token)[0].status_code == 200 for _ in range(BURST))
        self._say("natsupply-api", f"{accepted}/{BURST} requests by the agent accepted, each checked offline")
        self._revoke_as_admin(http, delegation.delegation_id)
        revoked_at = time.monotonic()
        requests_made, refused_after, reason = BURST, None, None
        while time.monotonic() - revoked_at < 2 * REVOCATION_DEADLINE:
            reply, _ = self._own_request(http, token)
            requests_made += 1
            if reply.status_code != 200:
                refused_after, reason = time.monotonic() - revoked_at, _reason(reply)
                self._record("agent", f"request {requests_made - BURST} after the revocation", reply)
                break
            time.sleep(POLL_EVERY)
        after = _calls(http, self._url)
        calls = {path: n - before.get(path, 0) for path, n in after.items() if n != before.get(path, 0)}
        self.result.revocation = Revocation(refused_after, requests_made, calls, reason)
        if refused_after is None:
            waited = 2 * REVOCATION_DEADLINE
            self._say("demo", f"NatSupply's API still accepted the revoked token after {waited:g} s")
            return
        listed = ", ".join(f"{n} x {path}" for path, n in sorted(calls.items())) or "none"
        self._say(
            "demo",
            f"revoked -> refused by NatSupply's API {refused_after:.1f} s after the revocation "
            f"(limit {REVOCATION_DEADLINE:g} s); of {requests_made} requests from just before the "
            f"revocation, {requests_made - 1} accepted and 1 refused, "
            f"NatSupply called VaultGuard {sum(calls.values())} time(s) ({listed}): the status list's "
            "background refresh, none per request",
        )

    def _revoke_as_admin(self, http: httpx.Client, delegation_id: str) -> None:
        api = self._client.api_url
        form = {"grant_type": "client_credentials"}
        signed_in = http.post(f"{api}/oauth/token", data=form, auth=self._admin)
        signed_in.raise_for_status()
        reply = http.post(
            f"{api}/delegations/{delegation_id}/revoke",
            json={"reason": "task cancelled"},
            headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"},
        )
        reply.raise_for_status()
        self._say("medicore-admin", f"revoked {delegation_id} -> status {reply.json().get('status')}")


def summary_lines(scenes: Scenes) -> list[str]:
    """The two summary lines of the scenes, in the demo's summary's shape."""
    thief = [a for a in scenes.attempts if a.who == "thief"]
    refused = sum(1 for a in thief if a.status == 401)
    revocation = scenes.revocation
    seen = (
        f"refused {revocation.refused_after:.1f} s after the revocation, offline"
        if revocation is not None and revocation.refused_after is not None
        else "NOT refused"
    )
    return [
        f"  {'stolen token':<19} DPoP-bound -> replayed without the key -> refused ({refused}/{len(thief)})",
        f"  {'revoked token':<19} status list -> {seen}",
    ]
