"""No secrets (issue 4 item 7): drive every endpoint, collect every secret and token the API
hands out plus canaries of our own, then show that none of them is in the audit table, in the
main table (only hashes, fingerprints and ciphertexts are stored), in the audit export
objects in S3, in the webhook deliveries, or in anything logged.

Canaries come in two kinds:
- credential canaries (a wrong client secret, forged bearer and delegation tokens, a webhook
  URL with a password in it): refused input that must leave no trace anywhere;
- free-text canaries that look like secrets (an agent description, a delegation's purpose and
  binding message): stored with the delegation by design, but the audit log, the export and
  the logs must not copy request free text.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from chalicelib.jobs import cleanup
from chalicelib.observability import logger as vaultguard_logger
from tests.functional.conftest import Agent, Reply, Stack
from tests.functional.fake_vault_provider import error_answer
from tests.functional.helpers import (
    JWT_LIKE,
    basic,
    compact,
    foreign_key,
    form,
    introspect,
    oauth_revoke,
    rs256,
    shared_botocore_data,
    token_request,
)
from tests.functional.test_webhooks import Receiver

pytestmark = pytest.mark.usefixtures(shared_botocore_data.__name__)

CIBA = "urn:openid:params:grant-type:ciba"
SECRET_FIELDS = {"access_token", "client_secret", "secret", "refresh_token", "id_token", "client_assertion"}
# Shapes of VaultGuard's own secrets: client secrets, webhook secrets, JWTs.
SECRET_SHAPES = {
    "client secret": re.compile(r"vgs_[A-Za-z0-9_-]{20,}"),
    "webhook secret": re.compile(r"whsec_[A-Za-z0-9_-]{20,}"),
    "JWT": re.compile(JWT_LIKE),
}


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULTGUARD_RATE_CLIENT_REQUESTS_PER_15_MINUTES", "0")
    monkeypatch.setenv("VAULTGUARD_WEBHOOK_BACKOFF_MS", "10")


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything logged while the test runs: the `vaultguard` powertools logger (at DEBUG,
    formatted as in production) and anything else that reaches the root logger."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(vaultguard_logger.registered_formatter)
    handler.setLevel(logging.DEBUG)
    targets = [logging.getLogger("vaultguard"), logging.getLogger()]
    levels = [t.level for t in targets]
    for target in targets:
        target.addHandler(handler)
    targets[0].setLevel(logging.DEBUG)
    yield buffer
    for target, level in zip(targets, levels, strict=True):
        target.removeHandler(handler)
        target.setLevel(level)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Lets the test move VaultGuard's clock forward (past the CIBA polling interval)."""
    offset = [0.0]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])
    return offset


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


