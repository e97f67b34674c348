"""(c) ALLOW issuance in-process: the real Chalice app through `chalice.test.Client`, over moto
(the approach of tests/functional/conftest.py), plus `POST /delegations/verify` the same way.

Every repetition gets a fresh in-memory AWS, so repetitions start from the same table size.
The time spent inside moto's DynamoDB backend is measured separately (by wrapping moto's
botocore stubber): what is left is VaultGuard + Chalice + pynamodb/botocore serialisation.
"""

from __future__ import annotations

import contextlib
import cProfile
import functools
import io
import json
import os
import pstats
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._timing import Repetition, percentile, run_loop, summarise

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "http://bench.vaultguard.test"
JSON_CT = {"content-type": "application/json"}
# Budgets far above what a run sends: the rate limiter still does its per-request work (its
# real cost) but never answers 429. Variables a build without rate limits simply ignores.
RATE_LIMIT_ENV = {
    "VAULTGUARD_RATE_DELEGATIONS_PER_MINUTE": "1000000",
    "VAULTGUARD_RATE_CLIENT_REQUESTS_PER_15_MINUTES": "10000000",
}
FORM_CT = {"content-type": "application/x-www-form-urlencoded"}


class MotoMeter:
    """Accumulates wall time spent inside moto's request handling (the fake DynamoDB)."""

    def __init__(self) -> None:
        self.ns = 0
        self.calls = 0
        self._original: Any = None

    def __enter__(self) -> MotoMeter:
        from moto.core.botocore_stubber import BotocoreStubber

        self._original = original = BotocoreStubber.__call__
        meter = self

        def timed(stub: Any, *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter_ns()
            try:
                return original(stub, *args, **kwargs)
            finally:
                meter.ns += time.perf_counter_ns() - t0
                meter.calls += 1

        BotocoreStubber.__call__ = timed  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        BotocoreStubber.__call__ = self._original  # type: ignore[method-assign]


@contextlib.contextmanager
def dynamodb_calls() -> Iterator[list[str]]:
    """The DynamoDB operations made inside the block, in order (e.g. `GetItem TENANT`)."""
    import botocore.client

    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def spy(client: Any, operation: str, params: dict[str, Any]) -> Any:
        detail = ""
        if operation == "TransactWriteItems":
            detail = f"{len(params.get('TransactItems', []))} items"
        elif operation == "BatchGetItem":
            detail = f"{sum(len(v.get('Keys', [])) for v in params.get('RequestItems', {}).values())} keys"
        elif "Key" in params:
            detail = str(params["Key"].get("sk", {}).get("S", "")).split("#", 1)[0]
        calls.append(f"{operation} {detail}".strip())
        return original(client, operation, params)

    botocore.client.BaseClient._make_api_call = spy
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = original


@dataclass
class World:
    call: Callable[..., tuple[int, Any]]
    agent_token: str
    receiving_tenant_id: str
    receiving_admin_token: str

    def issue(self) -> dict[str, Any]:
        status, body = self.call(
            "POST",
            "/delegations/request",
            self.agent_token,
            {"receiving_tenant_id": self.receiving_tenant_id, "action": "stock.write"},
        )
        if status != 201:
            raise RuntimeError(f"issuance answered {status}: {body}")
        return body

    def verify(self, token: str) -> dict[str, Any]:
        status, body = self.call("POST", "/delegations/verify", self.receiving_admin_token, {"token": token})
        if status != 200 or not body.get("active"):
            raise RuntimeError(f"verification answered {status}: {body}")
        return body


def _bench_env(workdir: Path) -> dict[str, str]:
    return {
        "VAULTGUARD_ISSUER": ISSUER,
        "VAULTGUARD_SIGNING_KEY_PATH": str(workdir / "signing-key.pem"),
        "VAULTGUARD_STATE_DIR": str(workdir),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        **RATE_LIMIT_ENV,
    }


@contextlib.contextmanager
def _patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.pop("VAULTGUARD_AWS_ENDPOINT", None)  # never a real endpoint in-process
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def moto_world() -> Iterator[World]:
    """A fresh moto AWS, tables, platform client, two tenants, an agent and an ALLOW policy,
    all created through the API as in tests/functional/conftest.py."""
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib.config import get_settings
    from chalicelib.services import container as container_module
    from chalicelib.services.bootstrap import create_platform_client
    from chalicelib.store.schema import ensure_tables

    with tempfile.TemporaryDirectory(prefix="vg-bench-") as tmp, _patched_environ(
        _bench_env(Path(tmp))
    ):
        container_module.reset()
        try:
            with mock_aws():
                ensure_tables(get_settings(), boto3.client("dynamodb", region_name="us-east-1"))
                from app import app

                client = Client(app, stage_name="local", project_dir=str(ROOT))

                def call(
                    method: str,
                    path: str,
                    token: str | None = None,
                    body: Any = None,
                    form: str | None = None,
                ) -> tuple[int, Any]:
                    headers = dict(FORM_CT if form is not None else JSON_CT)
                    if token:
                        headers["authorization"] = f"Bearer {token}"
                    text = form if form is not None else (json.dumps(body) if body is not None else "")
                    payload = text.encode()
                    response = client.http.request(method, path, headers=headers, body=payload)
                    return response.status_code, (json.loads(response.body) if response.body else None)

                def token(client_id: str, secret: str) -> str:
                    status, body = call(
                        "POST",
                        "/oauth/token",
                        form=f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}",
                    )
                    if status != 200:
                        raise RuntimeError(f"/oauth/token answered {status}: {body}")
                    return str(body["access_token"])

                def created(status_body: tuple[int, Any]) -> Any:
                    status, body = status_body
                    if status not in (200, 201):
                        raise RuntimeError(f"setup call answered {status}: {body}")
                    return body

                platform_id, platform_secret = create_platform_client(container_module.get_container())
                platform = token(platform_id, platform_secret)
                requesting = created(call("POST", "/tenants", platform, {"name": "MediCore"}))
                receiving = created(call("POST", "/tenants", platform, {"name": "NatSupply"}))
                req_admin = token(requesting["admin"]["client_id"], requesting["admin"]["client_secret"])
                rec_admin = token(receiving["admin"]["client_id"], receiving["admin"]["client_secret"])
                agent = created(call("POST", "/agents", req_admin, {"name": "bench agent"}))
                created(
                    call(
                        "PUT",
                        "/policies",
                        rec_admin,
                        {
                            "action": "stock.write",
                            "effect": "ALLOW",
                            "requesting_tenant_id": requesting["tenant_id"],
                        },
                    )
                )
                yield World(
                    call=call,
                    agent_token=token(agent["client_id"], agent["client_secret"]),
                    receiving_tenant_id=receiving["tenant_id"],
                    receiving_admin_token=rec_admin,
                )
        finally:
            container_module.reset()


