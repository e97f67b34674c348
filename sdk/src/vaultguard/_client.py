"""`VaultGuardClient`: an agent's side of VaultGuard over `requests`.

    client = VaultGuardClient(api_url, client_id, client_secret)
    with client.with_delegation(receiving_tenant_id=natsupply, action="stock.write") as token:
        requests.post(natsupply_api, headers={"Authorization": f"Bearer {token}"}, ...)
    with client.with_vault_token(connection_id, ["calendar.readonly"]) as token:
        requests.get(calendar_api, headers={"Authorization": f"Bearer {token}"})

The client signs in with client credentials (client_secret_basic); with its private key
(`private_key=`, a `ClientKey`, key object or PEM: private_key_jwt, RFC 7523 §2.2, a fresh
assertion per token request, so the agent holds no shared secret); or as a federated agent
with its client id and `federated_token`, a callable returning a fresh JWT of its trusted
issuer (exchanged by the RFC 7523 jwt-bearer grant, the client id naming the agent; called
again for every new API token, as each JWT is used once):

    client = VaultGuardClient(api_url, client_id, federated_token=lambda: read_service_account_token())

It caches its API token and refreshes it a minute before it expires. Connection failures and
5xx are retried with exponential backoff only where repeating the call is safe; a 429 is
retried after its Retry-After; any other 4xx is a decision and raised at once as a typed
error (see `_errors`).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar, overload

import requests

from . import _attempts, _core, _vault
from ._client_key import ClientKey, PrivateKey, as_client_key
from ._dpop import DPoPKey, DPoPProver
from ._errors import VaultGuardError
from ._models import Delegation, PendingDelegation, VaultToken

T = TypeVar("T")


class VaultGuardClient:
    """Thread-safe: one client (and its cached API token) can serve many threads.

    `tenant_id`, when given, must be the tenant the credentials belong to; the first call
    fails with VaultGuardError(`tenant_mismatch`) otherwise, before anything is requested.
    Give `client_id` with one of `client_secret`, `private_key` or `federated_token`."""

    def __init__(
        self,
        api_url: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        tenant_id: str | None = None,
        *,
        federated_token: Callable[[], str] | None = None,
        private_key: ClientKey | PrivateKey | str | bytes | None = None,
        session: requests.Session | None = None,
        timeout: float = 10,
        max_retries: int = 3,
        backoff: float = 0.5,
        dpop: bool | DPoPKey = False,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        # DPoP (RFC 9449): proofs by this key on every call, so that the API token and the
        # delegations are bound to it (send delegations with DPoPAuth(token, client.dpop_key))
        self._dpop = DPoPProver(DPoPKey() if dpop is True else dpop) if dpop else None
        self.dpop_key: DPoPKey | None = self._dpop.key if self._dpop is not None else None
        self.tenant_id = tenant_id
        _core.check_sign_in(client_id, client_secret, federated_token, private_key)
        self._credentials = (client_id or "", client_secret or "")
        self._federated_token = federated_token
        self._client_key = as_client_key(private_key)
        self._authentication = _attempts.ClientAuthentication(
            self.api_url, *self._credentials, self._client_key
        )
        self._session = session or requests.Session()
        self._owns_session = session is None
        self._timeout = timeout
        self._calls = _attempts.Calls(self.api_url, max_retries, backoff, self._dpop)
        self._token: _core.ApiToken | None = None
        self._token_lock = threading.Lock()
        self._vault_tokens = _vault.VaultTokenCache()
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.monotonic

    def __repr__(self) -> str:
        if self._federated_token is not None:
            return f"VaultGuardClient({self.api_url!r}, client_id={self._credentials[0]!r}, federated)"
        return f"VaultGuardClient({self.api_url!r}, client_id={self._credentials[0]!r})"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> VaultGuardClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
        token: _core.ApiToken | None = None,
        sign: Callable[[], dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> _core.Reply:
        """One logical call with retries; the final reply whatever its status. Every attempt
        has a fresh DPoP proof and, from `sign`, a fresh client assertion (both single-use)."""
        call = self._calls.start(method, path, kwargs, idempotent=idempotent, token=token)
        while True:
            reply: _core.Reply | None = None
            request = call.request(sign() if sign is not None else None)
            try:
                raw = self._session.request(method, call.url, timeout=self._timeout, **request)
                reply = _core.make_reply(raw.status_code, raw.headers, raw.content)
            except (requests.ConnectionError, requests.Timeout) as exc:
                failure: BaseException = exc
            except requests.RequestException as exc:
                raise VaultGuardError(f"bad request to {self.api_url}: {exc}", error="client_error") from exc
            delay = call.retry_delay(reply)
            if delay is None:
                if reply is None:
                    raise call.unreachable(failure, self.api_url) from failure
                return reply
            if delay:
                self._sleep(delay)

    def _access_token(self, *, stale: str | None = None) -> _core.ApiToken:
        """The cached API token, fetched again when near expiry or when `stale` (a token the
        server just refused) is still the cached one."""
        with self._token_lock:
            token = self._token
            if token is None or not token.fresh(self._clock()) or token.value == stale:
                if self._federated_token is not None:
                    reply = self._send("POST", "/oauth/token", sign=self._federated_form)
                else:
                    sign = self._authentication.signer({"grant_type": "client_credentials"})
                    reply = self._send("POST", "/oauth/token", sign=sign)
                token = _core.api_token_from(reply, self._clock(), self.tenant_id)
                self._token = token
            return token

    def _federated_form(self) -> dict[str, Any]:
        """A new JWT of the trusted issuer for each attempt (each is accepted once)."""
        assert self._federated_token is not None
        return {"data": _core.federated_form(self._credentials[0], self._federated_token())}

    def _api(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> _core.Reply:
        """An authenticated call; a 401 (token revoked or expired early) gets one retry with a new token."""
        token = self._access_token()
        reply = self._send(method, path, idempotent=idempotent, token=token, **kwargs)
        if reply.status_code == 401:
            token = self._access_token(stale=token.value)
            reply = self._send(method, path, idempotent=idempotent, token=token, **kwargs)
        return reply

    # -- delegations -----------------------------------------------------------------------

    def request_delegation(
        self,
        receiving_tenant_id: str,
        action: str,
        ttl_seconds: int | None = None,
        purpose: str | None = None,
        binding_message: str | None = None,
        idempotency_key: str | None = None,
    ) -> Delegation | PendingDelegation:
        """ALLOW -> Delegation, STEP_UP -> PendingDelegation (poll it), BLOCK -> DelegationBlocked.

        Without an `idempotency_key` one is made up per call, so that a retry after a lost
        answer returns the same delegation instead of creating a second one."""
        body = _core.request_body(receiving_tenant_id, action, ttl_seconds, purpose, binding_message)
        key = idempotency_key or _core.new_request_id()
        reply = self._api("POST", "/delegations/request", json=body, headers={"Idempotency-Key": key})
        return _core.outcome_from(reply, self._clock())

    def initiate_step_up(
        self,
        receiving_tenant_id: str,
        action: str,
        binding_message: str | None = None,
        requested_expiry: int | None = None,
        ttl_seconds: int | None = None,
    ) -> PendingDelegation:
        """Start a CIBA flow (`/stepup/initiate`) even where the policy would ALLOW at once;
        the token then comes from `poll_delegation`. Not retried on 5xx (it is not idempotent)."""
        body = _core.request_body(
            receiving_tenant_id, action, ttl_seconds, None, binding_message, requested_expiry
        )
        reply = self._api("POST", "/stepup/initiate", json=body, idempotent=False)
        payload = _core.json_object(reply, "the step-up request")
        try:
            return _core.pending_from(payload, self._clock())
        except (KeyError, TypeError, ValueError):
            raise _core.unexpected(reply, "the step-up request") from None

    def poll_delegation(self, pending: PendingDelegation, timeout: float | None = None) -> Delegation:
        """Poll the token endpoint (CIBA grant, client authentication) until a decision.

        Honours `interval` and `slow_down`; raises StepUpRejected, StepUpExpired, or
        StepUpTimeout (a StepUpExpired and a TimeoutError) when `timeout` seconds pass first."""
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
                self._sleep(delay)
            if give_up is not None:
                raise give_up
            reply = self._send("POST", "/oauth/token", sign=self._authentication.signer(form))
            delegation = schedule.answer(reply, self._clock())
            if delegation is not None:
                return delegation

    def revoke(self, delegation_id: str, reason: str | None = None) -> dict[str, Any]:
        """Revoke at once (idempotent: revoking a revoked delegation succeeds)."""
        body = {"reason": reason} if reason else None
        reply = self._api("POST", f"/delegations/{_core.path_segment(delegation_id)}/revoke", json=body)
        return _core.json_object(reply, "the revocation")

    def verify_token(self, token: str) -> dict[str, Any]:
        """Online check (`/delegations/verify`): `{"active": True, ...claims}` or `{"active": False}`.
        Only an agent or admin of the token's receiving tenant sees it active."""
        reply = self._api("POST", "/delegations/verify", json={"token": token})
        return _core.json_object(reply, "the verification")

    def get_delegation(self, delegation_id: str) -> dict[str, Any]:
        reply = self._api("GET", f"/delegations/{_core.path_segment(delegation_id)}")
        return _core.json_object(reply, "the delegation lookup")

    def list_delegations(
        self, direction: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Every page of `/delegations` (agents: their own outbound; admins: inbound by default)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {
                k: v for k, v in {"direction": direction, "status": status, "cursor": cursor}.items() if v
            }
            page = _core.json_object(self._api("GET", "/delegations", params=params), "the delegation list")
            items.extend(d for d in page.get("delegations") or [] if isinstance(d, dict))
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def obtain(self, spec: _core.DelegationSpec, timeout: float | None = None) -> Delegation:
        """Request, and poll through a step-up if there is one: the issued Delegation."""
        outcome = self.request_delegation(
            spec.receiving_tenant_id,
            spec.action,
            spec.ttl_seconds,
            spec.purpose,
            spec.binding_message,
            spec.idempotency_key,
        )
        if isinstance(outcome, PendingDelegation):
            return self.poll_delegation(outcome, timeout)
        return outcome

    @overload
    def with_delegation(
        self,
        spec: Mapping[str, Any] | None = None,
        *,
        receiving_tenant_id: str | None = None,
        action: str | None = None,
        ttl_seconds: int | None = None,
        purpose: str | None = None,
        binding_message: str | None = None,
        timeout: float | None = None,
        revoke_on_exit: bool = True,
    ) -> DelegationScope: ...

    @overload
    def with_delegation(
        self,
        spec: Mapping[str, Any] | None,
        fn: Callable[[str], T],
        *,
        receiving_tenant_id: str | None = None,
        action: str | None = None,
        ttl_seconds: int | None = None,
        purpose: str | None = None,
        binding_message: str | None = None,
        timeout: float | None = None,
        revoke_on_exit: bool = True,
    ) -> T: ...

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
        """A delegation token for the span of a block, a decorated function or one call.

            with client.with_delegation(receiving_tenant_id=t, action="stock.write") as token: ...

            @client.with_delegation(receiving_tenant_id=t, action="stock.write")
            def write(item, *, token): ...          # `token` is passed as a keyword argument

            client.with_delegation({"receiving_tenant_id": t, "action": "stock.write"}, fn)  # fn(token)

        Each use requests a new delegation and waits through a step-up (`timeout` bounds the
        wait). With `revoke_on_exit` (the default) the delegation is revoked when the block,
        the function or the call ends, so the token lives no longer than its use."""
        scope = DelegationScope(
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
        with scope as token:
            return fn(token)

    def _revoke_on_exit(self, delegation: Delegation, failed: bool) -> None:
        """Revoke after use. A 409 (it expired meanwhile) is fine; any other failure is raised,
        unless the block itself failed: then it is logged and the block's error goes on."""
        try:
            self.revoke(delegation.delegation_id)
        except VaultGuardError as exc:
            if exc.status_code == 409:
                return
            if failed:
                _core.logger.warning("could not revoke delegation %s: %s", delegation.delegation_id, exc)
                return
            raise

    # -- the token vault -------------------------------------------------------------------

    def vault_token(self, connection_id: str, scopes: str | Iterable[str] | None = None) -> VaultToken:
        """A provider access token from the tenant's vault connection (`/vault/exchange`).

        `scopes` narrows it (None: all the connection allows this agent). A token from this
        client's memory is handed out again while it has more than a minute left. Raises
        ConnectionNotFound, ConnectionNeedsReauth, VaultAccessDenied, VaultScopeError, or
        VaultUnavailable (503, after retries that honour Retry-After)."""
        request = _vault.vault_request(connection_id, scopes)
        cached = self._vault_tokens.get(request.key, self._clock())
        if cached is not None:
            return cached
        started = self._clock()
        reply = self._api("POST", "/vault/exchange", json=request.body)
        return self._vault_tokens.settle(request, reply, started)

    def with_vault_token(
        self, connection_id: str, scopes: str | Iterable[str] | None = None
    ) -> VaultTokenScope:
        """The provider access token string for the span of a block or of a decorated call.

            with client.with_vault_token(connection_id, ["calendar.readonly"]) as token: ...

            @client.with_vault_token(connection_id)
            def read_calendar(day, *, token): ...   # `token` is passed as a keyword argument

        Tokens come from `vault_token`, so a block soon after another reuses the same one."""
        return VaultTokenScope(self, connection_id, _vault.scope_list(scopes))


class VaultTokenScope:
    """What `with_vault_token` returns: a context manager yielding the access token string
    (`.token` holds the VaultToken inside the block), and a decorator passing `token=`."""

    def __init__(self, client: VaultGuardClient, connection_id: str, scopes: list[str] | None) -> None:
        self._client = client
        self.connection_id = connection_id
        self.scopes = scopes
        self.token: VaultToken | None = None

    def __repr__(self) -> str:
        return f"VaultTokenScope({self.connection_id!r}, scopes={self.scopes!r})"

    def __enter__(self) -> str:
        self.token = self._client.vault_token(self.connection_id, self.scopes)
        return self.token.access_token

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.token = None

    def __call__(self, fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            token = self._client.vault_token(self.connection_id, self.scopes)
            return fn(*args, token=token.access_token, **kwargs)

        return wrapper


class DelegationScope:
    """What `with_delegation` returns without a function: a context manager yielding the token
    string, and a decorator. As a context manager one object serves one block at a time; as a
    decorator every call gets its own delegation (safe across threads)."""

    def __init__(
        self,
        client: VaultGuardClient,
        spec: _core.DelegationSpec,
        timeout: float | None,
        revoke_on_exit: bool,
    ) -> None:
        self._client = client
        self.spec = spec
        self._timeout = timeout
        self._revoke_on_exit = revoke_on_exit
        self.delegation: Delegation | None = None

    def __enter__(self) -> str:
        self.delegation = self._client.obtain(self.spec, self._timeout)
        return self.delegation.access_token

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        delegation, self.delegation = self.delegation, None
        if delegation is not None and self._revoke_on_exit:
            self._client._revoke_on_exit(delegation, failed=exc_type is not None)

    def __call__(self, fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            with DelegationScope(self._client, self.spec, self._timeout, self._revoke_on_exit) as token:
                return fn(*args, token=token, **kwargs)

        return wrapper
