"""One frozen Settings object, read from the environment once.

The Chalice stage in `.chalice/config.json` sets these variables; no other module reads
`os.environ` (the local launcher and tests set it before the first `get_settings()`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

STAGE = "VAULTGUARD_STAGE"
ISSUER = "VAULTGUARD_ISSUER"
API_AUDIENCE = "VAULTGUARD_API_AUDIENCE"
TABLE_NAME = "VAULTGUARD_TABLE"
AUDIT_TABLE_NAME = "VAULTGUARD_AUDIT_TABLE"
AWS_ENDPOINT = "VAULTGUARD_AWS_ENDPOINT"
AWS_REGION = "AWS_REGION"
AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"
SIGNER = "VAULTGUARD_SIGNER"
KMS_KEY_ID = "VAULTGUARD_KMS_KEY_ID"
STATE_DIR = "VAULTGUARD_STATE_DIR"
SIGNING_KEY_PATH = "VAULTGUARD_SIGNING_KEY_PATH"
RETIRED_KEYS_DIR = "VAULTGUARD_RETIRED_KEYS_DIR"
ACCESS_TOKEN_TTL = "VAULTGUARD_ACCESS_TOKEN_TTL"
MAX_BODY_BYTES = "VAULTGUARD_MAX_BODY_BYTES"
CORS_ORIGINS = "VAULTGUARD_CORS_ORIGINS"
SECRET_HASH_KEY_BLOB = "VAULTGUARD_SECRET_HASH_KEY_BLOB"
# What a first `make deploy` gives the functions until it has sealed the key with the stack's
# data key (infra/deploy.py): a function started with it refuses to start.
SECRET_HASH_KEY_PENDING = "pending-first-deploy"
RATE_DELEGATIONS_PER_MINUTE = "VAULTGUARD_RATE_DELEGATIONS_PER_MINUTE"
RATE_CLIENT_REQUESTS_PER_15_MINUTES = "VAULTGUARD_RATE_CLIENT_REQUESTS_PER_15_MINUTES"  # older name of writes
RATE_CLIENT_WRITES_PER_15_MINUTES = "VAULTGUARD_RATE_CLIENT_WRITES_PER_15_MINUTES"
RATE_CLIENT_READS_PER_15_MINUTES = "VAULTGUARD_RATE_CLIENT_READS_PER_15_MINUTES"
RATE_AUTH_FAILURES_PER_SOURCE = "VAULTGUARD_RATE_AUTH_FAILURES_PER_SOURCE"
RATE_AUTH_FAILURES_PER_CLIENT = "VAULTGUARD_RATE_AUTH_FAILURES_PER_CLIENT"
CLIENT_IP_HEADER = "VAULTGUARD_CLIENT_IP_HEADER"
ENCRYPTOR = "VAULTGUARD_ENCRYPTOR"
KMS_DATA_KEY_ID = "VAULTGUARD_KMS_DATA_KEY_ID"
# The role request paths assume, per tenant set, for tenant-scoped DynamoDB and data-key access
# (chalicelib/store/scoped_credentials.py); unset: the function's own role signs everything.
DATA_PLANE_ROLE_ARN = "VAULTGUARD_DATA_PLANE_ROLE_ARN"
WEBHOOK_BACKOFF_MS = "VAULTGUARD_WEBHOOK_BACKOFF_MS"
# Who delivers step-up and vault webhooks: "stream" (a function fed by the audit stream; every
# deployed stage, and `make run` through its stream poller) or "thread" (the request's process,
# in-process tests only: Lambda freezes threads after the response).
WEBHOOK_DELIVERY = "VAULTGUARD_WEBHOOK_DELIVERY"
WEBHOOK_DELIVERY_MODES = ("stream", "thread")
AUDIT_BUCKET = "VAULTGUARD_AUDIT_BUCKET"
CSV_INLINE_MAX_ROWS = "VAULTGUARD_CSV_INLINE_MAX_ROWS"
CLEANUP_INTERVAL_SECONDS = "VAULTGUARD_CLEANUP_INTERVAL_SECONDS"
STREAM_POLL_SECONDS = "VAULTGUARD_STREAM_POLL_SECONDS"
AUDIT_STREAM_ARN = "VAULTGUARD_AUDIT_STREAM_ARN"
OIDC_ISSUER = "VAULTGUARD_OIDC_ISSUER"
OIDC_CLIENT_ID = "VAULTGUARD_OIDC_CLIENT_ID"
OIDC_CLIENT_SECRET = "VAULTGUARD_OIDC_CLIENT_SECRET"
OIDC_SCOPES = "VAULTGUARD_OIDC_SCOPES"
OIDC_TENANT_CLAIM = "VAULTGUARD_OIDC_TENANT_CLAIM"
PUBLIC_URL = "VAULTGUARD_PUBLIC_URL"
SESSION_IDLE_SECONDS = "VAULTGUARD_SESSION_IDLE_SECONDS"
SESSION_MAX_SECONDS = "VAULTGUARD_SESSION_MAX_SECONDS"
APPROVAL_MAX_AGE_SECONDS = "VAULTGUARD_APPROVAL_MAX_AGE_SECONDS"
SELF_SIGNUP = "VAULTGUARD_SELF_SIGNUP"
RATE_SESSION_WRITES_PER_15_MINUTES = "VAULTGUARD_RATE_SESSION_WRITES_PER_15_MINUTES"
RATE_SESSION_READS_PER_15_MINUTES = "VAULTGUARD_RATE_SESSION_READS_PER_15_MINUTES"
# The token vault: the platform's OAuth client at Google (tenants may bring their own), and
# the local stand-in for Google under `make run` (chalicelib/local/idp.py), off until set.
GOOGLE_CLIENT_ID = "VAULTGUARD_GOOGLE_CLIENT_ID"
GOOGLE_CLIENT_SECRET = "VAULTGUARD_GOOGLE_CLIENT_SECRET"
LOCAL_GOOGLE_ISSUER = "VAULTGUARD_LOCAL_GOOGLE_ISSUER"
LOCAL_GOOGLE_CLIENT_ID = "VAULTGUARD_LOCAL_GOOGLE_CLIENT_ID"
LOCAL_GOOGLE_CLIENT_SECRET = "VAULTGUARD_LOCAL_GOOGLE_CLIENT_SECRET"
# Read by the local launcher only (chalicelib/local/__main__.py): how the stand-in behaves.
LOCAL_GOOGLE_ROTATE_REFRESH_TOKENS = "VAULTGUARD_LOCAL_GOOGLE_ROTATE_REFRESH_TOKENS"
LOCAL_GOOGLE_ACCESS_TOKEN_TTL = "VAULTGUARD_LOCAL_GOOGLE_ACCESS_TOKEN_TTL"

# Chalice needs the audit stream ARN when it packages the app (`chalice package --stage prod`
# with VAULTGUARD_AUDIT_STREAM_ARN set); this placeholder stands in elsewhere.
LOCAL_AUDIT_STREAM_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/vaultguard-audit/stream/local"


def _int(env: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = int(raw)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _check_deployed(stage: str, signer: str, encryptor: str, issuer: str) -> None:
    """Every stage but `local` runs on Lambda, where a local key file would be a key of each
    container's own (tokens no other container can verify, secrets no other can decrypt): such a
    stage refuses to start (the handler's import fails) unless both keys are KMS's and the issuer
    is the deployment's https URL."""
    if stage == "local":
        return
    problems = []
    if signer != "kms":
        problems.append(f"{SIGNER}=kms (got {signer!r})")
    if encryptor != "kms":
        problems.append(f"{ENCRYPTOR}=kms (got {encryptor!r})")
    if not issuer.startswith("https://") or len(issuer) <= len("https://"):
        problems.append(f"{ISSUER} as the deployment's https:// URL (got {issuer!r})")
    if problems:
        raise ValueError(f"the {stage!r} stage needs " + ", ".join(problems))


def _webhook_delivery(env: dict[str, str]) -> str:
    """"stream" on every deployed stage (it may not be "thread" there); "thread" by default on
    the local stage, whose launcher (`make run`) chooses "stream"."""
    stage = env.get(STAGE, "local")
    mode = env.get(WEBHOOK_DELIVERY) or ("thread" if stage == "local" else "stream")
    if mode not in WEBHOOK_DELIVERY_MODES:
        raise ValueError(f"{WEBHOOK_DELIVERY} must be 'stream' or 'thread', got {mode!r}")
    if mode == "thread" and stage != "local":
        raise ValueError(f"the {stage!r} stage needs {WEBHOOK_DELIVERY}=stream (Lambda freezes threads)")
    return mode


@dataclass(frozen=True)
class Settings:
    stage: str = "local"
    issuer: str = "http://127.0.0.1:8000"
    api_audience: str = "urn:vaultguard:api"
    table_name: str = "vaultguard"
    audit_table_name: str = "vaultguard-audit"
    aws_endpoint: str | None = None
    aws_region: str = "us-east-1"
    signer: str = "local"
    kms_key_id: str | None = None
    state_dir: Path = Path(".vaultguard")
    signing_key_path: Path = Path(".vaultguard/signing-key.pem")
    retired_keys_dir: Path | None = None
    access_token_ttl: int = 900
    default_delegation_ttl: int = 3600
    max_delegation_ttl: int = 86400
    default_stepup_expiry: int = 300
    stepup_interval: int = 5
    max_body_bytes: int = 64 * 1024
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    secret_hash_key_blob: str | None = None
    rate_delegations_per_minute: int = 20
    rate_client_writes_per_15_minutes: int = 200
    rate_client_reads_per_15_minutes: int = 2000
    rate_auth_failures_per_source: int = 50
    rate_auth_failures_per_client: int = 20
    client_ip_header: str | None = None
    encryptor: str = "local"
    kms_data_key_id: str | None = None
    data_plane_role_arn: str | None = None
    webhook_backoff_ms: int = 500
    webhook_delivery: str = "thread"
    audit_bucket: str = "vaultguard-audit-local"
    csv_inline_max_rows: int = 5000
    cleanup_interval_seconds: int = 300
    stream_poll_seconds: int = 3
    audit_stream_arn: str = LOCAL_AUDIT_STREAM_ARN
    # People (OIDC sign-in, backend-for-frontend): off until an issuer is configured.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: tuple[str, ...] = ("openid", "email", "profile")
    oidc_tenant_claim: str | None = None
    public_url: str = "http://127.0.0.1:8000"  # the origin people's browsers use
    session_idle_seconds: int = 30 * 60
    session_max_seconds: int = 12 * 3600
    approval_max_age_seconds: int = 43200
    self_signup: bool = False
    rate_session_writes_per_15_minutes: int = 600
    rate_session_reads_per_15_minutes: int = 6000
    google_client_id: str | None = None
    google_client_secret: str | None = None
    local_google_issuer: str | None = None
    local_google_client_id: str | None = None
    local_google_client_secret: str | None = None

    @property
    def sign_in_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        state_dir = Path(env.get(STATE_DIR) or ".vaultguard")
        signer = env.get(SIGNER, "local")
        if signer not in ("local", "kms"):
            raise ValueError(f"{SIGNER} must be 'local' or 'kms', got {signer!r}")
        if signer == "kms" and not env.get(KMS_KEY_ID):
            raise ValueError(f"{KMS_KEY_ID} is required when {SIGNER}=kms")
        encryptor = env.get(ENCRYPTOR) or "local"
        if encryptor not in ("local", "kms"):
            raise ValueError(f"{ENCRYPTOR} must be 'local' or 'kms', got {encryptor!r}")
        if encryptor == "kms" and not env.get(KMS_DATA_KEY_ID):
            raise ValueError(f"{KMS_DATA_KEY_ID} is required when {ENCRYPTOR}=kms")
        if encryptor == "kms" and not env.get(SECRET_HASH_KEY_BLOB):
            raise ValueError(f"{SECRET_HASH_KEY_BLOB} is required when {ENCRYPTOR}=kms")
        if encryptor == "kms" and env.get(SECRET_HASH_KEY_BLOB) == SECRET_HASH_KEY_PENDING:
            raise ValueError(
                f"{SECRET_HASH_KEY_BLOB} is still the first deploy's placeholder: `make deploy` seals "
                "the secret-hashing key with the stack's data key and updates the stack; run it to finish"
            )
        _check_deployed(env.get(STAGE, "local"), signer, encryptor, env.get(ISSUER, ""))
        origins = tuple(o.strip() for o in env.get(CORS_ORIGINS, "").split(",") if o.strip())
        retired = env.get(RETIRED_KEYS_DIR)
        return cls(
            stage=env.get(STAGE, "local"),
            issuer=env.get(ISSUER, "http://127.0.0.1:8000").rstrip("/"),
            api_audience=env.get(API_AUDIENCE, "urn:vaultguard:api"),
            table_name=env.get(TABLE_NAME, "vaultguard"),
            audit_table_name=env.get(AUDIT_TABLE_NAME, "vaultguard-audit"),
            aws_endpoint=env.get(AWS_ENDPOINT) or None,
            aws_region=env.get(AWS_REGION) or env.get(AWS_DEFAULT_REGION) or "us-east-1",
            signer=signer,
            kms_key_id=env.get(KMS_KEY_ID) or None,
            state_dir=state_dir,
            signing_key_path=Path(env.get(SIGNING_KEY_PATH) or state_dir / "signing-key.pem"),
            retired_keys_dir=Path(retired) if retired else None,
            access_token_ttl=_int(env, ACCESS_TOKEN_TTL, 900, 60, 86400),
            max_body_bytes=_int(env, MAX_BODY_BYTES, 64 * 1024, 1024, 6 * 1024 * 1024),
            cors_origins=origins,
            secret_hash_key_blob=env.get(SECRET_HASH_KEY_BLOB) or None,
            rate_delegations_per_minute=_int(env, RATE_DELEGATIONS_PER_MINUTE, 20, 0, 1_000_000),
            rate_client_writes_per_15_minutes=_int(
                env,
                RATE_CLIENT_WRITES_PER_15_MINUTES if env.get(RATE_CLIENT_WRITES_PER_15_MINUTES) else
                RATE_CLIENT_REQUESTS_PER_15_MINUTES,
                200,
                0,
                10_000_000,
            ),
            rate_client_reads_per_15_minutes=_int(env, RATE_CLIENT_READS_PER_15_MINUTES, 2000, 0, 10_000_000),
            rate_auth_failures_per_source=_int(env, RATE_AUTH_FAILURES_PER_SOURCE, 50, 0, 10_000_000),
            rate_auth_failures_per_client=_int(env, RATE_AUTH_FAILURES_PER_CLIENT, 20, 0, 10_000_000),
            client_ip_header=(env.get(CLIENT_IP_HEADER) or "").strip().lower() or None,
            encryptor=encryptor,
            kms_data_key_id=env.get(KMS_DATA_KEY_ID) or None,
            data_plane_role_arn=env.get(DATA_PLANE_ROLE_ARN) or None,
            webhook_backoff_ms=_int(env, WEBHOOK_BACKOFF_MS, 500, 0, 60_000),
            webhook_delivery=_webhook_delivery(env),
            audit_bucket=env.get(AUDIT_BUCKET) or "vaultguard-audit-local",
            csv_inline_max_rows=_int(env, CSV_INLINE_MAX_ROWS, 5000, 1, 1_000_000),
            cleanup_interval_seconds=_int(env, CLEANUP_INTERVAL_SECONDS, 300, 1, 86400),
            stream_poll_seconds=_int(env, STREAM_POLL_SECONDS, 3, 1, 3600),
            audit_stream_arn=env.get(AUDIT_STREAM_ARN) or LOCAL_AUDIT_STREAM_ARN,
            oidc_issuer=(env.get(OIDC_ISSUER) or "").strip() or None,
            oidc_client_id=env.get(OIDC_CLIENT_ID) or None,
            oidc_client_secret=env.get(OIDC_CLIENT_SECRET) or None,
            oidc_scopes=tuple((env.get(OIDC_SCOPES) or "openid email profile").split()),
            oidc_tenant_claim=(env.get(OIDC_TENANT_CLAIM) or "").strip() or None,
            public_url=(env.get(PUBLIC_URL) or env.get(ISSUER) or "http://127.0.0.1:8000").rstrip("/"),
            session_idle_seconds=_int(env, SESSION_IDLE_SECONDS, 30 * 60, 60, 86400),
            session_max_seconds=_int(env, SESSION_MAX_SECONDS, 12 * 3600, 300, 7 * 86400),
            approval_max_age_seconds=_int(env, APPROVAL_MAX_AGE_SECONDS, 43200, 0, 7 * 86400),
            self_signup=(env.get(SELF_SIGNUP) or "").strip().lower() in ("1", "true", "yes", "on"),
            rate_session_writes_per_15_minutes=_int(
                env, RATE_SESSION_WRITES_PER_15_MINUTES, 600, 0, 10_000_000
            ),
            rate_session_reads_per_15_minutes=_int(
                env, RATE_SESSION_READS_PER_15_MINUTES, 6000, 0, 10_000_000
            ),
            google_client_id=env.get(GOOGLE_CLIENT_ID) or None,
            google_client_secret=env.get(GOOGLE_CLIENT_SECRET) or None,
            local_google_issuer=(env.get(LOCAL_GOOGLE_ISSUER) or "").strip() or None,
            local_google_client_id=env.get(LOCAL_GOOGLE_CLIENT_ID) or None,
            local_google_client_secret=env.get(LOCAL_GOOGLE_CLIENT_SECRET) or None,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (one per Lambda container)."""
    return Settings.from_env()
