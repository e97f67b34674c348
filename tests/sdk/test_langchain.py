"""`vaultguard.integrations.langchain.delegated_tool` against a fake client (no server)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import BaseModel, Field

pytest.importorskip("langchain_core")

from langchain_core.tools import BaseTool  # noqa: E402
from vaultguard import (  # noqa: E402
    DelegationBlocked,
    RateLimited,
    ServiceUnavailable,
    StepUpExpired,
    StepUpRejected,
    StepUpTimeout,
)
from vaultguard.integrations.langchain import delegated_tool  # noqa: E402

NATSUPPLY = "tnt_natsupply"


class FakeClient:
    """`with_delegation(...)` as a context manager: yields `token`, or raises `error` on entry;
    records every request and every exit (the revocation)."""

    def __init__(self, token: str = "tok-123", error: Exception | None = None) -> None:
        self.token = token
        self.error = error
        self.requests: list[dict[str, Any]] = []
        self.exits: list[type[BaseException] | None] = []

    def with_delegation(self, **kwargs: Any) -> Any:
        self.requests.append(kwargs)
        return self._scope()

    @contextmanager
    def _scope(self) -> Iterator[str]:
        if self.error is not None:
            raise self.error
        try:
            yield self.token
        except BaseException as exc:
            self.exits.append(type(exc))
            raise
        self.exits.append(None)


class StockArgs(BaseModel):
    sku: str = Field(description="NatSupply SKU")
    quantity_delta: int = Field(description="units to add")


def make_tool(client: FakeClient, calls: list[tuple[str, dict[str, Any]]], **extra: Any) -> BaseTool:
    def update_stock(token: str, **arguments: Any) -> str:
        calls.append((token, arguments))
        return f"stock updated: {arguments['sku']} {arguments['quantity_delta']:+d}"

    return delegated_tool(
        client,  # type: ignore[arg-type]
        receiving_tenant_id=NATSUPPLY,
        action="stock.write",
        func=update_stock,
        name="update_stock",
        description="Adjust stock on hand for one SKU in NatSupply's LMIS.",
        args_schema=extra.pop("args_schema", StockArgs),
        receiving_name="NatSupply",
        **extra,
    )


def test_allowed_call_runs_func_with_the_token_and_returns_its_result() -> None:
    client, calls = FakeClient(), []
    tool = make_tool(client, calls, purpose="Ward 4 return")
    result = tool.invoke({"sku": "GLV-NITRILE-M", "quantity_delta": 240})
    assert result == "stock updated: GLV-NITRILE-M +240"
    assert calls == [("tok-123", {"sku": "GLV-NITRILE-M", "quantity_delta": 240})]
    assert client.requests == [
        {
            "receiving_tenant_id": NATSUPPLY,
            "action": "stock.write",
            "ttl_seconds": None,
            "purpose": "Ward 4 return",
            "binding_message": None,
            "timeout": None,
        }
    ]
    assert client.exits == [None]  # the delegation scope was closed (revoked) after the call


def test_each_call_gets_its_own_delegation_and_texts_can_come_from_the_arguments() -> None:
    client, calls = FakeClient(), []
    tool = make_tool(client, calls, binding_message=lambda args: f"stock {args['sku']}")
    tool.invoke({"sku": "A", "quantity_delta": 1})
    tool.invoke({"sku": "B", "quantity_delta": -2})
    assert [r["binding_message"] for r in client.requests] == ["stock A", "stock B"]
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            DelegationBlocked("denied", error="access_denied", status_code=403),
            "BLOCKED: NatSupply does not allow stock.write for this agent",
        ),
        (StepUpRejected("rejected by approver: not today"), "REJECTED: an approver at NatSupply rejected"),
        (StepUpExpired("expired_token"), "EXPIRED: the stock.write request expired"),
        (StepUpTimeout("still pending"), "EXPIRED: nobody at NatSupply approved the stock.write request"),
        (
            RateLimited("slow down", retry_after=7),
            "RATE_LIMITED: VaultGuard is rate limiting requests; retry in 7 s",
        ),
    ],
)
def test_policy_answers_come_back_as_readable_results(error: Exception, expected: str) -> None:
    client, calls = FakeClient(error=error), []
    result = make_tool(client, calls).invoke({"sku": "GLV-NITRILE-M", "quantity_delta": 240})
    assert isinstance(result, str)
    assert result.startswith(expected), result
    assert calls == []  # no token, so the tool code never ran


def test_other_errors_are_raised() -> None:
    client, calls = FakeClient(error=ServiceUnavailable("down")), []
    with pytest.raises(ServiceUnavailable):
        make_tool(client, calls).invoke({"sku": "X", "quantity_delta": 1})


def test_an_error_in_func_is_raised_after_the_scope_closes_with_it() -> None:
    client = FakeClient()

    def broken(token: str, sku: str) -> str:
        raise DelegationBlocked("raised by the receiving API, after the call")

    tool = delegated_tool(
        client,  # type: ignore[arg-type]
        receiving_tenant_id=NATSUPPLY,
        action="stock.write",
        func=broken,
        name="broken",
        description="d",
    )
    with pytest.raises(DelegationBlocked):
        tool.invoke({"sku": "X"})
    assert client.exits == [DelegationBlocked]


def test_name_description_and_schema_are_the_ones_given() -> None:
    tool = make_tool(FakeClient(), [])
    assert isinstance(tool, BaseTool)
    assert tool.name == "update_stock"
    assert tool.description == "Adjust stock on hand for one SKU in NatSupply's LMIS."
    assert tool.args_schema is StockArgs
    assert set(tool.args) == {"sku", "quantity_delta"}
    assert tool.args["sku"]["description"] == "NatSupply SKU"


def test_a_json_schema_dict_is_accepted_too() -> None:
    schema = {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "quantity_delta": {"type": "integer"}},
        "required": ["sku", "quantity_delta"],
    }
    client, calls = FakeClient(), []
    tool = make_tool(client, calls, args_schema=schema)
    assert tool.args_schema == schema
    assert tool.invoke({"sku": "A", "quantity_delta": 3}) == "stock updated: A +3"


def test_without_a_schema_it_is_inferred_from_func_minus_the_token() -> None:
    def open_admin(token: str, section: str, page: int = 1) -> str:
        return f"{section}:{page}:{token}"

    tool = delegated_tool(
        FakeClient(),  # type: ignore[arg-type]
        receiving_tenant_id=NATSUPPLY,
        action="admin.access",
        func=open_admin,
        name="open_admin",
        description="Open the admin console.",
    )
    assert set(tool.args) == {"section", "page"}
    assert tool.invoke({"section": "prices"}) == "prices:1:tok-123"


def test_importing_vaultguard_does_not_import_langchain() -> None:
    code = (
        "import sys, vaultguard, vaultguard.integrations; "
        "print(any(m.startswith('langchain') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
