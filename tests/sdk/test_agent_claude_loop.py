"""examples/medicore_agent's Claude tool loop on a stubbed Anthropic transport (no server, no
network): a real `anthropic.Anthropic` whose HTTP client answers from a handler with
Messages-API-shaped replies, the real NatSupplyTools against a fake VaultGuard client and a fake
NatSupply API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import jwt
import pytest

anthropic = pytest.importorskip("anthropic")
# anthropic 2.x sends over `httpx2` (its own fork) and refuses a plain httpx.Client.
httpx2 = pytest.importorskip("httpx2")

from examples.medicore_agent.agent import plan, run_claude  # noqa: E402
from examples.medicore_agent.tools import TOOL_SPECS, NatSupplyTools  # noqa: E402

NATSUPPLY = "tnt_natsupply"
MODEL = "claude-haiku-4-5-20251001"
TOOL_USE_ID = "toolu_01A09q90qw90lq917835lq9"


def delegation_token() -> str:
    now = int(time.time())
    claims = {"jti": "dlg_test", "scope": "stock.write", "aud": NATSUPPLY, "iat": now, "exp": now + 300}
    return jwt.encode(
        claims, "test-key-not-a-secret-0123456789abcdef", algorithm="HS256", headers={"typ": "at+jwt"}
    )


class FakeVaultGuard:
    """Just enough of VaultGuardClient for NatSupplyTools: every delegation is allowed."""

    def __init__(self) -> None:
        self.token = delegation_token()
        self.requests: list[dict[str, Any]] = []
        self.revoked = 0

    def with_delegation(self, **kwargs: Any) -> Any:
        self.requests.append(kwargs)
        return self._scope()

    @contextmanager
    def _scope(self) -> Iterator[str]:
        yield self.token
        self.revoked += 1


def message(content: list[dict[str, Any]], stop_reason: str, *, number: int) -> dict[str, Any]:
    """A Messages API response body, as the API sends it."""
    return {
        "id": f"msg_01XFDUDYJgAACzvnptvVoYE{number}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 812 + 120 * number,
            "output_tokens": 64,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        },
    }


TOOL_USE_REPLY = message(
    [
        {"type": "text", "text": "I'll record the returned gloves first."},
        {
            "type": "tool_use",
            "id": TOOL_USE_ID,
            "name": "update_stock",
            "input": {"sku": "GLV-NITRILE-M", "quantity_delta": 240, "reason": "Ward 4 return"},
        },
    ],
    "tool_use",
    number=1,
)
FINAL_REPLY = message(
    [{"type": "text", "text": "Done: 240 boxes of GLV-NITRILE-M are back in NatSupply's stock."}],
    "end_turn",
    number=2,
)


@pytest.fixture
def anthropic_calls() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def llm(anthropic_calls: list[dict[str, Any]]) -> Iterator[Any]:
    replies = [TOOL_USE_REPLY, FINAL_REPLY]

    def handler(request: Any) -> Any:
        # No asserts here: the SDK would turn them into APIConnectionError. Record, check later.
        anthropic_calls.append(
            {"_endpoint": f"{request.method} {request.url.path}", **json.loads(request.content)}
        )
        if len(anthropic_calls) > len(replies):  # the loop should have stopped on end_turn
            return httpx2.Response(
                500, json={"type": "error", "error": {"type": "api_error", "message": "x"}}
            )
        return httpx2.Response(
            200, json=replies[len(anthropic_calls) - 1], headers={"request-id": "req_test"}
        )

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = anthropic.Anthropic(api_key="test", http_client=http, max_retries=0)
    yield client
    client.close()


@pytest.fixture
def natsupply_calls() -> list[httpx.Request]:
    return []


@pytest.fixture
def tools(natsupply_calls: list[httpx.Request]) -> Iterator[tuple[NatSupplyTools, FakeVaultGuard]]:
    def natsupply(request: httpx.Request) -> httpx.Response:
        natsupply_calls.append(request)
        body = json.loads(request.content)
        return httpx.Response(
            201, json={"result": "stock updated", "message": f"{body['sku']} {body['quantity_delta']:+d}"}
        )

    vaultguard = FakeVaultGuard()
    http = httpx.Client(transport=httpx.MockTransport(natsupply))
    toolset = NatSupplyTools(vaultguard, NATSUPPLY, "http://natsupply.test", http=http)  # type: ignore[arg-type]
    yield toolset, vaultguard
    toolset.close()


def test_claude_loop_runs_the_tool_sends_its_result_and_stops_on_end_turn(
    llm: Any,
    tools: tuple[NatSupplyTools, FakeVaultGuard],
    anthropic_calls: list[dict[str, Any]],
    natsupply_calls: list[httpx.Request],
) -> None:
    toolset, vaultguard = tools
    said: list[tuple[str, str]] = []
    results = run_claude(
        toolset, plan("REQ-1234"), lambda who, line: said.append((who, line)), environ={}, llm=llm
    )

    # The tool code ran: one delegation for stock.write, one NatSupply call under its token.
    assert [(r.tool, r.outcome, r.text) for r in results] == [
        ("update_stock", "DONE", "stock updated: GLV-NITRILE-M +240")
    ]
    assert [(r["receiving_tenant_id"], r["action"]) for r in vaultguard.requests] == [
        (NATSUPPLY, "stock.write")
    ]
    assert vaultguard.revoked == 1
    assert len(natsupply_calls) == 1
    assert natsupply_calls[0].url.path == "/stock"
    assert natsupply_calls[0].headers["authorization"] == f"Bearer {vaultguard.token}"
    assert json.loads(natsupply_calls[0].content) == {
        "sku": "GLV-NITRILE-M",
        "quantity_delta": 240,
        "reason": "Ward 4 return",
    }

    # Exactly two Messages API calls: the loop stopped on stop_reason "end_turn".
    assert len(anthropic_calls) == 2
    first, second = anthropic_calls
    assert {call["_endpoint"] for call in anthropic_calls} == {"POST /v1/messages"}
    assert first["model"] == "claude-haiku-4-5"
    assert first["tools"] == TOOL_SPECS
    assert [m["role"] for m in first["messages"]] == ["user"]

    # The second request carries the assistant's tool_use turn back, then the tool_result.
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    assistant = second["messages"][1]["content"]
    assert [block["type"] for block in assistant] == ["text", "tool_use"]
    assert assistant[1]["id"] == TOOL_USE_ID
    assert assistant[1]["input"] == {"sku": "GLV-NITRILE-M", "quantity_delta": 240, "reason": "Ward 4 return"}
    assert second["messages"][2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": TOOL_USE_ID,
            "content": "stock updated: GLV-NITRILE-M +240",
            "is_error": False,
        }
    ]

    # Claude's text from both turns reached the transcript; the token itself never did.
    claude_lines = [line for who, line in said if who == "claude"]
    assert claude_lines[0] == "I'll record the returned gloves first."
    assert claude_lines[-1] == "Done: 240 boxes of GLV-NITRILE-M are back in NatSupply's stock."
    assert all(vaultguard.token not in line for _, line in said)
