"""Settings: one pydantic-settings object, environment prefix PAPO_, `.env` read when present."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from papo.timezones import DEFAULT_TIMEZONE, known_zone

GRAPH_API_URL = "https://graph.facebook.com/v23.0"
INSTAGRAM_API_URL = "https://graph.instagram.com/v23.0"
TIKTOK_API_URL = "https://open.tiktokapis.com"
YOUTUBE_API_URL = "https://www.googleapis.com"
YOUTUBE_HUB_URL = "https://pubsubhubbub.appspot.com/subscribe"
TELEGRAM_API_URL = "https://api.telegram.org"
OAUTH_META_URL = "https://www.facebook.com/v23.0/dialog/oauth"
OAUTH_TIKTOK_URL = "https://www.tiktok.com/v2/auth/authorize/"
OAUTH_GOOGLE_URL = "https://accounts.google.com/o/oauth2/v2/auth"

Port = Annotated[int, Field(ge=1, le=65535)]


class ConfigError(Exception):
    """A setting has a wrong value; the message names the variable."""


class Settings(BaseSettings):
    """Every PAPO_* variable. Secrets are SecretStr so they never print by accident."""

    model_config = SettingsConfigDict(
        env_prefix="PAPO_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # Where Papo lives.
    data_dir: Path = Path(".papo")
    host: str = "127.0.0.1"
    port: Port = 8080
    public_url: AnyHttpUrl | None = None
    log_level: str = "INFO"
    # The long-running roles' event loop: uvloop when it is installed (the embedded extra brings it).
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"

    # Stores. Unset -> the embedded stack (papo up) provides them.
    database_url: str | None = None
    redis_url: str | None = None
    mongo_url: str | None = None
    mongo_database: str = "papo"

    # Encrypts platform tokens at rest. Unset -> `papo up` generates one into the data dir.
    secret_key: SecretStr | None = None
    # During a key rotation: the old key, read but never written, until `papo secret rotate` is done.
    secret_key_previous: SecretStr | None = None

    # Meta (WhatsApp Cloud API, Instagram, Messenger).
    meta_app_id: str | None = None
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    graph_api_url: AnyHttpUrl = AnyHttpUrl(GRAPH_API_URL)
    instagram_api_url: AnyHttpUrl = AnyHttpUrl(INSTAGRAM_API_URL)
    oauth_meta_url: AnyHttpUrl = AnyHttpUrl(OAUTH_META_URL)

    # TikTok.
    tiktok_client_key: str | None = None
    tiktok_client_secret: SecretStr | None = None
    tiktok_api_url: AnyHttpUrl = AnyHttpUrl(TIKTOK_API_URL)
    oauth_tiktok_url: AnyHttpUrl = AnyHttpUrl(OAUTH_TIKTOK_URL)
    tiktok_signature_tolerance: int = Field(default=300, ge=1)

    # YouTube / Google.
    youtube_api_url: AnyHttpUrl = AnyHttpUrl(YOUTUBE_API_URL)
    youtube_hub_url: AnyHttpUrl = AnyHttpUrl(YOUTUBE_HUB_URL)
    youtube_hub_secret: SecretStr | None = None
    youtube_poll_seconds: float = Field(default=300.0, gt=0)  # commentThreads.list costs 1 quota unit
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    oauth_google_url: AnyHttpUrl = AnyHttpUrl(OAUTH_GOOGLE_URL)
    google_token_url: AnyHttpUrl = AnyHttpUrl("https://oauth2.googleapis.com/token")
    google_revoke_url: AnyHttpUrl = AnyHttpUrl("https://oauth2.googleapis.com/revoke")

    # Account connections: OAuth state, hub leases, token refresh (papo/services/CONNECT.md).
    meta_login_config_id: str | None = None
    oauth_state_ttl: int = Field(default=600, ge=60, le=3600)
    youtube_hub_lease_seconds: int = Field(default=432_000, ge=3600, le=2_592_000)
    youtube_lease_renew_before: float = Field(default=86_400, gt=0)
    token_refresh_before: float = Field(default=900, gt=0)
    token_warn_before: float = Field(default=604_800, gt=0)
    lifecycle_interval: float = Field(default=300, gt=0)
    meta_recheck_interval: float = Field(default=86_400, gt=0)

    # OpenAI-compatible model (optional; the local classifier is the default).
    openai_api_key: SecretStr | None = None
    openai_base_url: AnyHttpUrl | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout: float = Field(default=3.0, gt=0)

    # Telegram admin bot.
    telegram_token: SecretStr | None = None
    telegram_api_url: AnyHttpUrl = AnyHttpUrl(TELEGRAM_API_URL)
    telegram_mode: Literal["polling", "webhook"] = "polling"  # webhook: updates arrive at PAPO_PUBLIC_URL
    telegram_webhook_secret: SecretStr | None = None  # default: derived from the bot token
    telegram_bot_username: str | None = None  # for t.me links when Telegram cannot be asked
    # While the Bot API cannot be reached, polling and alerts retry after a delay doubling from min to max s.
    telegram_backoff_min: float = Field(default=1.0, gt=0)
    telegram_backoff_max: float = Field(default=60.0, gt=0)

    # Behaviour.
    webhook_max_body: int = Field(default=1024 * 1024, ge=1024)
    media_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)  # files sent to the bot for posts
    media_keep_hours: float = Field(default=48.0, gt=0)  # an upload no post uses is deleted after this
    # Post media Papo downloads itself (YouTube uploads): public addresses only (papo/adapters/media_fetch.py).
    media_fetch_max_bytes: int = Field(default=2048 * 1024 * 1024, ge=1024)
    media_fetch_timeout: float = Field(default=1800.0, gt=0)  # seconds for the whole download
    media_fetch_allow_hosts: str = ""  # tests/development only: "host" or "host:port" entries, comma-separated,
    # that may be private (a local media server); Papo's own uploads never need it (they are read from disk)
    stream_partitions: int = Field(default=8, ge=1, le=1024)  # fixed for a deployment: keys hash onto them
    worker_batch: int = Field(default=256, ge=1, le=10_000)
    worker_lease_ms: int = Field(default=1_500, ge=500)  # a dead worker's partitions move within ~lease + lease/3
    worker_max_deliveries: int = Field(default=5, ge=1)

    # Outbound: platform rules and limits (PLATFORMS.md). Rates are per connected account.
    outbound_max_attempts: int = Field(default=5, ge=1)
    outbound_retry_base: float = Field(default=1.0, gt=0)
    outbound_retry_max: float = Field(default=30.0, gt=0)
    outbound_window_hours: float = Field(default=24.0, gt=0)
    outbound_window_margin: float = Field(default=60.0, ge=0)  # seconds kept in hand before the window closes
    outbound_private_reply_days: float = Field(default=7.0, gt=0)
    outbound_whatsapp_per_second: float = Field(default=80.0, gt=0)
    outbound_instagram_per_second: float = Field(default=100.0, gt=0)
    outbound_messenger_per_second: float = Field(default=300.0, gt=0)
    outbound_private_replies_per_hour: float = Field(default=750.0, gt=0)
    outbound_whatsapp_pair_seconds: float = Field(default=6.0, gt=0)
    outbound_whatsapp_pair_burst: int = Field(default=5, ge=1)
    outbound_youtube_replies_per_day: float = Field(default=150.0, gt=0)
    outbound_kwai_per_second: float = Field(default=50.0, gt=0)
    outbound_broadcast_per_second: float = Field(default=80.0, gt=0)  # campaign sends per number, per second
    broadcast_interval: float = Field(default=0.2, gt=0)  # seconds between the campaign runner's rounds
    broadcast_requeue_after: float = Field(default=60.0, gt=0)  # re-offer a queued recipient with no outcome
    outbound_limiter_max_wait: float = Field(default=60.0, gt=0)
    outbound_concurrency: int = Field(default=32, ge=1)
    outbound_account_cache_ttl: int = Field(default=300, gt=0)
    outbound_instagram_base: str = "graph_api_url"  # "instagram_api_url" for Instagram-Login tokens

    # Posts: scheduler, publisher, engagement (papo/services/POSTS.md).
    posts_scheduler_interval: float = Field(default=2.0, gt=0)
    posts_scheduler_batch: int = Field(default=100, ge=1, le=10_000)
    posts_requeue_after: float = Field(default=60.0, gt=0)
    posts_max_attempts: int = Field(default=5, ge=1)
    posts_retry_base: float = Field(default=2.0, gt=0)
    posts_retry_max: float = Field(default=60.0, gt=0)
    posts_poll_interval: float = Field(default=3.0, gt=0)
    posts_poll_timeout: float = Field(default=120.0, gt=0)
    posts_recheck_after: float = Field(default=120.0, gt=0)
    posts_processing_max_hours: float = Field(default=24.0, gt=0)
    posts_commit_stale: float = Field(default=60.0, gt=0)
    posts_concurrency: int = Field(default=8, ge=1)
    posts_block_ms: int = Field(default=500, ge=10)
    posts_limiter_max_wait: float = Field(default=30.0, gt=0)
    posts_instagram_max_hashtags: int = Field(default=5, ge=1, le=30)
    posts_instagram_per_day: float = Field(default=50.0, gt=0)
    posts_tiktok_privacy: Literal["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR",
                                  "SELF_ONLY"] = "PUBLIC_TO_EVERYONE"
    posts_youtube_privacy: Literal["public", "unlisted", "private"] = "public"
    posts_youtube_category: str = "22"
    posts_engagement_interval: float = Field(default=900.0, gt=0)
    posts_engagement_min_age: float = Field(default=3600.0, ge=0)
    posts_engagement_days: float = Field(default=30.0, gt=0)
    posts_engagement_batch: int = Field(default=200, ge=1)
    posts_engagement_calls_per_hour: float = Field(default=60.0, gt=0)
    timezone: str = DEFAULT_TIMEZONE
    # Human handoff: hours automation stays paused in a conversation after the owner answers it by hand.
    handoff_hours: float = Field(default=12.0, gt=0, le=24 * 365)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if known_zone(value) is None:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. {DEFAULT_TIMEZONE})")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgres://", "postgresql://", "asyncpg://")):
            raise ValueError("must be a PostgreSQL URL like postgres://user:pass@host:5432/papo")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a Redis URL like redis://localhost:6379/0")
        return value

    @field_validator("mongo_url")
    @classmethod
    def _mongo_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must be a MongoDB URL like mongodb://localhost:27017")
        return value

    @property
    def openai_enabled(self) -> bool:
        """True when an OpenAI-compatible model is configured (a key or a base URL)."""
        return self.openai_api_key is not None or self.openai_base_url is not None

    def __repr_args__(self) -> Any:
        """repr() and str() show store URLs without their passwords, as SecretStr does for secrets."""
        for name, value in super().__repr_args__():
            yield name, _without_password(value)

    def url(self, name: str) -> str:
        """A base URL setting as a string without a trailing slash (for joining paths)."""
        return str(getattr(self, name)).rstrip("/")


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning validation errors into one readable ConfigError naming each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            shown = "" if _is_secret(field) else f" (got {_without_password(err.get('input'))!r})"
            lines.append(f"PAPO_{field.upper()}: {err['msg']}{shown}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def _without_password(value: object) -> object:
    """A URL's password replaced by ***: store URLs carry credentials, and errors reach terminals and logs."""
    if not isinstance(value, str) or "://" not in value:
        return value
    scheme, _, rest = value.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return value
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def _is_secret(field: str) -> bool:
    """Whether a setting holds a secret, so its value must never be echoed in an error."""
    info = Settings.model_fields.get(field)
    return info is not None and "SecretStr" in str(info.annotation)


def setting_names() -> set[str]:
    """The environment variable names of every setting (used to check docker-compose.yml)."""
    return {f"PAPO_{name.upper()}" for name in Settings.model_fields}
