"""Typed settings from the environment (and ``.env``).

Names stay compatible with persistence-kit (``REPO_DATABASE``, ``MONGO_DSN``, ``POSTGRES_*``...),
so a service moving from it keeps its environment. ``PersistenceKitSettings`` holds what the kit
needs; the app's ``Settings`` inherits it and adds its own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self
from urllib.parse import quote

from pydantic import Field, SecretStr, model_validator
from pydantic.functional_validators import BeforeValidator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .service_settings import ServiceSettings

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev-secret"})
MIN_HS256_SECRET_BYTES = 32


class Database(StrEnum):
    MEMORY = "memory"
    POSTGRES = "postgres"
    MONGO = "mongo"
    DYNAMODB = "dynamodb"


class StorageBackend(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class IdentityBackend(StrEnum):
    REPOSITORY = "repository"  # accounts on the repository backend (any worker, any replica)
    MEMORY = "memory"  # the same flows in this process only: tests and demos
    COGNITO = "cognito"


class Environment(StrEnum):
    LOCAL = "local"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


def _split_csv(value: object) -> object:
    """``admin,operator`` in the environment means a list (persistence-kit failed to parse it)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


CsvList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_csv)]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class PersistenceKitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Environment = Environment.LOCAL
    service_name: str = "{{ cookiecutter.project_slug }}"

    # --- repository backend -----------------------------------------------------------------
    repo_database: Database = Database.{{ cookiecutter.repository_backend.upper() }}
    create_schema_on_startup: bool = True  # tables / indexes / DynamoDB tables; off in production
    # HMAC key of page cursors: a cursor only pages the collection, sort and filter it came
    # from, on any instance sharing the key. Required in production.
    cursor_secret: SecretStr = SecretStr("change-me")

    postgres_dsn: SecretStr | None = None  # wins over the POSTGRES_* parts when set
    postgres_user: str = "postgres"
    postgres_password: SecretStr = SecretStr("")
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_db: str = "test"
    postgres_pool_size: int = Field(default=10, ge=1)
    postgres_max_overflow: int = Field(default=10, ge=0)
    postgres_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    postgres_statement_timeout_ms: int = Field(default=10_000, ge=0)
    postgres_echo: bool = False  # log every SQL statement (SQLAlchemy echo); never in production

    mongo_dsn: str = "mongodb://127.0.0.1:27017"
    mongo_db: str = "{{ cookiecutter.package_name }}"
    mongo_timeout_ms: int = Field(default=5_000, gt=0)
    mongo_transactions: bool | None = None  # add_many in a transaction; unset: ask the server

    dynamodb_table_prefix: str = "{{ cookiecutter.project_slug }}-"
    dynamodb_endpoint_url: str | None = None
    data_expiration_days: int | None = None

    # --- AWS (DynamoDB, S3, Cognito) ---------------------------------------------------------
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None  # one endpoint for every AWS service (moto, localstack)
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None

    # --- object storage ----------------------------------------------------------------------
    storage_backend: StorageBackend = StorageBackend.{{ cookiecutter.storage_backend.upper() }}
    local_storage_dir: str = ".local/storage"  # LocalObjectStorage base directory
    public_base_url: str = "http://localhost:8000"  # where signed local URLs point
    storage_signing_secret: SecretStr = SecretStr("change-me")  # HMAC key of local signed URLs
    s3_bucket: str = "{{ cookiecutter.project_slug }}-objects"
    s3_endpoint_url: str | None = None  # falls back to AWS_ENDPOINT_URL
    presigned_url_ttl_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    storage_max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1)  # local PUT route

    @property
    def s3_effective_endpoint_url(self) -> str | None:
        return self.s3_endpoint_url or self.aws_endpoint_url

    # --- identity ----------------------------------------------------------------------------
    identity_backend: IdentityBackend = IdentityBackend.{{ cookiecutter.identity_backend.upper() }}
    jwt_secret: SecretStr = SecretStr("change-me")
    jwt_issuer: str = "{{ cookiecutter.project_slug }}"
    jwt_audience: str = "{{ cookiecutter.project_slug }}"
    access_token_ttl_seconds: int = Field(default=900, gt=0)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, gt=0)
    jwt_leeway_seconds: int = Field(default=30, ge=0)
    password_reset_code_ttl_seconds: int = Field(default=900, gt=0)
    confirmation_code_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    max_code_attempts: int = Field(default=5, ge=1)
    # A refresh token presented again this soon after its rotation gives the same new pair
    # (parallel refreshes, two tabs) instead of counting as a replay that ends the session.
    refresh_token_grace_seconds: float = Field(default=30, ge=0, le=300)
    # How long the HS256 verifier trusts an account's cached token version: the longest a token
    # keeps working after logout, a password change, a role change, disable or delete.
    token_revocation_check_seconds: float = Field(default=5, ge=0, le=300)
    # repository and memory providers: one sandbox user per role code (username = role);
    # password MEMORY_SEED_PASSWORD, or generated and logged once (never a fixed literal)
    memory_seed_role_users: bool = False
    memory_seed_role_codes: CsvList = ("admin", "operator")
    memory_seed_user_domain: str = "example.org"
    memory_seed_password: SecretStr | None = None
    # Cognito user pool + app client (the client needs ALLOW_USER_PASSWORD_AUTH and
    # ALLOW_REFRESH_TOKEN_AUTH); region defaults to AWS_REGION, endpoint to AWS_ENDPOINT_URL
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None
    cognito_client_secret: SecretStr | None = None
    cognito_region: str | None = None
    cognito_endpoint_url: str | None = None
    cognito_jwks_url: str | None = None  # default: the pool's JWKS (or the endpoint's, for moto)
    cognito_token_use: Literal["access", "id"] = "access"
    jwks_cache_ttl_seconds: int = Field(default=3600, gt=0)
    jwks_min_refresh_interval_seconds: float = Field(default=30.0, ge=0)
    # argon2id cost (repository and memory providers). Defaults are argon2-cffi's RFC 9106
    # profile; tests lower them, production refuses anything under OWASP's minimum (19 MiB, 2
    # passes).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Throttling of /auth (counters on the repository backend, shared by every process on it;
    # docs/identity.md#throttling): N attempts per window per account and per client address,
    # then HTTP 429 and a lock that doubles on each lockout, up to the max.
    throttle_enabled: bool = True
    login_max_attempts_per_account: int = Field(default=5, ge=1)
    login_max_attempts_per_address: int = Field(default=50, ge=1)
    code_max_attempts_per_account: int = Field(default=5, ge=1)  # confirm and reset codes
    code_max_attempts_per_address: int = Field(default=50, ge=1)
    code_requests_per_account: int = Field(default=3, ge=1)  # forgot-password
    code_requests_per_address: int = Field(default=20, ge=1)
    registrations_per_address: int = Field(default=20, ge=1)
    throttle_window_seconds: int = Field(default=900, gt=0)
    throttle_lock_seconds: int = Field(default=60, gt=0)
    throttle_max_lock_seconds: int = Field(default=3600, gt=0)

    @model_validator(mode="after")
    def _check_throttle_locks(self) -> Self:
        if self.throttle_max_lock_seconds < self.throttle_lock_seconds:
            raise ValueError("THROTTLE_MAX_LOCK_SECONDS cannot be less than THROTTLE_LOCK_SECONDS")
        return self

    @property
    def cognito_effective_region(self) -> str:
        return self.cognito_region or self.aws_region

    @property
    def cognito_effective_endpoint_url(self) -> str | None:
        return self.cognito_endpoint_url or self.aws_endpoint_url

    @property
    def cognito_effective_jwks_url(self) -> str | None:
        """Explicit URL, else ``<endpoint>/<pool>/.well-known/jwks.json`` when an endpoint
        (moto, localstack) is set, else ``None``: the verifier uses the pool's public URL."""
        if self.cognito_jwks_url:
            return self.cognito_jwks_url
        endpoint = self.cognito_effective_endpoint_url
        if endpoint and self.cognito_user_pool_id:
            return f"{endpoint.rstrip('/')}/{self.cognito_user_pool_id}/.well-known/jwks.json"
        return None

    # --- seeding -----------------------------------------------------------------------------
    seed_roles: CsvList = ("admin", "editor")
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    seed_demo_data: bool = False

    # --- HTTP --------------------------------------------------------------------------------
    default_page_size: int = Field(default=20, ge=1)
    max_page_size: int = Field(default=100, ge=1)
    request_timeout_seconds: float = Field(default=10.0, gt=0)  # then 503, the work cancelled
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=1)  # larger bodies get 413
    # CORS: browsers on these origins may call the API; none by default (no CORS headers at all)
    cors_allow_origins: CsvList = ()
    cors_allow_credentials: bool = False  # cookies / Authorization; refused with * in production
    cors_allow_methods: CsvList = ("*",)
    cors_allow_headers: CsvList = ("*",)
    cors_expose_headers: CsvList = ("X-Request-ID", "Retry-After")
    cors_max_age_seconds: int = Field(default=600, ge=0)  # how long a preflight is cached

    # --- scale-out ---------------------------------------------------------------------------
    # The memory repository and identity keep their state in one process: production refuses
    # them (every worker and replica would see different data) unless this says it is meant.
    allow_memory_backends_in_production: bool = False

    # --- logs, traces and metrics ------------------------------------------------------------
    log_level: Annotated[LogLevel, BeforeValidator(_upper)] = "INFO"
    # auto: JSON lines in staging and production, readable text elsewhere
    log_format: Literal["auto", "json", "text"] = "auto"
    access_log: bool = True  # one line per request (uvicorn's own access log is turned off)
    # OpenTelemetry traces and metrics over OTLP/HTTP; nothing of it is imported when off
    # (needs the ``otel`` extra). The service name is SERVICE_NAME.
    otel_enabled: bool = False
    otel_exporter_otlp_endpoint: str = "http://localhost:4318"  # /v1/traces, /v1/metrics added
    otel_traces_sample_ratio: float = Field(default=1.0, ge=0, le=1)  # of new traces
    otel_metric_export_interval_ms: int = Field(default=60_000, ge=100)

    @property
    def log_json(self) -> bool:
        return self.log_format == "json" or (self.log_format == "auto" and self.is_production)

    @property
    def is_production(self) -> bool:
        return self.environment in (Environment.STAGING, Environment.PRODUCTION)

    @property
    def postgres_url(self) -> str:
        if self.postgres_dsn is not None:
            dsn = self.postgres_dsn.get_secret_value()
            return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        password = self.postgres_password.get_secret_value()
        auth = quote(self.postgres_user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        return (
            f"postgresql+asyncpg://{auth}@{self.postgres_host}:{self.postgres_port}/"
            f"{self.postgres_db}"
        )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if not self.is_production:
            return self
        if self.argon2_memory_cost_kib < 19_456 or self.argon2_time_cost < 2:
            raise ValueError(
                "ARGON2_MEMORY_COST_KIB >= 19456 and ARGON2_TIME_COST >= 2 are required in "
                "production (OWASP password storage minimum)"
            )
        cursor_secret = self.cursor_secret.get_secret_value()
        if cursor_secret.lower() in PLACEHOLDER_SECRETS:
            raise ValueError("CURSOR_SECRET is a placeholder; set a real secret in production")
        if len(cursor_secret.encode()) < MIN_HS256_SECRET_BYTES:
            raise ValueError(f"CURSOR_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes")
        if self.storage_backend is StorageBackend.LOCAL:
            signing = self.storage_signing_secret.get_secret_value()
            if signing.lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    "STORAGE_SIGNING_SECRET is a placeholder; set a real secret in production"
                )
            if len(signing.encode()) < MIN_HS256_SECRET_BYTES:
                raise ValueError(
                    f"STORAGE_SIGNING_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes"
                )
        secret = self.jwt_secret.get_secret_value()
        if self.identity_backend in (IdentityBackend.MEMORY, IdentityBackend.REPOSITORY):
            if secret.lower() in PLACEHOLDER_SECRETS:
                raise ValueError("JWT_SECRET is a placeholder; set a real secret in production")
            if len(secret.encode()) < MIN_HS256_SECRET_BYTES:
                raise ValueError(
                    f"JWT_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes for HS256"
                )
            if self.memory_seed_role_users:
                raise ValueError(
                    "MEMORY_SEED_ROLE_USERS creates sandbox accounts; disable it in production"
                )
        if self.identity_backend is IdentityBackend.COGNITO and not (
            self.cognito_user_pool_id and self.cognito_client_id
        ):
            raise ValueError(
                "IDENTITY_BACKEND=cognito needs COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_deployment(self) -> Self:
        if not self.is_production:
            return self
        if "*" in self.cors_allow_origins and self.cors_allow_credentials:
            raise ValueError(
                "CORS_ALLOW_ORIGINS=* with CORS_ALLOW_CREDENTIALS=true lets any web site call the "
                "API with its visitors' credentials; list the allowed origins in production"
            )
        in_memory = [
            name
            for name, chosen in (
                ("REPO_DATABASE=memory", self.repo_database is Database.MEMORY),
                ("IDENTITY_BACKEND=memory", self.identity_backend is IdentityBackend.MEMORY),
            )
            if chosen
        ]
        if in_memory and not self.allow_memory_backends_in_production:
            raise ValueError(
                f"{' and '.join(in_memory)} keep their data in one process: each worker and "
                "replica would see different data, and a restart loses it. Choose a shared "
                "backend, or set ALLOW_MEMORY_BACKENDS_IN_PRODUCTION=true for one process"
            )
        return self


class Settings(ServiceSettings, PersistenceKitSettings):
    """Everything the service reads: the kit's settings, and this service's own fields from
    ``service_settings.py`` (add yours there: template updates never touch that file)."""

    app_title: str = "{{ cookiecutter.project_name }}"
