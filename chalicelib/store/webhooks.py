"""The tenant's step-up webhook: one item, `T#<tenant>/WEBHOOK`."""

from __future__ import annotations

from chalicelib.domain.principal import TenantScope
from chalicelib.store.db import WriteTransaction, store_errors
from chalicelib.store.models import WebhookModel, tenant_pk
from chalicelib.store.reads import Key

WEBHOOK_SK = "WEBHOOK"


def webhook_key(tenant_id: str) -> Key:
    """The tenant's webhook item, for a request's batched read."""
    return Key(tenant_pk(tenant_id), WEBHOOK_SK)


class WebhookRepository:
    @store_errors
    def get(self, scope: TenantScope) -> WebhookModel | None:
        try:
            return WebhookModel.get(tenant_pk(scope.tenant_id), WEBHOOK_SK, consistent_read=True)
        except WebhookModel.DoesNotExist:
            return None

    def put(
        self, tx: WriteTransaction, scope: TenantScope, *, url: str, secret_ciphertext: str, created_at: str
    ) -> WebhookModel:
        """Create or replace the webhook (the caller encrypted the secret)."""
        item = WebhookModel(
            pk=tenant_pk(scope.tenant_id),
            sk=WEBHOOK_SK,
            url=url,
            secret_ciphertext=secret_ciphertext,
            created_at=created_at,
        )
        tx.put(item)
        return item

    def remove(self, tx: WriteTransaction, scope: TenantScope, item: WebhookModel) -> None:
        if item.pk != tenant_pk(scope.tenant_id):
            raise ValueError("webhook item does not belong to the scope")
        tx.delete(item, WebhookModel.pk.exists())
