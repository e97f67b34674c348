"""The agent's NatSupply tools, each mapped to one NatSupply call under one delegation.

Every tool asks VaultGuard for exactly the action its call needs, inside
`client.with_delegation(...)`, and never raises for a policy answer: BLOCK, a rejected or an
expired step-up all come back as a readable result the model (or the planner) can act on.
When the client has a DPoP key, its delegations are bound to it and each NatSupply call sends
`Authorization: DPoP` with a fresh proof by that key (a copy of the token alone is useless).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from vaultguard import (
    DelegationBlocked,
    HttpxDPoPAuth,
    StepUpExpired,
    StepUpRejected,
    VaultGuardClient,
    VaultGuardError,
)

Say = Callable[[str, str], None]

# JSON schemas in the shape the Anthropic Messages API takes for tools.
TOOL_SPECS: list[dict[str, Any]] = [
    {
        "name": "update_stock",
        "description": "Adjust stock on hand for one SKU in NatSupply's LMIS (needs stock.write).",
        "input_schema": {
            "type": "object",
            "properties": {
                "sku": {"type": "string", "description": "NatSupply SKU, e.g. GLV-NITRILE-M"},
                "quantity_delta": {"type": "integer", "description": "units to add (negative to remove)"},
                "reason": {"type": "string"},
            },
            "required": ["sku", "quantity_delta"],
        },
    },
    {
        "name": "submit_requisition",
        "description": (
            "Submit a purchase requisition to NatSupply (needs requisition.submit, which a NatSupply "
            "approver must confirm; the call waits for the decision)."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "reference": {"type": "string", "description": "MediCore's reference, shown to the approver"},
                "lines": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer"}},
                        "required": ["sku", "quantity"],
                    },
                },
                "deliver_to": {"type": "string"},
            },
            "required": ["reference", "lines"],
        },
    },
    {
        "name": "open_admin",
        "description": "Open NatSupply's LMIS admin console (needs admin.access).",
        "input_schema": {"type": "object", "properties": {}},
    },
]


@dataclass(frozen=True)
class ToolResult:
    """`outcome`: DONE, BLOCKED, REJECTED, EXPIRED or FAILED; `text` is what the model reads."""

    tool: str
    outcome: str
    text: str
    data: Mapping[str, Any] | None = None


def describe_token(token: str) -> str:
    """What the transcript may show of a delegation token: its claims, never the token."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    lifetime = int(claims.get("exp", 0)) - int(claims.get("iat", 0))
    cnf = claims.get("cnf")
    bound = f", DPoP-bound to key {cnf['jkt'][:12]}..." if isinstance(cnf, dict) and cnf.get("jkt") else ""
    return (
        f"{header.get('alg')} {header.get('typ')}, jti {claims.get('jti')}, "
        f"scope {claims.get('scope')}, aud {claims.get('aud')}, valid {lifetime} s{bound}"
    )


def delegation_auth(client: VaultGuardClient, token: str) -> httpx.Auth | dict[str, str]:
    """How to present a delegation token: with a DPoP proof by the client's key when it has
    one (its delegations are bound to it), else as a bearer token."""
    key = getattr(client, "dpop_key", None)
    if key is not None:
        return HttpxDPoPAuth(token, key)
    return {"Authorization": f"Bearer {token}"}


class Tools(Protocol):
    """What a planner needs of a tool set: the tools' JSON schemas and a dispatch by name."""

    @property
    def specs(self) -> list[dict[str, Any]]: ...

    def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult: ...


class Toolbox:
    """Several tool sets as one: calls go to the set whose specs name the tool."""

    def __init__(self, *sets: Tools) -> None:
        self._sets = sets

    @property
    def specs(self) -> list[dict[str, Any]]:
        return [spec for tools in self._sets for spec in tools.specs]

    def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        for tools in self._sets:
            if any(spec["name"] == name for spec in tools.specs):
                return tools.call(name, arguments)
        names = ", ".join(spec["name"] for spec in self.specs)
        return ToolResult(name, "FAILED", f"unknown tool {name!r}; use one of {names}")


