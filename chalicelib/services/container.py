"""Wiring: one set of repositories and services per process (one per Lambda container),
built on first use so that importing the app stays cheap."""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Any

from chalicelib.auth.authenticator import Authenticator
from chalicelib.auth.secrets import SECRET_HASH_KEY_CONTEXT, SECRET_HASH_KEY_FILE, SecretHasher
from chalicelib.auth.session import SessionAuthenticator
from chalicelib.config import Settings, get_settings
from chalicelib.crypto import Encryptor, KmsEncryptor, LocalEncryptor
from chalicelib.crypto.local import load_or_create_key
from chalicelib.services.agents import AgentService
from chalicelib.services.audit import AuditService
from chalicelib.services.auth_failures import FailedAuthentications
from chalicelib.services.counting import EventCounter
from chalicelib.services.delegations import DelegationService
from chalicelib.services.federation import FederatedTokens, JwtBearerGrant
from chalicelib.services.graph import EdgeCounter, GraphService
from chalicelib.services.notify import Notifier, NullNotifier
from chalicelib.services.oauth import CibaGrant, ClientCredentialsGrant, TokenEndpoint, TokenExchangeGrant
from chalicelib.services.platform import PlatformService
from chalicelib.services.policies import PolicyService
from chalicelib.services.ratelimit import RateLimiter
from chalicelib.services.revocation import RevocationService
from chalicelib.services.signin import SignInService
from chalicelib.services.status_lists import StatusListService
from chalicelib.services.stepup import StepUpService
from chalicelib.services.tenants import TenantService
from chalicelib.services.users import UserService
from chalicelib.services.verification import VerificationService
from chalicelib.services.webhook_delivery import RetryPolicy, WebhookDispatcher
from chalicelib.services.webhooks import WebhookNotifier, WebhookService
from chalicelib.store import models, scoped_credentials
from chalicelib.store.agents import AgentRepository
from chalicelib.store.audit import AuditRepository
from chalicelib.store.counters import CounterRepository
from chalicelib.store.credentials import AuthenticationLookup, CredentialRepository
from chalicelib.store.db import Database
from chalicelib.store.delegations import DelegationRepository
from chalicelib.store.edges import EdgeRepository
from chalicelib.store.people import PeopleRepository
from chalicelib.store.policies import PolicyRepository
from chalicelib.store.ratelimits import RateLimitRepository
from chalicelib.store.reads import BatchReader
from chalicelib.store.status_lists import StatusListRepository
from chalicelib.store.tenants import TenantRepository
from chalicelib.store.webhooks import WebhookRepository
from chalicelib.tokens import KeySet, KmsSigner, LocalKeySigner, Signer, TokenVerifier

