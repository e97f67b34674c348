"""`AsyncVaultGuardClient`: the same surface as `VaultGuardClient`, on `httpx.AsyncClient`.

    async with AsyncVaultGuardClient(api_url, client_id, client_secret) as client:
        async with client.with_delegation(receiving_tenant_id=t, action="stock.write") as token:
            ...
        async with client.with_vault_token(connection_id, ["calendar.readonly"]) as token:
            ...

A federated agent gives its client id and `federated_token`, a callable returning (or
awaiting) a fresh JWT of its trusted issuer, as with `VaultGuardClient`.

`dpop=True` (or a `DPoPKey`) binds the API token and the delegations to the client's key,
as with `VaultGuardClient`: a fresh proof with every call, `Authorization: DPoP`.

Every decision (errors, retries, parsing, the poll schedule, each attempt's proof and client
assertion) comes from `_core` and `_attempts`, so the two clients behave alike; only sending
and sleeping differ.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import _attempts, _core, _vault
from ._client_key import ClientKey, PrivateKey, as_client_key
from ._dpop import DPoPKey, DPoPProver
from ._errors import VaultGuardError
from ._models import Delegation, PendingDelegation, VaultToken

T = TypeVar("T")


class AsyncVaultGuardClient:
    """Safe to share between tasks of one event loop; the API token is fetched once at a time.
    `session`, when given, is an `httpx.AsyncClient` the caller keeps ownership of. Give
    `client_id` with one of `client_secret`, `private_key` (private_key_jwt: a `ClientKey`,
    key object or PEM) or `federated_token`."""

    def __init__(
        self,
        api_url: str,
        client_id: str,
        client_secret: str | None = None,
        tenant_id: str | None = None,
        *,
        federated_token: Callable[[], str | Awaitable[str]] | None = None,
        private_key: ClientKey | PrivateKey | str | bytes | None = None,
        session: httpx.AsyncClient | None = None,
        timeout: float = 10,
        max_retries: int = 3,
        backoff: float = 0.5,
        dpop: bool | DPoPKey = False,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        # DPoP (RFC 9449), as with VaultGuardClient: a fresh proof by this key with every call
        self._dpop = DPoPProver(DPoPKey() if dpop is True else dpop) if dpop else None
        self.dpop_key: DPoPKey | None = self._dpop.key if self._dpop is not None else None
        self.tenant_id = tenant_id
        _core.check_sign_in(client_id, client_secret, federated_token, private_key)
        self._credentials = (client_id, client_secret or "")
        self._federated_token = federated_token
        self._client_key = as_client_key(private_key)
        self._authentication = _attempts.ClientAuthentication(
            self.api_url, *self._credentials, self._client_key
        )
        self._session = session or httpx.AsyncClient()
        self._owns_session = session is None
        self._timeout = timeout
        self._calls = _attempts.Calls(self.api_url, max_retries, backoff, self._dpop)
        self._token: _core.ApiToken | None = None
        self._token_lock = asyncio.Lock()
        self._vault_tokens = _vault.VaultTokenCache()
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._clock: Callable[[], float] = time.monotonic

    def __repr__(self) -> str:
        if self._federated_token is not None:
            return f"AsyncVaultGuardClient({self.api_url!r}, client_id={self._credentials[0]!r}, federated)"
        return f"AsyncVaultGuardClient({self.api_url!r}, client_id={self._credentials[0]!r})"

    async def aclose(self) -> None:
        if self._owns_session:
            await self._session.aclose()

    async def __aenter__(self) -> AsyncVaultGuardClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- transport -------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
        token: _core.ApiToken | None = None,
        sign: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        **kwargs: Any,
    ) -> _core.Reply:
        """As `VaultGuardClient._send`: a fresh DPoP proof and client assertion per attempt."""
        call = self._calls.start(method, path, kwargs, idempotent=idempotent, token=token)
        while True:
            reply: _core.Reply | None = None
            request = call.request(await sign() if sign is not None else None)
            try:
                raw = await self._session.request(method, call.url, timeout=self._timeout, **request)
                reply = _core.make_reply(raw.status_code, raw.headers, raw.content)
            except httpx.TransportError as exc:
                failure: BaseException = exc
            delay = call.retry_delay(reply)
            if delay is None:
                if reply is None:
                    raise call.unreachable(failure, self.api_url) from failure
                return reply
            if delay:
                await self._sleep(delay)

    async def _access_token(self, *, stale: str | None = None) -> _core.ApiToken:
        async with self._token_lock:
            token = self._token
            if token is None or not token.fresh(self._clock()) or token.value == stale:
                if self._federated_token is not None:
                    reply = await self._send("POST", "/oauth/token", sign=self._federated_form)
                else:
                    sign = self._authentication.signer({"grant_type": "client_credentials"})
                    reply = await self._send("POST", "/oauth/token", sign=_awaitable(sign))
                token = _core.api_token_from(reply, self._clock(), self.tenant_id)
                self._token = token
            return token

    async def _federated_form(self) -> dict[str, Any]:
        """A new JWT of the trusted issuer for each attempt (each is accepted once)."""
        assert self._federated_token is not None
        assertion = self._federated_token()
        if inspect.isawaitable(assertion):
            assertion = await assertion
        return {"data": _core.federated_form(self._credentials[0], assertion)}

    async def _api(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> _core.Reply:
        token = await self._access_token()
        reply = await self._send(method, path, idempotent=idempotent, token=token, **kwargs)
        if reply.status_code == 401:
            token = await self._access_token(stale=token.value)
            reply = await self._send(method, path, idempotent=idempotent, token=token, **kwargs)
        return reply

    # -- delegations -----------------------------------------------------------------------

    async def request_delegation(
        self,
        receiving_tenant_id: str,
        action: str,
        ttl_seconds: int | None = None,
        purpose: str | None = None,
        binding_message: str | None = None,
        idempotency_key: str | None = None,
    ) -> Delegation | PendingDelegation:
        body = _core.request_body(receiving_tenant_id, action, ttl_seconds, purpose, binding_message)
        key = idempotency_key or _core.new_request_id()
        reply = await self._api("POST", "/delegations/request", json=body, headers={"Idempotency-Key": key})
        return _core.outcome_from(reply, self._clock())

    async def initiate_step_up(
        self,
        receiving_tenant_id: str,
        action: str,
        binding_message: str | None = None,
        requested_expiry: int | None = None,
        ttl_seconds: int | None = None,
    ) -> PendingDelegation:
        body = _core.request_body(
            receiving_tenant_id, action, ttl_seconds, None, binding_message, requested_expiry
        )
        reply = await self._api("POST", "/stepup/initiate", json=body, idempotent=False)
        payload = _core.json_object(reply, "the step-up request")
        try:
            return _core.pending_from(payload, self._clock())
        except (KeyError, TypeError, ValueError):
            raise _core.unexpected(reply, "the step-up request") from None

    async def poll_delegation(self, pending: PendingDelegation, timeout: float | None = None) -> Delegation:
        if self._federated_token is not None:
            raise VaultGuardError(
                "CIBA polling needs client authentication; a federated client cannot poll.",
                error="client_error",
            )
        schedule = _core.PollSchedule(pending, timeout, self._clock())
        form = {"grant_type": _core.CIBA_GRANT_TYPE, "auth_req_id": pending.auth_req_id}
        while True:
            delay, give_up = schedule.wait(self._clock())
            if delay > 0:
                await self._sleep(delay)
            if give_up is not None:
                raise give_up
            sign = _awaitable(self._authentication.signer(form))
            reply = await self._send("POST", "/oauth/token", sign=sign)
            delegation = schedule.answer(reply, self._clock())
            if delegation is not None:
                return delegation

    async def revoke(self, delegation_id: str, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason} if reason else None
        reply = await self._api("POST", f"/delegations/{_core.path_segment(delegation_id)}/revoke", json=body)
        return _core.json_object(reply, "the revocation")

    async def verify_token(self, token: str) -> dict[str, Any]:
        reply = await self._api("POST", "/delegations/verify", json={"token": token})
        return _core.json_object(reply, "the verification")

    async def get_delegation(self, delegation_id: str) -> dict[str, Any]:
        reply = await self._api("GET", f"/delegations/{_core.path_segment(delegation_id)}")
        return _core.json_object(reply, "the delegation lookup")

    async def list_delegations(
        self, direction: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {
                k: v for k, v in {"direction": direction, "status": status, "cursor": cursor}.items() if v
            }
            reply = await self._api("GET", "/delegations", params=params)
            page = _core.json_object(reply, "the delegation list")
            items.extend(d for d in page.get("delegations") or [] if isinstance(d, dict))
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def obtain(self, spec: _core.DelegationSpec, timeout: float | None = None) -> Delegation:
        outcome = await self.request_delegation(
            spec.receiving_tenant_id,
            spec.action,
            spec.ttl_seconds,
            spec.purpose,
            spec.binding_message,
            spec.idempotency_key,
        )
        if isinstance(outcome, PendingDelegation):
            return await self.poll_delegation(outcome, timeout)
        return outcome

    def with_delegation(
        self,
        spec: Mapping[str, Any] | None = None,
        fn: Callable[[str], Any] | None = None,
        *,
        receiving_tenant_id: str | None = None,
        action: str | None = None,
        ttl_seconds: int | None = None,
        purpose: str | None = None,
        binding_message: str | None = None,
        timeout: float | None = None,
        revoke_on_exit: bool = True,
    ) -> Any:
        """As `VaultGuardClient.with_delegation`, asynchronously:

            async with client.with_delegation(receiving_tenant_id=t, action=a) as token: ...
            @client.with_delegation(receiving_tenant_id=t, action=a)   # on an async def;
            async def write(item, *, token): ...                        # `token` by keyword
            result = await client.with_delegation({"receiving_tenant_id": t, "action": a}, fn)

        In the call form `fn(token)` may be a plain or an async function."""
        scope = AsyncDelegationScope(
            self,
            _core.spec_from(
                spec,
                {
                    "receiving_tenant_id": receiving_tenant_id,
                    "action": action,
                    "ttl_seconds": ttl_seconds,
                    "purpose": purpose,
                    "binding_message": binding_message,
                },
            ),
            timeout,
            revoke_on_exit,
        )
        if fn is None:
            return scope
        return scope.run(fn)

    async def _revoke_on_exit(self, delegation: Delegation, failed: bool) -> None:
        try:
            await self.revoke(delegation.delegation_id)
        except VaultGuardError as exc:
            if exc.status_code == 409:
                return
            if failed:
                _core.logger.warning("could not revoke delegation %s: %s", delegation.delegation_id, exc)
                return
            raise

    # -- the token vault -------------------------------------------------------------------

    async def vault_token(self, connection_id: str, scopes: str | Iterable[str] | None = None) -> VaultToken:
        """As `VaultGuardClient.vault_token`: a provider access token, reused from memory while
        it has more than a minute left."""
        request = _vault.vault_request(connection_id, scopes)
        cached = self._vault_tokens.get(request.key, self._clock())
        if cached is not None:
            return cached
        started = self._clock()
        reply = await self._api("POST", "/vault/exchange", json=request.body)
        return self._vault_tokens.settle(request, reply, started)

    def with_vault_token(
        self, connection_id: str, scopes: str | Iterable[str] | None = None
    ) -> AsyncVaultTokenScope:
        """As `VaultGuardClient.with_vault_token`, asynchronously:

            async with client.with_vault_token(connection_id) as token: ...
            @client.with_vault_token(connection_id)     # on an async def;
            async def read_calendar(day, *, token): ... # `token` by keyword

        Tokens come from `vault_token`, so they are reused while fresh."""
        return AsyncVaultTokenScope(self, connection_id, _vault.scope_list(scopes))


class AsyncVaultTokenScope:
    """`async with` yields the access token string (`.token` the VaultToken inside the block);
    used as a decorator on an `async def` it passes `token=` on every call."""

    def __init__(self, client: AsyncVaultGuardClient, connection_id: str, scopes: list[str] | None) -> None:
        self._client = client
        self.connection_id = connection_id
        self.scopes = scopes
        self.token: VaultToken | None = None

    def __repr__(self) -> str:
        return f"AsyncVaultTokenScope({self.connection_id!r}, scopes={self.scopes!r})"

    async def __aenter__(self) -> str:
        self.token = await self._client.vault_token(self.connection_id, self.scopes)
        return self.token.access_token

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.token = None

    def __call__(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError("AsyncVaultGuardClient.with_vault_token decorates async functions only")

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> T:
            token = await self._client.vault_token(self.connection_id, self.scopes)
            return await fn(*args, token=token.access_token, **kwargs)

        return wrapper


class AsyncDelegationScope:
    """`async with` yields the token string; used as a decorator on an `async def` it passes
    `token=` on every call, each call with its own delegation."""

    def __init__(
        self,
        client: AsyncVaultGuardClient,
        spec: _core.DelegationSpec,
        timeout: float | None,
        revoke_on_exit: bool,
    ) -> None:
        self._client = client
        self.spec = spec
        self._timeout = timeout
        self._revoke_on_exit = revoke_on_exit
        self.delegation: Delegation | None = None

    def _fresh(self) -> AsyncDelegationScope:
        return AsyncDelegationScope(self._client, self.spec, self._timeout, self._revoke_on_exit)

    async def __aenter__(self) -> str:
        self.delegation = await self._client.obtain(self.spec, self._timeout)
        return self.delegation.access_token

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        delegation, self.delegation = self.delegation, None
        if delegation is not None and self._revoke_on_exit:
            await self._client._revoke_on_exit(delegation, failed=exc_type is not None)

    async def run(self, fn: Callable[[str], Any]) -> Any:
        async with self._fresh() as token:
            result = fn(token)
            if inspect.isawaitable(result):
                result = await result
            return result

    def __call__(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError("AsyncVaultGuardClient.with_delegation decorates async functions only")

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> T:
            async with self._fresh() as token:
                return await fn(*args, token=token, **kwargs)

        return wrapper


def _awaitable(fn: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def call() -> T:
        return fn()

    return call
