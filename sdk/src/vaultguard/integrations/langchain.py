"""LangChain: a tool whose every call runs under its own VaultGuard delegation.

    from vaultguard.integrations.langchain import delegated_tool

    def update_stock(token: str, sku: str, quantity_delta: int) -> str:
        return post(f"{natsupply}/stock", token=token, json={...}).text

    tool = delegated_tool(client, receiving_tenant_id=natsupply_tenant, action="stock.write",
                          func=update_stock, name="update_stock",
                          description="Adjust stock on hand for one SKU", receiving_name="NatSupply")

Each call requests a delegation for `action`, waits through a step-up, runs
`func(token, **arguments)` and revokes the delegation afterwards (`client.with_delegation`).
A policy answer is not an exception: BLOCK, a rejected or expired step-up and a rate limit come
back as a string the model can read and act on ("BLOCKED: NatSupply does not allow admin.access
for this agent..."). Other VaultGuard errors (bad credentials, VaultGuard unreachable) and
errors from `func` itself are raised as usual (LangChain's `handle_tool_error` can turn them
into results; pass it through `**tool_kwargs`).

Needs the `langchain` extra (`pip install "vaultguard-sdk[langchain]"`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.tools import StructuredTool, create_schema_from_function
from langchain_core.tools.base import ArgsSchema

from .._client import VaultGuardClient
from .._errors import DelegationBlocked, RateLimited, StepUpExpired, StepUpRejected, StepUpTimeout

__all__ = ["delegated_tool", "policy_message"]

# A static string, or one made from the call's arguments (e.g. a requisition reference for the
# approver's binding message).
Text = str | Callable[[Mapping[str, Any]], str | None] | None


def policy_message(exc: Exception, action: str, receiving_name: str) -> str | None:
    """The model-readable result for a policy answer; None for any other error."""
    if isinstance(exc, DelegationBlocked):
        return (
            f"BLOCKED: {receiving_name} does not allow {action} for this agent. No token was issued; "
            "do not retry. A human must arrange access."
        )
    if isinstance(exc, StepUpRejected):
        return (
            f"REJECTED: an approver at {receiving_name} rejected the {action} request ({exc}). Do not retry."
        )
    if isinstance(exc, StepUpTimeout):
        return (
            f"EXPIRED: nobody at {receiving_name} approved the {action} request in time; "
            "it may still be approved later. Try again later."
        )
    if isinstance(exc, StepUpExpired):
        return f"EXPIRED: the {action} request expired before anyone at {receiving_name} approved it."
    if isinstance(exc, RateLimited):
        return f"RATE_LIMITED: VaultGuard is rate limiting requests; retry in {exc.retry_after:g} s."
    return None


def delegated_tool(
    client: VaultGuardClient,
    *,
    receiving_tenant_id: str,
    action: str,
    func: Callable[..., Any],
    name: str,
    description: str,
    args_schema: ArgsSchema | None = None,
    receiving_name: str | None = None,
    purpose: Text = None,
    binding_message: Text = None,
    ttl_seconds: int | None = None,
    timeout: float | None = None,
    **tool_kwargs: Any,
) -> StructuredTool:
    """A `StructuredTool` named `name` that calls `func(token, **arguments)` under a delegation.

    `args_schema` (a pydantic model or a JSON schema dict) describes the arguments the model
    passes; without it the schema is inferred from `func`'s signature after its first (token)
    parameter. `receiving_name` is how results name the receiving organisation (default: its
    tenant id). `purpose` and `binding_message` are strings or functions of the arguments.
    `timeout` bounds the wait for a step-up. `tool_kwargs` go to `StructuredTool` as they are."""
    receiver = receiving_name or receiving_tenant_id
    if args_schema is None:
        params = list(inspect.signature(func).parameters)
        if not params:
            raise TypeError(f"{name}: func must take the delegation token as its first argument")
        args_schema = create_schema_from_function(name, func, filter_args=[params[0]])

    def text(value: Text, arguments: Mapping[str, Any]) -> str | None:
        return value(arguments) if callable(value) else value

    def run(**arguments: Any) -> Any:
        scope = client.with_delegation(
            receiving_tenant_id=receiving_tenant_id,
            action=action,
            ttl_seconds=ttl_seconds,
            purpose=text(purpose, arguments),
            binding_message=text(binding_message, arguments),
            timeout=timeout,
        )
        try:
            token = scope.__enter__()
        except (DelegationBlocked, StepUpRejected, StepUpExpired, RateLimited) as exc:
            return policy_message(exc, action, receiver) or str(exc)
        # Only getting the token is a policy answer: once `func` ran, its outcome (or a failed
        # revocation) stands, so the model never retries a call that already happened.
        try:
            result = func(token, **arguments)
        except BaseException as exc:
            scope.__exit__(type(exc), exc, exc.__traceback__)
            raise
        scope.__exit__(None, None, None)
        return result

    return StructuredTool.from_function(
        func=run, name=name, description=description, args_schema=args_schema, **tool_kwargs
    )