REMOTE_KEYS_MAX_BYTES = 64 * 1024  # a JWK set or a discovery document


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._s3: Any = None
        models.configure(settings)
        scoped_credentials.configure(
            scoped_credentials.provider_for(
                settings.data_plane_role_arn,
                settings.aws_region,
                settings.table_name,
                settings.audit_table_name,
                settings.aws_endpoint,
            )
        )
        self.db = Database(settings)
        self.tenant_repo = TenantRepository()
        self.credential_repo = CredentialRepository()
        self.agent_repo = AgentRepository()
        self.policy_repo = PolicyRepository()
        self.delegation_repo = DelegationRepository()
        self.audit_repo = AuditRepository()
        self.webhook_repo = WebhookRepository()
        self.counter = EventCounter(CounterRepository())
        self.edge_repo = EdgeRepository()
        self.auditor = AuditService(
            self.audit_repo, settings, self.s3_client, self.counter, EdgeCounter(self.edge_repo)
        )

    # Keys are loaded once, as key objects, the first time a token is signed or checked.
    @cached_property
    def signer(self) -> Signer:
        if self.settings.signer == "kms":
            assert self.settings.kms_key_id is not None
            return KmsSigner(self.settings.kms_key_id, self._kms_client)
        return LocalKeySigner.load_or_create(self.settings.signing_key_path)

    def s3_client(self) -> Any:
        """The S3 client (audit exports), built on first use."""
        if self._s3 is None:
            import boto3
            from botocore.config import Config

            self._s3 = boto3.client(
                "s3",
                region_name=self.settings.aws_region,
                endpoint_url=self.settings.aws_endpoint,
                config=Config(signature_version="s3v4"),  # presigned URLs: SigV4
            )
        return self._s3

    def _kms_client(self) -> Any:
        import boto3

        return boto3.client(
            "kms", region_name=self.settings.aws_region, endpoint_url=self.settings.aws_endpoint
        )

    def _data_key_client(self) -> Any:
        """KMS for the data key: signed with the request's tenant-scoped credentials."""
        import boto3

        session = boto3.Session(botocore_session=scoped_credentials.ScopedSession())
        return session.client(
            "kms", region_name=self.settings.aws_region, endpoint_url=self.settings.aws_endpoint
        )

    @cached_property
    def keys(self) -> KeySet:
        return KeySet(self.signer, _retired_keys(self.settings))

    @cached_property
    def verifier(self) -> TokenVerifier:
        return TokenVerifier(self.keys, self.settings.issuer)

    @cached_property
    def authenticator(self) -> Authenticator:
        failures = FailedAuthentications(self.db, self.rate_limiter, self.auditor)
        return Authenticator(
            self.settings,
            AuthenticationLookup(),
            lambda: self.verifier,
            self.secret_hasher,
            failure_check=failures,
            source_check=failures.check_source,
            failure_keys=failures.keys,
            remote_keys=lambda: self.remote_keys,
        )

    @cached_property
    def remote_keys(self) -> Any:
        """Published public keys (agents' jwks_uri, trusted issuers' JWKS by discovery), cached
        per container; fetched through the SSRF guard (loopback only on the local stage)."""
        from chalicelib.tokens.remote_jwks import RemoteKeys
        from chalicelib.vault.transport import PinnedProviderTransport

        transport = PinnedProviderTransport(
            allow_private=self.settings.stage == "local",
            connect_timeout=2.0,
            read_timeout=3.0,
            max_bytes=REMOTE_KEYS_MAX_BYTES,
        )
        return RemoteKeys(transport.get)

    @cached_property
    def secret_hasher(self) -> SecretHasher:
        """HMAC-SHA256 of generated secrets under a server-side key, loaded once."""
        if self.settings.encryptor == "kms":
            blob = self.settings.secret_hash_key_blob
            assert blob is not None
            # the function's own role unwraps it: its context names no tenant
            unscoped = KmsEncryptor(self.settings.kms_data_key_id or "", self._kms_client)
            return SecretHasher(lambda: unscoped.decrypt(blob, SECRET_HASH_KEY_CONTEXT))
        return SecretHasher(lambda: load_or_create_key(self.settings.state_dir / SECRET_HASH_KEY_FILE))

    @cached_property
    def batch_reader(self) -> BatchReader:
        return BatchReader(self.db, self.settings.table_name)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        return RateLimiter(self.settings, RateLimitRepository(), self.db)

    @cached_property
    def token_endpoint(self) -> TokenEndpoint:
        endpoint = TokenEndpoint()
        endpoint.register(
            ClientCredentialsGrant(
                self.settings,
                self.db,
                self.credential_repo,
                self.secret_hasher,
                lambda: self.signer,
                self.auditor,
            )
        )
        endpoint.register(CibaGrant(lambda: self.stepup))
        endpoint.register(TokenExchangeGrant(lambda: self.vault_exchange, lambda: self.federated_tokens))
        endpoint.register(JwtBearerGrant(lambda: self.federated_tokens))
        return endpoint

    @cached_property
    def federated_tokens(self) -> FederatedTokens:
        """Federated agents' JWTs (trusted external issuers) for API tokens."""
        return FederatedTokens(
            self.settings,
            self.db,
            self.batch_reader,
            self.rate_limiter,
            self.auditor,
            lambda: self.signer,
            lambda: self.remote_keys,
        )

    @cached_property
    def tenants(self) -> TenantService:
        return TenantService(
            self.settings,
            self.db,
            self.tenant_repo,
            self.credential_repo,
            self.auditor,
            self.secret_hasher,
            self.counter,
            self.batch_reader,
        )

    @cached_property
    def delegations(self) -> DelegationService:
        return DelegationService(
            self.settings,
            self.db,
            self.tenant_repo,
            self.policy_repo,
            self.delegation_repo,
            self.auditor,
            _LazySigner(self),
            self.rate_limiter,
            self.agent_repo,
            self.notifier,
            self.batch_reader,
            self.status_lists,
        )

    @cached_property
    def status_lists(self) -> StatusListService:
        return StatusListService(self.settings, StatusListRepository(), _LazySigner(self))

    @cached_property
    def agents(self) -> AgentService:
        return AgentService(
            self.settings,
            self.db,
            self.agent_repo,
            self.credential_repo,
            self.auditor,
            self.revocation.revoke_for_agent,
            self.secret_hasher,
            self.batch_reader,
            lambda: self.remote_keys,
        )

    @cached_property
    def stepup(self) -> StepUpService:
        return StepUpService(
            self.db, self.delegation_repo, self.delegations, self.auditor, self.notifier, self.batch_reader
        )

    @cached_property
    def notifier(self) -> Notifier:
        if self.settings.webhook_delivery == "stream":
            return NullNotifier()  # the audit stream's function delivers (webhook_stream)
        # Per tenant: one without a webhook gets NullNotifier's behaviour (nothing sent).
        return WebhookNotifier(self.webhook_repo, self.encryptor, self.webhook_dispatcher)

    @cached_property
    def webhook_dispatcher(self) -> WebhookDispatcher:
        return WebhookDispatcher(
            RetryPolicy(backoff_base=self.settings.webhook_backoff_ms / 1000),
            allow_private=self.settings.stage == "local",  # as registration: loopback receivers locally only
        )

    @cached_property
    def webhooks(self) -> WebhookService:
        return WebhookService(
            self.settings,
            self.db,
            self.webhook_repo,
            self.encryptor,
            self.auditor,
            self.batch_reader,
            self.webhook_dispatcher,
        )

    @cached_property
    def encryptor(self) -> Encryptor:
        if self.settings.encryptor == "kms":
            assert self.settings.kms_data_key_id is not None
            return KmsEncryptor(self.settings.kms_data_key_id, self._data_key_client)
        return LocalEncryptor.in_state_dir(self.settings.state_dir)

    @cached_property
    def policies(self) -> PolicyService:
        return PolicyService(self.db, self.policy_repo, self.auditor, self.batch_reader)

    @cached_property
    def graph(self) -> GraphService:
        return GraphService(self.edge_repo, self.batch_reader)

    @cached_property
    def verification(self) -> VerificationService:
        return VerificationService(
            self.tenant_repo, self.revocation, lambda: self.verifier, self.batch_reader
        )

    @cached_property
    def revocation(self) -> RevocationService:
        return RevocationService(
            self.db,
            self.tenant_repo,
            self.delegation_repo,
            self.auditor,
            self.batch_reader,
            StatusListRepository(),
        )

    @cached_property
    def platform(self) -> PlatformService:
        return PlatformService(self.tenant_repo, self.counter, self.batch_reader)

    # -- people ----------------------------------------------------------------------------------
    @cached_property
    def people_repo(self) -> PeopleRepository:
        return PeopleRepository()

    @cached_property
    def sessions(self) -> SessionAuthenticator:
        return SessionAuthenticator(self.settings, self.secret_hasher)

    @cached_property
    def oidc_client(self) -> Any:
        """The identity provider's client (discovery and keys fetched on first use)."""
        from chalicelib.auth.oidc import OidcClient, ProviderConfig

        settings = self.settings
        assert settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret
        return OidcClient(
            ProviderConfig(
                issuer=settings.oidc_issuer,
                client_id=settings.oidc_client_id,
                client_secret=settings.oidc_client_secret,
                scopes=settings.oidc_scopes,
                tenant_claim=settings.oidc_tenant_claim,
            )
        )

    @cached_property
    def sign_in(self) -> SignInService:
        return SignInService(
            self.settings,
            self.db,
            self.people_repo,
            self.batch_reader,
            self.auditor,
            self.secret_hasher,
            lambda: self.oidc_client,
        )

    @cached_property
    def users(self) -> UserService:
        return UserService(
            self.settings, self.db, self.people_repo, self.batch_reader, self.auditor, self.secret_hasher
        )

    # -- the token vault ---------------------------------------------------------------------------
    @cached_property
    def vault_provider_client(self) -> Any:
        """The vault's OAuth client towards providers (discovery and JWKS cached per process)."""
        from chalicelib.vault.client import ProviderClient
        from chalicelib.vault.transport import PinnedProviderTransport

        # Through the webhooks' SSRF guard; loopback (the local stand-in) only on the local stage.
        return ProviderClient(PinnedProviderTransport(allow_private=self.settings.stage == "local"))

    @cached_property
    def vault_support(self) -> Any:
        from chalicelib.services.vault import VaultSupport

        return VaultSupport(self.settings, self.encryptor, lambda: self.vault_provider_client)

    @cached_property
    def connection_repo(self) -> Any:
        from chalicelib.store.connections import ConnectionRepository

        return ConnectionRepository()

    @cached_property
    def vault(self) -> Any:
        from chalicelib.services.vault import VaultService

        return VaultService(
            self.settings,
            self.db,
            self.connection_repo,
            self.batch_reader,
            self.auditor,
            self.secret_hasher,
            self.vault_support,
        )

    @cached_property
    def vault_callback(self) -> Any:
        from chalicelib.services.vault_callback import VaultCallback

        return VaultCallback(
            self.settings, self.db, self.connection_repo, self.auditor, self.secret_hasher, self.vault_support
        )

    @cached_property
    def vault_exchange(self) -> Any:
        """The agents' exchange, the admin's check and the idle-refresh job's refresh."""
        from chalicelib.services.vault_exchange import VaultExchangeService

        return VaultExchangeService(
            self.db, self.connection_repo, self.batch_reader, self.auditor, self.vault_support, self.notifier
        )

    @cached_property
    def audit_exporter(self) -> Any:
        """The audit stream -> S3 export (chalicelib/jobs/audit_export.py), with digests."""
        from chalicelib.jobs.audit_digest import DigestWriter
        from chalicelib.jobs.audit_export import AuditExporter
        from chalicelib.jobs.objects import S3ObjectStore

        store = S3ObjectStore(self.settings.audit_bucket, self.s3_client)
        return AuditExporter(store, DigestWriter(store, lambda: self.signer, lambda: self.keys))

    @cached_property
    def webhook_stream(self) -> Any:
        """Step-up and vault webhooks from the audit stream (chalicelib/jobs/webhook_delivery.py)."""
        from chalicelib.jobs.webhook_delivery import StreamDelivery, stream_retry
        from chalicelib.services.safe_http import PinnedPoster
        from chalicelib.store.webhook_deliveries import DeliveryMarkers

        return StreamDelivery(
            self.batch_reader,
            DeliveryMarkers(self.db, self.settings.table_name),
            self.encryptor,
            PinnedPoster(allow_private=self.settings.stage == "local"),  # loopback receivers locally only
            stream_retry(self.settings.webhook_backoff_ms),
        )


class _LazySigner:
    """Defers loading the key until the first signature."""

    def __init__(self, container: Container) -> None:
        self._container = container

    @property
    def kid(self) -> str:
        return self._container.signer.kid

    def public_key(self) -> Any:
        return self._container.signer.public_key()

    def sign(self, signing_input: bytes) -> bytes:
        return self._container.signer.sign(signing_input)


def _retired_keys(settings: Settings) -> list[Any]:
    """Public keys that no longer sign but still verify tokens they signed (PEM files)."""
    if settings.retired_keys_dir is None or not settings.retired_keys_dir.is_dir():
        return []
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    return [load_pem_public_key(p.read_bytes()) for p in sorted(settings.retired_keys_dir.glob("*.pem"))]


@lru_cache(maxsize=1)
def get_container() -> Container:
    return Container(get_settings())


def reset() -> None:
    """Forget settings and services (tests that change the environment)."""
    get_settings.cache_clear()
    get_container.cache_clear()
