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

`vault_tool` does the same with a provider access token from the tenant's token vault:

    def read_calendar(token: str, day: str) -> str:
        return calendar_api.get(f"/events?day={day}", token=token).text

    tool = vault_tool(client, connection_id=conn_id, scopes=["calendar.readonly"],
                      func=read_calendar, name="read_calendar", description="Read a day's events",
                      connection_name="MediCore's Google connection")

A connection that needs an administrator to reconnect it, one that does not exist (or not for
this tenant), one this agent may not use, scopes it does not allow and a provider that is
briefly unavailable come back as sentences the model can relay ("MediCore's Google connection
needs an administrator to reconnect it..."); the token itself never appears in a result.

Needs the `langchain` extra (`pip install "vaultguard-sdk[langchain]"`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from langchain_core.tools import StructuredTool, create_schema_from_function
from langchain_core.tools.base import ArgsSchema

from .._client import VaultGuardClient
from .._errors import (
    ConnectionNeedsReauth,
    ConnectionNotFound,
    DelegationBlocked,
    RateLimited,
    StepUpExpired,
    StepUpRejected,
    StepUpTimeout,
    VaultAccessDenied,
    VaultScopeError,
    VaultUnavailable,
)

__all__ = ["delegated_tool", "policy_message", "vault_message", "vault_tool"]

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
        args_schema = _schema_without_token(name, func, "delegation token")

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


def _schema_without_token(name: str, func: Callable[..., Any], what: str) -> ArgsSchema:
    params = list(inspect.signature(func).parameters)
    if not params:
        raise TypeError(f"{name}: func must take the {what} as its first argument")
    return create_schema_from_function(name, func, filter_args=[params[0]])


VAULT_ANSWERS = (
    ConnectionNeedsReauth,
    ConnectionNotFound,
    VaultAccessDenied,
    VaultScopeError,
    VaultUnavailable,
    RateLimited,
)


def vault_message(exc: Exception, connection_name: str) -> str | None:
    """The model-readable result for a vault answer; None for any other error."""
    if isinstance(exc, ConnectionNeedsReauth):
        reason = f" (reason: {exc.reason})" if exc.reason else ""
        return (
            f"{connection_name} needs an administrator to reconnect it{reason}. Nothing was read; "
            "do not retry. Tell the user that an administrator must reconnect it in VaultGuard."
        )
    if isinstance(exc, ConnectionNotFound):
        return (
            f"{connection_name} was not found: it does not exist, was deleted, or is not available to "
            "this organisation. Do not retry; an administrator must connect it first."
        )
    if isinstance(exc, VaultAccessDenied):
        return (
            f"This agent is not allowed to use {connection_name}. Do not retry; "
            "an administrator must allow it."
        )
    if isinstance(exc, VaultScopeError):
        missing = ", ".join(exc.missing_scopes) or "the requested scopes"
        return (
            f"{connection_name} does not allow {missing} for this agent. Do not retry; "
            "an administrator must allow the scopes (or reconnect with them)."
        )
    if isinstance(exc, VaultUnavailable):
        when = f"in {exc.retry_after:g} s" if exc.retry_after is not None else "later"
        return f"{connection_name} is temporarily unavailable (the provider is not answering); retry {when}."
    if isinstance(exc, RateLimited):
        return f"RATE_LIMITED: VaultGuard is rate limiting requests; retry in {exc.retry_after:g} s."
    return None


def vault_tool(
    client: VaultGuardClient,
    *,
    connection_id: str,
    func: Callable[..., Any],
    name: str,
    description: str,
    scopes: str | Iterable[str] | None = None,
    args_schema: ArgsSchema | None = None,
    connection_name: str | None = None,
    **tool_kwargs: Any,
) -> StructuredTool:
    """A `StructuredTool` named `name` that calls `func(token, **arguments)` with a provider
    access token of the vault connection `connection_id` (`client.vault_token`, so a token
    with more than a minute left is reused across calls).

    `scopes` narrows the token (None: all the connection allows this agent). `args_schema` as
    for `delegated_tool`. `connection_name` is how results name the connection (default:
    "the vault connection <id>"). Vault answers come back as readable results (see
    `vault_message`); other errors, and errors from `func`, are raised."""
    label = connection_name or f"the vault connection {connection_id}"
    if args_schema is None:
        args_schema = _schema_without_token(name, func, "access token")

    def run(**arguments: Any) -> Any:
        try:
            token = client.vault_token(connection_id, scopes)
        except VAULT_ANSWERS as exc:
            return vault_message(exc, label) or str(exc)
        # Only getting the token is a vault answer: `func`'s own outcome stands as it is.
        return func(token.access_token, **arguments)

    return StructuredTool.from_function(
        func=run, name=name, description=description, args_schema=args_schema, **tool_kwargs
    )
