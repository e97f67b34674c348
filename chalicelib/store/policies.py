"""Receiving-side policies: `T#<tenant>/POLICY#<action>#<requester|*>`."""

from __future__ import annotations

from chalicelib.domain.policy import ANY_REQUESTER, Effect, Policy, candidate_patterns
from chalicelib.domain.principal import TenantScope
from chalicelib.store.db import WriteTransaction, store_errors
from chalicelib.store.models import PolicyModel, tenant_pk
from chalicelib.store.reads import Key, Snapshot


def _sk(action: str, requesting_tenant_id: str | None) -> str:
    return f"POLICY#{action}#{requesting_tenant_id or ANY_REQUESTER}"


def to_policy(item: PolicyModel) -> Policy:
    return Policy(
        action=item.action,
        effect=Effect(item.effect),
        requesting_tenant_id=item.requesting_tenant_id,
        ttl_seconds=int(item.ttl_seconds),
        stepup_expiry_seconds=int(item.stepup_expiry_seconds),
        require_dpop=bool(item.require_dpop),
        require_private_key_jwt=bool(item.require_private_key_jwt),
    )


class PolicyRepository:
    def key(self, scope: TenantScope, action: str, requesting_tenant_id: str | None) -> Key:
        """A policy's item, for a request's batched read."""
        return Key(tenant_pk(scope.tenant_id), _sk(action, requesting_tenant_id))

    @store_errors
    def get(self, scope: TenantScope, action: str, requesting_tenant_id: str | None) -> PolicyModel | None:
        try:
            return PolicyModel.get(
                tenant_pk(scope.tenant_id), _sk(action, requesting_tenant_id), consistent_read=True
            )
        except PolicyModel.DoesNotExist:
            return None

    def put(
        self,
        tx: WriteTransaction,
        scope: TenantScope,
        policy: Policy,
        *,
        created_at: str,
        now: str,
        replacing: bool | None = None,
    ) -> PolicyModel:
        """Write the rule in `tx`; with `replacing` given, only if the rule exists (True) or
        does not (False), so that a concurrent change fails `tx` (the policy count)."""
        item = PolicyModel(
            pk=tenant_pk(scope.tenant_id),
            sk=_sk(policy.action, policy.requesting_tenant_id),
            policy_id=policy.policy_id,
            action=policy.action,
            effect=policy.effect.value,
            requesting_tenant_id=policy.requesting_tenant_id,
            ttl_seconds=policy.ttl_seconds,
            stepup_expiry_seconds=policy.stepup_expiry_seconds,
            created_at=created_at,
            updated_at=now,
            require_dpop=True if policy.require_dpop else None,
            require_private_key_jwt=True if policy.require_private_key_jwt else None,
        )
        condition = None if replacing is None else (
            PolicyModel.pk.exists() if replacing else PolicyModel.pk.does_not_exist()
        )
        tx.put(item, condition)
        return item

    def remove(self, tx: WriteTransaction, item: PolicyModel) -> None:
        tx.delete(item, PolicyModel.pk.exists())

    @store_errors
    def list_all(self, scope: TenantScope, limit: int = 1000) -> list[PolicyModel]:
        return list(
            PolicyModel.query(tenant_pk(scope.tenant_id), PolicyModel.sk.startswith("POLICY#"), limit=limit)
        )

    def candidate_keys(self, scope: TenantScope, requesting_tenant_id: str, action: str) -> list[Key]:
        """The keys of every policy that could match: a bounded list, read in the request's
        batch (never a scan)."""
        return [
            Key(tenant_pk(scope.tenant_id), _sk(pattern, requester))
            for pattern in candidate_patterns(action)
            for requester in (requesting_tenant_id, None)
        ]

    def candidates(self, keys: list[Key], snapshot: Snapshot) -> list[Policy]:
        items = (snapshot.get(PolicyModel, key) for key in keys)
        return [to_policy(item) for item in items if item is not None]
