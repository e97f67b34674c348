"""Step-up webhooks: the admin's registration (one URL per receiving tenant, its signing
secret shown once and stored only encrypted) and the `Notifier` that delivers events to it.

A tenant without a webhook gets what `NullNotifier` gives: nothing is sent. `WebhookNotifier`
queues for `WebhookDispatcher`'s threads (`VAULTGUARD_WEBHOOK_DELIVERY=thread`, in-process
tests); deployed stages deliver from the audit stream instead (chalicelib/jobs/
webhook_delivery.py). Nothing here can fail or delay the request that caused the event.
"""

from __future__ import annotations

import time
from typing import Any

from ulid import ULID

from chalicelib.auth.scope import own_scope, system_scope
from chalicelib.config import Settings
from chalicelib.crypto import DecryptionFailed, EncryptionUnavailable, Encryptor
from chalicelib.domain import audit
from chalicelib.domain.webhooks import check_url, event_body, new_secret, redact_url
from chalicelib.errors import InvalidRequest, NotFound, ServiceUnavailable
from chalicelib.observability import logger
from chalicelib.services.audit import AuditService
from chalicelib.services.call import Call, commit, iso
from chalicelib.services.webhook_delivery import Delivery, WebhookDispatcher
from chalicelib.store.db import Database
from chalicelib.store.models import WebhookModel
from chalicelib.store.reads import BatchReader, Key, Snapshot
from chalicelib.store.webhooks import WebhookRepository, webhook_key

TEST_EVENT = "webhook.test"


def secret_context(tenant_id: str) -> dict[str, str]:
    """The encryption context of a tenant's webhook secret (docs/architecture.md, "Data model")."""
    return {"tenant_id": tenant_id}


class WebhookService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        webhooks: WebhookRepository,
        encryptor: Encryptor,
        auditor: AuditService,
        reader: BatchReader,
        dispatcher: WebhookDispatcher | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._settings = settings
        self._db = db
        self._webhooks = webhooks
        self._encryptor = encryptor
        self._auditor = auditor
        self._reader = reader

    def put(self, call: Call, url: Any) -> tuple[bool, dict[str, Any]]:
        """Create or replace the caller's webhook with a new secret, returned this once."""
        assert call.principal is not None
        scope = own_scope(call.principal)
        try:
            url = check_url(url, require_https=self._settings.stage != "local")
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        existing = self._webhooks.get(scope)
        secret = new_secret()
        try:
            blob = self._encryptor.encrypt(secret.encode(), secret_context(scope.tenant_id))
        except EncryptionUnavailable as exc:
            raise ServiceUnavailable() from exc
        tx = self._db.transaction()
        item = self._webhooks.put(tx, scope, url=url, secret_ciphertext=blob, created_at=call.timestamp)
        self._auditor.record(
            tx,
            call,
            audit.WEBHOOK_UPDATED,
            (scope,),
            detail={"url": redact_url(url), "replaced": existing is not None},
        )
        commit(tx)
        return existing is None, {"url": item.url, "secret": secret, "created_at": item.created_at}

    def get(self, call: Call) -> dict[str, Any]:
        """The caller's webhook, read with (and after) the caller's credential."""
        item = self._read_own(call)
        if item is None:
            raise NotFound()
        return {"url": item.url, "created_at": item.created_at}

    def delete(self, call: Call) -> dict[str, Any]:
        item = self._read_own(call)
        if item is None:
            raise NotFound()
        assert call.principal is not None
        scope = own_scope(call.principal)
        tx = self._db.transaction()
        self._webhooks.remove(tx, scope, item)
        self._auditor.record(tx, call, audit.WEBHOOK_DELETED, (scope,), detail={"url": redact_url(item.url)})
        commit(tx, NotFound())
        return {"deleted": True}

    def send_test(self, call: Call) -> dict[str, Any]:
        """Deliver a signed `webhook.test` event to the caller's webhook now (one attempt)
        and report how the receiver answered; the attempt is audited with its outcome."""
        assert call.principal is not None and self._dispatcher is not None
        item = self._read_own(call)
        if item is None:
            raise NotFound("No webhook is set for this tenant.")
        scope = own_scope(call.principal)
        try:
            secret = self._encryptor.decrypt(item.secret_ciphertext, secret_context(scope.tenant_id)).decode()
        except (EncryptionUnavailable, DecryptionFailed) as exc:
            raise ServiceUnavailable() from exc
        event_id = f"evt_{ULID()}"
        data = {"tenant_id": scope.tenant_id, "message": "A test delivery requested from VaultGuard."}
        body = event_body(event_id, TEST_EVENT, call.timestamp, data)
        outcome = self._dispatcher.send_once(
            Delivery(scope.tenant_id, item.url, event_id, TEST_EVENT, body, secret)
        )
        tx = self._db.transaction()
        detail = {"url": redact_url(item.url), "event_id": event_id, "delivered": outcome.delivered}
        if outcome.status_code is not None:
            detail["status_code"] = outcome.status_code
        self._auditor.record(tx, call, audit.WEBHOOK_TESTED, (scope,), detail=detail)
        commit(tx)
        return {
            "event_id": event_id,
            "delivered": outcome.delivered,
            "status_code": outcome.status_code,
            "error": outcome.error,
            "duration_ms": outcome.duration_ms,
        }

    def _read_own(self, call: Call) -> WebhookModel | None:
        assert call.principal is not None
        key = webhook_key(own_scope(call.principal).tenant_id)
        return call.read(self._reader, [key]).get(WebhookModel, key)


class WebhookNotifier:
    """`Notifier`: signs each step-up event for the receiving tenant's webhook and queues
    it. Every failure (store, decryption, full queue) is logged, never raised."""

    def __init__(
        self, webhooks: WebhookRepository, encryptor: Encryptor, dispatcher: WebhookDispatcher
    ) -> None:
        self._webhooks = webhooks
        self._encryptor = encryptor
        self.dispatcher = dispatcher

    def keys(self, receiving_tenant_id: str) -> list[Key]:
        return [webhook_key(receiving_tenant_id)]

    def stepup_event(
        self,
        event_type: str,
        receiving_tenant_id: str,
        payload: dict[str, Any],
        snapshot: Snapshot | None = None,
    ) -> None:
        try:
            self._queue(event_type, receiving_tenant_id, payload, snapshot)
        except Exception:
            logger.exception(
                "webhook notification failed",
                extra={"tenant_id": receiving_tenant_id, "event_type": event_type},
            )

    def _queue(
        self, event_type: str, tenant_id: str, payload: dict[str, Any], snapshot: Snapshot | None
    ) -> None:
        key = webhook_key(tenant_id)
        if snapshot is not None and snapshot.covers(key):  # read with the request's batch
            item = snapshot.get(WebhookModel, key)
        else:
            item = self._webhooks.get(system_scope(tenant_id))
        if item is None:
            return
        secret = self._encryptor.decrypt(item.secret_ciphertext, secret_context(tenant_id)).decode()
        event_id = f"evt_{ULID()}"
        body = event_body(event_id, event_type, iso(time.time()), payload)
        self.dispatcher.submit(
            Delivery(
                tenant_id=tenant_id,
                url=item.url,
                event_id=event_id,
                event_type=event_type,
                body=body,
                secret=secret,
            )
        )
