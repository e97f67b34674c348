"""Receiving-side policies: upsert, list, delete."""

from __future__ import annotations

from typing import Any

from chalicelib.auth.scope import own_scope
from chalicelib.domain import audit
from chalicelib.domain.delegation import granted_ttl
from chalicelib.domain.policy import Effect, Policy, admits, parse_policy_id, resolve
from chalicelib.errors import Conflict, NotFound
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit
from chalicelib.store.db import Database
from chalicelib.store.models import PolicyModel
from chalicelib.store.policies import PolicyRepository
from chalicelib.store.reads import BatchReader


def policy_view(item: PolicyModel) -> dict[str, Any]:
    return {
        "policy_id": item.policy_id,
        "action": item.action,
        "effect": item.effect,
        "requesting_tenant_id": item.requesting_tenant_id,
        "ttl_seconds": int(item.ttl_seconds),
        "stepup_expiry_seconds": int(item.stepup_expiry_seconds),
        "require_dpop": bool(item.require_dpop),
        "require_private_key_jwt": bool(item.require_private_key_jwt),
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


class PolicyService:
    def __init__(
        self, db: Database, policies: PolicyRepository, auditor: AuditService, reader: BatchReader
    ) -> None:
        self._reader = reader
        self._db = db
        self._policies = policies
        self._auditor = auditor

    def upsert(self, call: Call, policy: Policy) -> tuple[bool, dict[str, Any]]:
        """Create or replace the rule for (action, requester); True when it is new."""
        assert call.principal is not None
        scope = own_scope(call.principal)
        existing = self._policies.get(scope, policy.action, policy.requesting_tenant_id)
        tx = self._db.transaction()
        item = self._policies.put(
            tx,
            scope,
            policy,
            created_at=existing.created_at if existing else call.timestamp,
            now=call.timestamp,
            replacing=existing is not None,
        )
        self._auditor.record(
            tx,
            call,
            audit.POLICY_UPSERTED,
            (scope,),
            action=policy.action,
            decision=policy.effect.value,
            detail={
                "policy_id": policy.policy_id,
                "requesting_tenant_id": policy.requesting_tenant_id,
                "ttl_seconds": policy.ttl_seconds,
                "stepup_expiry_seconds": policy.stepup_expiry_seconds,
                "require_dpop": policy.require_dpop,
                "require_private_key_jwt": policy.require_private_key_jwt,
                "replaced": existing is not None,  # only a new rule adds to the policy count
            },
        )
        commit(tx, Conflict("The policy changed concurrently; retry."))
        return existing is None, policy_view(item)

    def list(self, call: Call) -> dict[str, Any]:
        assert call.principal is not None
        items = self._policies.list_all(own_scope(call.principal))
        return {"policies": [policy_view(i) for i in items]}

    def evaluate(
        self,
        call: Call,
        requesting_tenant_id: str,
        action: str,
        *,
        auth_method: str | None = None,
        ttl_seconds: int | None = None,
    ) -> dict[str, Any]:
        """What a delegation request for `action` by `requesting_tenant_id` would get from
        the caller's policies now: the same candidates and resolution as a real request,
        read with the caller's credential; nothing is written, nothing about the requesting
        tenant is looked up. With `auth_method` (an agent's `amr`), a policy that requires
        keys decides BLOCK for a secret; with `ttl_seconds`, the granted TTL is capped."""
        assert call.principal is not None
        scope = own_scope(call.principal)
        keys = self._policies.candidate_keys(scope, requesting_tenant_id, action)
        snapshot = call.read(self._reader, keys)
        policy = resolve(self._policies.candidates(keys, snapshot), requesting_tenant_id, action)
        if policy is None:
            return {
                "decision": Effect.BLOCK.value,
                "policy": None,
                "explanation": f"No policy matches '{action}' for this requesting tenant, "
                "so the request is blocked.",
                "granted_ttl_seconds": None,
            }
        key = self._policies.key(scope, policy.action, policy.requesting_tenant_id)
        item = snapshot.get(PolicyModel, key)
        assert item is not None
        requester = "this requesting tenant" if policy.requesting_tenant_id else "any requesting tenant"
        explanation = f"The most specific matching policy, '{policy.action}' for {requester}, "
        decision = policy.effect
        if policy.effect is not Effect.BLOCK and auth_method is not None and not admits(policy, auth_method):
            decision = Effect.BLOCK
            explanation += (
                f"decides {policy.effect.value} but only for agents that authenticate with keys "
                "(private_key_jwt or a federated identity): an agent using a client secret is blocked."
            )
        else:
            explanation += f"decides {policy.effect.value}."
            if policy.require_private_key_jwt and policy.effect is not Effect.BLOCK:
                explanation += " Agents using a client secret are blocked (it requires keys)."
        granted = None if decision is Effect.BLOCK else granted_ttl(ttl_seconds, policy.ttl_seconds)
        if granted is not None:
            explanation += f" Tokens last at most {policy.ttl_seconds} s."
        return {
            "decision": decision.value,
            "policy": policy_view(item),
            "explanation": explanation,
            "granted_ttl_seconds": granted,
        }

    def delete(self, call: Call, policy_id: str) -> dict[str, Any]:
        assert call.principal is not None
        scope = own_scope(call.principal)
        named = parse_policy_id(policy_id)
        key = self._policies.key(scope, *named) if named is not None else None
        # Read with the caller's credential (the request's first read).
        item = call.read(self._reader, [key] if key else []).get(PolicyModel, key)
        if item is None:
            raise NotFound()
        tx = self._db.transaction()
        self._policies.remove(tx, item)
        self._auditor.record(
            tx, call, audit.POLICY_DELETED, (scope,), action=item.action, detail={"policy_id": policy_id}
        )
        commit(tx, NotFound())
        return {"policy_id": policy_id, "deleted": True}