class Harvest:
    """Wraps `stack.call` to keep every secret or token any reply carries."""

    def __init__(self, stack: Stack) -> None:
        self.found: dict[str, str] = {}
        self.replies: list[Reply] = []
        original = stack.call

        def call(*args: Any, **kwargs: Any) -> Reply:
            reply = original(*args, **kwargs)
            self.replies.append(reply)
            self._collect(reply.body, f"{args[0]} {args[1]}")
            return reply

        stack.call = call  # type: ignore[method-assign]

    def _collect(self, value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in SECRET_FIELDS and isinstance(item, str) and item:
                    self.found[f"{key} from {where} #{len(self.found)}"] = item
                else:
                    self._collect(item, where)
        elif isinstance(value, list):
            for item in value:
                self._collect(item, where)


def canary(prefix: str) -> str:
    return f"{prefix}CANARY{secrets.token_hex(12)}"


def leaks(text: str, secrets_by_name: dict[str, str], *, shapes: bool = True) -> list[str]:
    """The names of the secrets (and, with `shapes`, secret shapes) present in `text`."""
    found = [name for name, value in secrets_by_name.items() if value in text]
    if shapes:
        found += [f"a {name}" for name, shape in SECRET_SHAPES.items() if shape.search(text)]
    return found


def as_text(value: Any) -> str:
    """JSON, with binary attributes as their raw bytes (a plaintext secret would show)."""
    return json.dumps(value, default=lambda b: b.decode("latin-1") if isinstance(b, bytes) else str(b))


def scan_table(name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
        items.extend(page["Items"])
    return items


def export_objects(stack: Stack, audit_items: list[dict[str, Any]]) -> dict[str, str]:
    """Run the audit export (chalicelib/jobs/audit_export.py) over every audit item, as the
    stream Lambda would see them (INSERT records with the NEW_IMAGE), and return every object
    written to the bucket, unzipped. (moto does not serve DescribeStream, so the records are
    built from the table's items, in sort-key order.)"""
    from chalicelib.jobs import audit_export

    settings = stack.container.settings
    s3 = boto3.client("s3", region_name=settings.aws_region)
    s3.create_bucket(Bucket=settings.audit_bucket)
    items = sorted(audit_items, key=lambda i: (i["sk"]["S"], i["pk"]["S"]))
    records = [
        {
            "eventID": f"event-{n}",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": settings.aws_region,
            "eventSourceARN": settings.audit_stream_arn,
            "dynamodb": {
                "Keys": {"pk": item["pk"], "sk": item["sk"]},
                "NewImage": item,
                "SequenceNumber": f"{n + 1:021d}",
                "SizeBytes": len(as_text(item)),
                "StreamViewType": "NEW_IMAGE",
            },
        }
        for n, item in enumerate(items)
    ]
    for start in range(0, len(records), 100):
        result = audit_export.handle_event({"Records": records[start : start + 100]})
        assert result.get("batchItemFailures") == [], result
    objects: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.audit_bucket):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=settings.audit_bucket, Key=entry["Key"])["Body"].read()
            if entry["Key"].endswith(".gz"):
                body = gzip.decompress(body)
            objects[entry["Key"]] = body.decode("utf-8", errors="replace")
    return objects