class NatSupplyTools:
    specs = TOOL_SPECS

    def __init__(
        self,
        client: VaultGuardClient,
        natsupply_tenant_id: str,
        natsupply_api_url: str,
        *,
        say: Say | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self._client = client
        self._tenant = natsupply_tenant_id
        self._api = natsupply_api_url.rstrip("/")
        self._say: Say = say or (lambda _speaker, _line: None)
        self._http = http or httpx.Client(timeout=30.0)

    def close(self) -> None:
        self._http.close()

    # -- the tools --------------------------------------------------------------------------

    def update_stock(self, sku: str, quantity_delta: int, reason: str = "") -> ToolResult:
        body = {"sku": sku, "quantity_delta": int(quantity_delta), "reason": reason}
        return self._delegated("update_stock", "stock.write", "POST", "/stock", body, purpose=reason or None)

    def submit_requisition(
        self, reference: str, lines: list[Mapping[str, Any]], deliver_to: str = ""
    ) -> ToolResult:
        body = {
            "reference": reference,
            "lines": [{"sku": str(line["sku"]), "quantity": int(line["quantity"])} for line in lines],
            "deliver_to": deliver_to,
        }
        return self._delegated(
            "submit_requisition",
            "requisition.submit",
            "POST",
            "/requisitions",
            body,
            purpose=f"requisition {reference}",
            binding_message=reference,
        )

    def open_admin(self) -> ToolResult:
        return self._delegated("open_admin", "admin.access", "GET", "/admin", None)

    def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        """Dispatch a model's tool call by name; bad arguments are a result, not a crash."""
        tools: dict[str, Callable[..., ToolResult]] = {
            "update_stock": self.update_stock,
            "submit_requisition": self.submit_requisition,
            "open_admin": self.open_admin,
        }
        tool = tools.get(name)
        if tool is None:
            return ToolResult(name, "FAILED", f"unknown tool {name!r}; use one of {', '.join(tools)}")
        try:
            return tool(**arguments)
        except (TypeError, KeyError, ValueError) as exc:
            return ToolResult(name, "FAILED", f"bad arguments for {name}: {exc}")

    # -- one delegation per call --------------------------------------------------------------

    def _delegated(
        self,
        tool: str,
        action: str,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        *,
        purpose: str | None = None,
        binding_message: str | None = None,
    ) -> ToolResult:
        self._say("agent", f"asks VaultGuard for {action} on NatSupply")
        try:
            with self._client.with_delegation(
                receiving_tenant_id=self._tenant,
                action=action,
                purpose=purpose,
                binding_message=binding_message,
            ) as token:
                self._say("agent", f"JWT issued ({describe_token(token)})")
                result = self._call_natsupply(tool, method, path, body, token)
        except DelegationBlocked as exc:
            status = f"{exc.status_code or 403} {exc.error or 'access_denied'}"
            self._say("vaultguard", f"BLOCK -> {status}, no token")
            self._say("agent", f"{action} is blocked by NatSupply's policy -> cannot proceed")
            return ToolResult(
                tool,
                "BLOCKED",
                f"NatSupply's policy does not allow {action} for this agent (HTTP 403 access_denied). "
                "No token was issued; this task cannot proceed. A MediCore human must arrange access "
                "with NatSupply.",
            )
        except StepUpRejected as exc:
            self._say("agent", f"STEP_UP rejected by NatSupply ({exc}) -> cannot proceed")
            return ToolResult(tool, "REJECTED", f"A NatSupply approver rejected the {action} request: {exc}")
        except StepUpExpired as exc:
            self._say("agent", f"STEP_UP expired before anyone approved ({exc}) -> cannot proceed")
            return ToolResult(
                tool,
                "EXPIRED",
                f"Nobody at NatSupply approved the {action} request in time ({exc}); try again later.",
            )
        except VaultGuardError as exc:
            self._say("agent", f"VaultGuard error: {exc}")
            return ToolResult(tool, "FAILED", f"VaultGuard could not grant {action}: {exc}")
        return result

    def _call_natsupply(
        self, tool: str, method: str, path: str, body: Mapping[str, Any] | None, token: str
    ) -> ToolResult:
        """The NatSupply call itself, made while the delegation is live."""
        presented = delegation_auth(self._client, token)
        try:
            if isinstance(presented, dict):
                reply = self._http.request(method, f"{self._api}{path}", json=body, headers=presented)
            else:
                reply = self._http.request(method, f"{self._api}{path}", json=body, auth=presented)
        except httpx.HTTPError as exc:
            self._say("agent", f"NatSupply API unreachable: {type(exc).__name__}")
            return ToolResult(tool, "FAILED", f"NatSupply's API could not be reached ({type(exc).__name__}).")
        try:
            data = reply.json()
        except ValueError:
            data = None
        if reply.is_success and isinstance(data, dict):
            self._say("natsupply-api", f"{reply.status_code} {data.get('result')}: {data.get('message')}")
            return ToolResult(tool, "DONE", f"{data.get('result')}: {data.get('message')}", data)
        self._say("natsupply-api", f"refused: HTTP {reply.status_code} {reply.text[:200]}")
        return ToolResult(
            tool, "FAILED", f"NatSupply's API answered HTTP {reply.status_code}: {reply.text[:200]}"
        )