def _table_items() -> dict[str, int]:
    import boto3

    from chalicelib.config import get_settings

    settings = get_settings()
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    return {
        name: int(ddb.scan(TableName=name, Select="COUNT")["Count"])
        for name in (settings.table_name, settings.audit_table_name)
    }


def _metered_loop(op: Callable[[], Any], meter: MotoMeter, max_ops: int, max_seconds: float) -> Repetition:
    storage: list[float] = []

    def timed() -> None:
        before = meter.ns
        op()
        storage.append((meter.ns - before) / 1000)

    rep = run_loop(timed, max_ops=max_ops, max_seconds=max_seconds, min_ops=5)
    rep.extra["storage"] = storage
    rep.extra["app"] = [total - s for total, s in zip(rep.latencies_us, storage, strict=True)]
    return rep


def bench_inprocess(
    *, repeats: int, max_requests: int, max_seconds: float, verify_requests: int, verify_seconds: float,
    warmup: int = 3, log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Issuance (and verification) latency in-process, fresh stack per repetition."""
    issue_reps: list[Repetition] = []
    verify_reps: list[Repetition] = []
    growth: list[dict[str, Any]] = []
    for i in range(repeats):
        setup_started = time.perf_counter()
        with moto_world() as world, MotoMeter() as meter:
            setup_s = time.perf_counter() - setup_started
            items_before = _table_items()
            for _ in range(warmup):
                world.issue()
            rep = _metered_loop(world.issue, meter, max_requests, max_seconds)
            issue_reps.append(rep)
            items_after = _table_items()
            tenth = max(1, rep.ops // 10)
            growth.append(
                {
                    "setup_s": round(setup_s, 3),
                    "items_before": items_before,
                    "items_after": items_after,
                    "first_tenth_p50_us": percentile(sorted(rep.latencies_us[:tenth]), 50),
                    "last_tenth_p50_us": percentile(sorted(rep.latencies_us[-tenth:]), 50),
                }
            )
            with dynamodb_calls() as issue_calls:
                token = world.issue()["access_token"]
            with dynamodb_calls() as verify_calls:
                world.verify(token)
            dynamodb_ops = {"issuance": issue_calls, "verify": verify_calls}
            if verify_requests > 0:
                verify_op = functools.partial(world.verify, token)
                verify_reps.append(_metered_loop(verify_op, meter, verify_requests, verify_seconds))
        log(
            f"  (c) repetition {i + 1}/{repeats}: {rep.ops} issuances, p50 {rep.p(50) / 1000:.1f} ms "
            f"(storage {rep.p(50, 'storage') / 1000:.1f} ms), setup {setup_s:.1f} s"
        )
    out = {
        "issuance": summarise(issue_reps, series=("storage", "app")),
        "growth": growth,
        "dynamodb_calls": dynamodb_ops,
    }
    if verify_reps:
        out["verify"] = summarise(verify_reps, series=("storage", "app"))
    return out


# -- where the time goes ---------------------------------------------------------------------------

_GROUPS = (
    ("moto (fake DynamoDB)", "/moto/"),
    ("copy.deepcopy (moto's transaction backup)", "/copy.py"),
    ("botocore/boto3 (client side)", "/botocore/"),
    ("botocore/boto3 (client side)", "/boto3/"),
    ("pynamodb", "/pynamodb/"),
    ("chalice (local gateway, routing)", "/chalice/"),
    ("powertools (logs, metrics)", "/aws_lambda_powertools/"),
    ("PyJWT", "/jwt/"),
    ("cryptography (RSA sign/verify)", "/cryptography/"),
    ("vaultguard (chalicelib)", "/chalicelib/"),
    ("other dependencies", "/site-packages/"),
)


def _group(filename: str, funcname: str) -> str:
    if filename == "~":
        lowered = funcname.lower()
        if "cryptography" in lowered or "openssl" in lowered:
            return "cryptography (RSA sign/verify)"
        return "~"
    for name, marker in _GROUPS:
        if marker in filename:
            return name
    return "stdlib and other"


_STORAGE_GROUPS = frozenset({"moto (fake DynamoDB)", "copy.deepcopy (moto's transaction backup)"})


def _under_storage(raw: dict[Any, Any]) -> dict[Any, float]:
    """For each profiled function, the fraction of its self time spent on behalf of moto:
    1 for moto's own code, else the callers' fractions weighted by the time each caller
    spent in it (pstats keeps self time per caller edge). A few sweeps converge."""
    fraction = {f: 1.0 if _group(f[0], f[2]) in _STORAGE_GROUPS else 0.0 for f in raw}
    fixed = {f for f, v in fraction.items() if v == 1.0}
    for _ in range(50):
        changed = False
        for f, (_cc, _nc, _tt, _ct, callers) in raw.items():
            if f in fixed or not callers:
                continue
            weights = sum(edge[2] for edge in callers.values())
            if weights <= 0:
                weights = sum(edge[3] for edge in callers.values())
                value = sum(edge[3] * fraction.get(c, 0.0) for c, edge in callers.items()) / weights if (
                    weights > 0) else 0.0
            else:
                value = sum(edge[2] * fraction.get(c, 0.0) for c, edge in callers.items()) / weights
            if abs(value - fraction[f]) > 1e-6:
                fraction[f] = value
                changed = True
        if not changed:
            break
    return fraction


def _self_time_by_component(raw: dict[Any, Any], outside_storage_only: bool = False) -> dict[str, float]:
    """Self time per component. A C builtin's time goes to the component that called it;
    with `outside_storage_only`, time spent on behalf of moto is left out everywhere."""
    under = _under_storage(raw) if outside_storage_only else {}
    out: dict[str, float] = {}

    def add(group: str, seconds: float) -> None:
        if outside_storage_only and group in _STORAGE_GROUPS:
            return
        out[group] = out.get(group, 0.0) + seconds

    for f, (_cc, _nc, tt, _ct, callers) in raw.items():
        group = _group(f[0], f[2])
        keep = 1.0 - under.get(f, 0.0)
        if group != "~":
            add(group, tt * keep)
            continue
        caller_tt = sum(edge[2] for edge in callers.values()) or 1.0
        for (cf, _cl, cname), edge in callers.items():
            caller_group = _group(cf, cname)
            caller_group = "C builtins called from C" if caller_group == "~" else caller_group
            add(caller_group, tt * keep * edge[2] / caller_tt)
    return out


def profile_issuance(*, warm_requests: int, profiled: int, top: int = 10) -> dict[str, Any]:
    """cProfile `profiled` issuances on a fresh stack after `warm_requests` warm ones."""
    with moto_world() as world:
        for _ in range(warm_requests):
            world.issue()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(profiled):
            world.issue()
        profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total_tt = sum(v[2] for v in raw.values()) or 1.0
    entries = sorted(raw.items(), key=lambda kv: kv[1][3], reverse=True)
    cumulative = [
        {
            "function": f"{Path(f).name if f != '~' else ''}:{line}({name})" if f != "~" else name,
            "file": f,
            "ncalls": nc,
            "tottime_s": round(tt, 4),
            "cumtime_s": round(ct, 4),
            "cum_share": round(ct / total_tt, 3),
        }
        for (f, line, name), (_cc, nc, tt, ct, _callers) in entries[:top]
    ]
    # The same ranking without the thin wrappers (Chalice dispatch, middleware, decorators):
    own_code = [
        e for e in (
            {"function": f"{Path(f).name}:{line}({name})", "cumtime_s": round(ct, 4),
             "cum_share": round(ct / total_tt, 3), "ncalls": nc}
            for (f, line, name), (_cc, nc, tt, ct, _callers) in entries
            if "/chalicelib/" in f
        )
    ][:top]
    by_group = _self_time_by_component(raw)
    outside = _self_time_by_component(raw, outside_storage_only=True)
    rest_total = sum(outside.values()) or 1.0
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    return {
        "profiled_issuances": profiled,
        "after_warm_issuances": warm_requests,
        "total_s_under_profiler": round(total_tt, 4),
        "top_cumulative": cumulative,
        "top_cumulative_vaultguard": own_code,
        "self_time_by_component": {
            k: {"seconds": round(v, 4), "share": round(v / total_tt, 3)}
            for k, v in sorted(by_group.items(), key=lambda kv: kv[1], reverse=True)
        },
        "outside_moto_per_issuance_ms": round(rest_total / profiled * 1000, 2),
        "self_time_outside_moto": {
            k: {"seconds": round(v, 4), "share": round(v / rest_total, 3)}
            for k, v in sorted(outside.items(), key=lambda kv: kv[1], reverse=True)
        },
        "pstats_text": text.getvalue(),
    }
