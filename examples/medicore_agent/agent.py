"""MediCore's agent: three tasks against NatSupply and one on MediCore's connected calendar,
planned offline or by Claude.

With `ANTHROPIC_API_KEY` set and the `anthropic` package installed, Claude plans the tool calls
(a plain Messages API tool loop); otherwise an offline planner makes the same four calls, in
order. Both go through the same tools (`NatSupplyTools`, `CalendarTools`), so the VaultGuard
side is identical.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from examples.medicore_agent.tools import ToolResult, Tools

Say = Callable[[str, str], None]
MODEL_ENV = "ANTHROPIC_MODEL"
DEFAULT_MODEL = "claude-haiku-4-5"  # the issue asks for Claude Haiku
MAX_TURNS = 10


@dataclass(frozen=True)
class Task:
    title: str
    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


def new_reference() -> str:
    """A requisition reference, shown to NatSupply's approver as the binding message."""
    return f"REQ-{secrets.randbelow(9000) + 1000}"


def plan(reference: str) -> list[Task]:
    """The demo's four tasks: ALLOW, STEP_UP and BLOCK under NatSupply's demo policies, then
    the scheduling round on MediCore's calendar through the token vault."""
    return [
        Task(
            "Record the 240 boxes of nitrile gloves (GLV-NITRILE-M) Ward 4 returned to NatSupply stock",
            "update_stock",
            {"sku": "GLV-NITRILE-M", "quantity_delta": 240, "reason": "Ward 4 return"},
        ),
        Task(
            f"Submit requisition {reference}: 500 x SYR-5ML for MediCore Central Pharmacy",
            "submit_requisition",
            {
                "reference": reference,
                "lines": [{"sku": "SYR-5ML", "quantity": 500}],
                "deliver_to": "MediCore Central Pharmacy",
            },
        ),
        Task("Open NatSupply's admin console to review contract prices", "open_admin", {}),
        Task(
            "Read MediCore's connected calendar: the next 3 events, to schedule the delivery",
            "read_calendar",
            {"max_events": 3},
        ),
    ]


def claude_available(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get("ANTHROPIC_API_KEY")) and importlib.util.find_spec("anthropic") is not None


def run_offline(tools: Tools, tasks: list[Task], say: Say) -> list[ToolResult]:
    """The offline planner: one tool call per task, in order, reporting each result."""
    results = []
    for number, task in enumerate(tasks, 1):
        say("agent", f"task {number}/{len(tasks)}: {task.title}")
        result = tools.call(task.tool, task.arguments)
        say("agent", f"tool result ({result.outcome}): {result.text}")
        results.append(result)
    return results


def run_claude(
    tools: Tools,
    tasks: list[Task],
    say: Say,
    environ: Mapping[str, str] | None = None,
    *,
    llm: Any = None,
) -> list[ToolResult]:
    """A Claude tool loop over the same tools (needs `anthropic` and ANTHROPIC_API_KEY).

    `llm` is an `anthropic.Anthropic` to use instead of a new one (tests pass one on a mock
    transport); the loop ends when a reply asks for no tool (stop_reason "end_turn")."""
    env = os.environ if environ is None else environ
    model = env.get(MODEL_ENV) or DEFAULT_MODEL
    if llm is None:
        import anthropic  # only imported on this path

        llm = anthropic.Anthropic()  # reads ANTHROPIC_API_KEY itself
    prompt = "You are MediCore's procurement and scheduling agent. "
    prompt += "Do these tasks with your tools, one call each:\n"
    prompt += "\n".join(f"{n}. {task.title}" for n, task in enumerate(tasks, 1))
    prompt += "\nIf a tool says a task cannot proceed, do not retry it; report it and move on."
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    results: list[ToolResult] = []
    for _ in range(MAX_TURNS):
        reply = llm.messages.create(model=model, max_tokens=1024, tools=tools.specs, messages=messages)
        messages.append({"role": "assistant", "content": reply.content})
        uses = [block for block in reply.content if block.type == "tool_use"]
        for block in reply.content:
            if block.type == "text" and block.text.strip():
                say("claude", block.text.strip())
        if not uses:
            break
        answers = []
        for use in uses:
            say("claude", f"calls {use.name}({use.input})")
            result = tools.call(use.name, dict(use.input))
            say("agent", f"tool result ({result.outcome}): {result.text}")
            results.append(result)
            answers.append(
                {
                    "type": "tool_result",
                    "tool_use_id": use.id,
                    "content": result.text,
                    "is_error": result.outcome != "DONE",
                }
            )
        messages.append({"role": "user", "content": answers})
    return results


def run(
    tools: Tools,
    tasks: list[Task],
    say: Say,
    *,
    offline: bool = False,
    environ: Mapping[str, str] | None = None,
) -> list[ToolResult]:
    if not offline and claude_available(environ):
        say("agent", "planner: Claude (ANTHROPIC_API_KEY is set)")
        return run_claude(tools, tasks, say, environ)
    say("agent", "planner: offline (no ANTHROPIC_API_KEY or no anthropic package)")
    return run_offline(tools, tasks, say)