def test_no_secret_or_token_is_stored_exported_or_logged(
    stack: Stack,
    logs: io.StringIO,
    receiver: Receiver,
    clock: list[float],
    capfd: pytest.CaptureFixture[str],
    subtests: pytest.Subtests,
) -> None:
    harvest = Harvest(stack)
    credential_canaries: dict[str, str] = {}
    free_text = {
        "agent description": canary("AKIA"),
        "purpose": canary("sk_live_"),
        "binding message": canary("ghp_"),
    }

    def ok(reply: Reply, *statuses: int) -> Any:
        assert reply.status in statuses, (reply.status, reply.body)
        return reply.body

    # -- tenants, admins, agents -----------------------------------------------------------------
    medicore, natsupply, spare = stack.tenant("MediCore"), stack.tenant("NatSupply"), stack.tenant("Spare")
    ok(stack.call("GET", "/tenants", stack.platform_token), 200)
    ok(stack.call("GET", f"/tenants/{medicore.tenant_id}", medicore.admin_token), 200)
    ok(stack.call("GET", f"/tenants/{natsupply.tenant_id}/stats", stack.platform_token), 200)
    for status in ("DISABLED", "ACTIVE"):
        ok(stack.call("PATCH", f"/tenants/{spare.tenant_id}", stack.platform_token, {"status": status}), 200)
    created = ok(
        stack.call(
            "POST",
            "/agents",
            medicore.admin_token,
            {"name": "buyer", "description": free_text["agent description"]},
        ),
        201,
    )
    agent = Agent(created["agent_id"], medicore, created["client_id"], created["client_secret"], "")
    agent.token = stack.token(agent.client_id, agent.secret)
    rotated = ok(stack.call("POST", f"/agents/{agent.agent_id}/rotate-secret", medicore.admin_token), 200)
    agent.secret = rotated["client_secret"]
    agent.token = stack.token(agent.client_id, agent.secret)
    doomed = stack.agent(medicore, "temp")
    ok(stack.call("GET", "/agents", medicore.admin_token), 200)
    ok(stack.call("GET", f"/agents/{agent.agent_id}", medicore.admin_token), 200)
    ok(stack.call("DELETE", f"/agents/{doomed.agent_id}", medicore.admin_token), 200)

    # -- refused credentials: canaries that must leave no trace ----------------------------------
    credential_canaries["wrong client secret (post)"] = canary("vgs_")
    credential_canaries["wrong client secret (basic)"] = canary("vgs_")
    credential_canaries["unknown client's secret"] = canary("vgs_")
    ok(
        token_request(
            stack,
            {
                "grant_type": "client_credentials",
                "client_id": agent.client_id,
                "client_secret": credential_canaries["wrong client secret (post)"],
            },
        ),
        401,
    )
    ok(
        token_request(
            stack,
            {"grant_type": "client_credentials"},
            basic(agent.client_id, credential_canaries["wrong client secret (basic)"]),
        ),
        401,
    )
    ok(
        token_request(
            stack,
            {
                "grant_type": "client_credentials",
                "client_id": "vgc_" + secrets.token_hex(10),
                "client_secret": credential_canaries["unknown client's secret"],
            },
        ),
        400,
        401,
    )
    forged_claims = {"iss": "http://vaultguard.test", "sub": agent.agent_id, "canary": canary("")}
    credential_canaries["forged bearer token"] = compact(
        {"alg": "RS256", "typ": "vg-api+jwt", "kid": "canary"}, forged_claims, rs256(foreign_key())
    )
    ok(stack.call("GET", "/agents", credential_canaries["forged bearer token"]), 401)
    credential_canaries["webhook URL password"] = canary("pw")
    ok(
        stack.call(
            "PUT",
            "/webhooks",
            natsupply.admin_token,
            {"url": f"https://user:{credential_canaries['webhook URL password']}@hooks.example/vg"},
        ),
        400,
    )

    # -- policies, webhook --------------------------------------------------------------------------
    stack.policy(natsupply, "stock.write", "ALLOW", medicore)
    stack.policy(natsupply, "requisition.submit", "STEP_UP", medicore)
    stack.policy(natsupply, "admin.access", "BLOCK", medicore)
    temp = stack.policy(natsupply, "stock.temp", "ALLOW")
    ok(stack.call("GET", "/policies", natsupply.admin_token), 200)
    ok(stack.call("DELETE", f"/policies/{temp.body['policy_id']}", natsupply.admin_token), 200)
    ok(stack.call("PUT", "/webhooks", natsupply.admin_token, {"url": receiver.url}), 201)
    ok(stack.call("GET", "/webhooks", natsupply.admin_token), 200)

    # -- delegations: ALLOW, verify, introspect, revoke ----------------------------------------
    allowed = ok(
        stack.request(
            agent,
            natsupply,
            "stock.write",
            purpose=free_text["purpose"],
            binding_message=free_text["binding message"],
        ),
        201,
    )
    ok(stack.verify(allowed["access_token"], natsupply.admin_token), 200)
    ok(
        introspect(stack, allowed["access_token"], basic(natsupply.admin_client_id, natsupply.admin_secret)),
        200,
    )
    head, claims = {"alg": "RS256", "typ": "at+jwt", "kid": "canary"}, {"jti": allowed["delegation_id"]}
    credential_canaries["forged delegation token"] = compact(
        head, {**claims, "canary": canary("")}, rs256(foreign_key())
    )
    assert (
        stack.verify(credential_canaries["forged delegation token"], natsupply.admin_token).body["active"]
        is False
    )
    ok(
        introspect(
            stack, credential_canaries["forged delegation token"], {"authorization": f"Bearer {agent.token}"}
        ),
        200,
    )
    ok(
        oauth_revoke(
            stack, credential_canaries["forged delegation token"], basic(agent.client_id, agent.secret)
        ),
        200,
    )
    ok(stack.call("GET", "/delegations", agent.token), 200)
    ok(stack.call("GET", f"/delegations/{allowed['delegation_id']}", natsupply.admin_token), 200)
    ok(oauth_revoke(stack, allowed["access_token"], basic(agent.client_id, agent.secret)), 200)
    ok(stack.request(agent, natsupply, "admin.access"), 403)

    # -- step-up: approve + CIBA poll; /stepup trio; bc-authorize ------------------------------
    pending = ok(
        stack.request(agent, natsupply, "requisition.submit", binding_message=free_text["binding message"]),
        202,
    )

    def poll(auth_req_id: str) -> Reply:
        params = {"grant_type": CIBA, "auth_req_id": auth_req_id}
        return token_request(stack, params, basic(agent.client_id, agent.secret))

    ok(poll(pending["auth_req_id"]), 400)
    ok(stack.call("POST", f"/delegations/{pending['delegation_id']}/approve", natsupply.admin_token), 200)
    clock[0] += 6  # past the polling interval
    stepped_up = ok(poll(pending["auth_req_id"]), 200)
    ok(
        stack.call(
            "POST",
            f"/delegations/{pending['delegation_id']}/revoke",
            natsupply.admin_token,
            {"reason": "done"},
        ),
        200,
    )

    started = ok(
        stack.call(
            "POST",
            "/stepup/initiate",
            agent.token,
            {"receiving_tenant_id": natsupply.tenant_id, "action": "requisition.submit"},
        ),
        200,
        202,
    )
    ok(stack.call("GET", f"/stepup/{started['auth_req_id']}/status", agent.token), 200)
    ok(
        stack.call(
            "POST",
            f"/stepup/{started['auth_req_id']}/complete",
            natsupply.admin_token,
            {"decision": "reject"},
        ),
        200,
    )
    clock[0] += 6
    ok(poll(started["auth_req_id"]), 400)
    backchannel = ok(
        stack.form(
            "/bc-authorize",
            form({"scope": "openid requisition.submit", "login_hint": natsupply.tenant_id}),
            basic(agent.client_id, agent.secret),
        ),
        200,
    )
    ok(
        stack.call(
            "POST",
            f"/stepup/{backchannel['auth_req_id']}/complete",
            natsupply.admin_token,
            {"decision": "approve"},
        ),
        200,
    )
    clock[0] += 6
    ok(poll(backchannel["auth_req_id"]), 200)

    # -- reads, platform, jobs ------------------------------------------------------------------
    for tenant in (medicore, natsupply):
        ok(stack.call("GET", "/audit?limit=200", tenant.admin_token), 200)
        ok(stack.call("GET", "/audit/export.csv", tenant.admin_token), 200)
    ok(stack.call("GET", "/metrics", stack.platform_token), 200)
    ok(stack.call("GET", "/health"), 200)
    ok(stack.call("GET", "/.well-known/jwks.json"), 200)
    cleanup.build_job(stack.container).run()
    assert stack.container.webhook_dispatcher.flush(10)
    stack.container.webhook_dispatcher.close()

    # -- what must never be found -----------------------------------------------------------------
    tokens_and_secrets = {
        "platform secret": stack.platform_secret,
        "platform token": stack.platform_token,
        **{f"{t.name} admin secret": t.admin_secret for t in (medicore, natsupply, spare)},
        **{f"{t.name} admin token": t.admin_token for t in (medicore, natsupply, spare)},
        "disabled agent's secret": doomed.secret,
        "agent token": agent.token,
        **harvest.found,
        **{f"canary: {name}": value for name, value in credential_canaries.items()},
    }
    kinds = {name.split(" from ")[0] for name in harvest.found}
    assert {"access_token", "client_secret", "secret"} <= kinds, kinds
    assert sum(1 for n in harvest.found if n.startswith("access_token from POST /oauth/token")) >= 8
    assert any(n.startswith("access_token from POST /delegations/request") for n in harvest.found)
    assert stepped_up["access_token"] in harvest.found.values()
    free_text_canaries = {f"free text: {name}": value for name, value in free_text.items()}

    audit_items = scan_table(stack.container.settings.audit_table_name)
    with subtests.test("the audit table holds neither secrets, tokens nor copied free text"):
        assert len(audit_items) > 40
        text = as_text(audit_items)
        assert leaks(text, {**tokens_and_secrets, **free_text_canaries}) == []

    main_items = scan_table(stack.container.settings.table_name)
    with subtests.test("the main table holds only hashes, fingerprints and ciphertexts"):
        text = as_text(main_items)
        assert leaks(text, tokens_and_secrets) == []
        webhook = [i for i in main_items if i["sk"]["S"] == "WEBHOOK"]
        assert webhook and "secret_ciphertext" in webhook[0]
        credentials = [i for i in main_items if i["sk"]["S"].startswith("CRED#")]
        assert credentials and all("secret_hash" in i for i in credentials)
    with subtests.test("free text is stored with the delegation (so the canaries were really sent)"):
        text = as_text(main_items)
        assert all(value in text for value in free_text.values())

    with subtests.test("the S3 audit export holds neither secrets, tokens nor copied free text"):
        objects = export_objects(stack, audit_items)
        assert any(key.endswith(".jsonl.gz") for key in objects), sorted(objects)
        exported = "\n".join(objects.values())
        assert (
            sum(1 for line in exported.splitlines() if line.startswith("{") and '"event_id"' in line)
            >= len(audit_items) // 2
        )
        assert leaks(exported, {**tokens_and_secrets, **free_text_canaries}) == []

    with subtests.test("the webhook deliveries carry no secret or token"):
        deliveries = receiver.wait_for(1)
        text = "\n".join(d.body.decode() + json.dumps(d.headers) for d in deliveries)
        assert (
            leaks(text, {k: v for k, v in tokens_and_secrets.items() if "secret from PUT /webhooks" not in k})
            == []
        )

    with subtests.test("the API's own replies never echo a credential canary"):
        replies = as_text([[r.status, r.body] for r in harvest.replies])
        canaries = {f"canary: {n}": v for n, v in credential_canaries.items()}
        assert leaks(replies, canaries, shapes=False) == []

    captured = capfd.readouterr()
    logged = logs.getvalue() + captured.out + captured.err
    with subtests.test("the logs were captured"):
        assert '"message":"request"' in logged.replace(" ", ""), logged[:2000]
        assert "/delegations/request" in logged
    with subtests.test("nothing logged contains a secret, a token or request free text"):
        assert leaks(logged, {**tokens_and_secrets, **free_text_canaries}) == []
        assert quote(credential_canaries["webhook URL password"]) not in logged


def test_no_vault_token_or_provider_secret_leaves_its_ciphertext(
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    logs: io.StringIO,
    receiver: Receiver,
    capfd: pytest.CaptureFixture[str],
    subtests: pytest.Subtests,
) -> None:
    """The token vault (issue 13, item 5): connect with the tenant's own OAuth client, the
    callback, exchanges (down-scoped and cached), forced refreshes with rotation and a dead
    grant that tells the admins by webhook. The provider's refresh and access tokens and the
    tenant's client secret appear nowhere: not in a reply (an access token only as the
    `access_token` of an exchange's answer), a log line, the audit log or its S3 export, a
    webhook body, or the main table (where they exist only as ciphertexts)."""
    from tests.functional.vault_helpers import outcome, vault_world

    with vault_world(monkeypatch) as w:
        harvest = Harvest(w.stack)
        stack, med, provider = w.stack, w.med, w.provider

        def ok(reply: Reply, *statuses: int) -> Any:
            assert reply.status in statuses, (reply.status, reply.body)
            return reply.body

        own_secret = canary("vault-client-secret-")
        provider.clients["medicore-own-client"] = own_secret
        provider.rotate = True
        settings = {"client_id": "medicore-own-client", "client_secret": own_secret}
        ok(stack.call("PUT", "/vault/providers/local-google", med.admin_token, settings), 200, 201)
        ok(stack.call("GET", "/vault/providers", med.admin_token), 200)
        ok(stack.call("PUT", "/webhooks", med.admin_token, {"url": receiver.url}), 201)

        started = ok(
            stack.call(
                "POST",
                "/vault/connect",
                med.admin_token,
                {"provider": "local-google", "agent_ids": [w.agent.agent_id], "label": "Calendar"},
            ),
            201,
        )
        cid = started["connection_id"]
        assert outcome(w.callback(w.med_admin, provider.authorize(started["authorize_url"]))) == {
            "connected": cid
        }
        for scopes in (None, ["calendar.readonly"], ["calendar.readonly"]):
            body = {"connection_id": cid, **({"scopes": scopes} if scopes else {})}
            ok(stack.call("POST", "/vault/exchange", w.agent.token, body), 200)
        ok(stack.call("POST", f"/vault/connections/{cid}/check", med.admin_token), 200)
        ok(stack.call("GET", "/vault/connections", med.admin_token), 200)
        ok(stack.call("GET", f"/vault/connections/{cid}", med.admin_token), 200)
        provider.fail_next = [error_answer(400, "invalid_grant")]
        assert (
            ok(stack.call("POST", f"/vault/connections/{cid}/check", med.admin_token), 200)["status"]
            == "needs_reauth"
        )
        ok(stack.call("POST", "/vault/exchange", w.agent.token, {"connection_id": cid}), 409)
        ok(stack.call("DELETE", f"/vault/connections/{cid}", med.admin_token), 200)
        assert stack.container.webhook_dispatcher.flush(10)
        stack.container.webhook_dispatcher.close()

        refresh_tokens = {f"refresh token #{n}": t for n, t in enumerate(provider.issued_refresh_tokens)}
        access_tokens = {f"access token #{n}": t for n, t in enumerate(provider.issued_access_tokens)}
        assert len(refresh_tokens) >= 3 and len(access_tokens) >= 4  # rotation, down-scoping, refreshes
        never = {**refresh_tokens, **access_tokens, "tenant's client secret": own_secret}
        served = {
            v for k, v in harvest.found.items() if k.startswith("access_token from POST /vault/exchange")
        }
        assert served and served <= set(access_tokens.values())

        with subtests.test("replies: no refresh token or client secret; access tokens only as exchanged"):
            bodies = []
            for reply in harvest.replies:
                body = reply.body
                if isinstance(body, dict) and body.get("access_token") in served:
                    body = {k: v for k, v in body.items() if k != "access_token"}
                bodies.append([reply.status, body, dict(reply.headers)])
            assert leaks(as_text(bodies), never, shapes=False) == []

        audit_items = scan_table(stack.container.settings.audit_table_name)
        with subtests.test("the audit table"):
            kinds = {i["type"]["S"] for i in audit_items if "type" in i}
            assert {"vault.connected", "vault.exchanged", "vault.needs_reauth", "vault.disconnected"} <= kinds
            assert leaks(as_text(audit_items), never, shapes=False) == []

        with subtests.test("the S3 audit export"):
            objects = export_objects(stack, audit_items)
            exported = "\n".join(objects.values())
            assert "vault.exchanged" in exported
            assert leaks(exported, never, shapes=False) == []

        with subtests.test("the webhook deliveries (vault.needs_reauth)"):
            deliveries = receiver.wait_for(1)
            text = "\n".join(d.body.decode() + json.dumps(d.headers) for d in deliveries)
            assert "vault.needs_reauth" in text and cid in text
            assert leaks(text, never, shapes=False) == []

        with subtests.test("the main table: tokens and the client secret only as ciphertexts"):
            items = scan_table(stack.container.settings.table_name)
            assert leaks(as_text(items), never, shapes=False) == []
            provider_item = [i for i in items if i["sk"]["S"] == "VPROVIDER#local-google"]
            assert provider_item and "client_secret_ciphertext" in provider_item[0]

        captured = capfd.readouterr()
        logged = logs.getvalue() + captured.out + captured.err
        with subtests.test("the logs"):
            assert "/vault/exchange" in logged and "vault connection needs reauthorization" in logged
            assert leaks(logged, never, shapes=False) == []
