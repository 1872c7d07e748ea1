"""One `Settings` object: TOML file, overridden by `PRESSUREBOT_*` environment variables.

Built once at start-up by `load_settings()` and passed down explicitly; nothing deep in
the code reads the environment or a global.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_origin
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.scoring import ScoringParams, scoring_param_problem

BAND_NAMES = ("neutral", "lean", "stretched", "stressed")
BandName = Literal["neutral", "lean", "stretched", "stressed"]
WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ConfigError(Exception):
    """Raised with a one-line, user-readable message naming the bad key."""


class _KeyError(ValueError):
    """A cross-field check that names the key at fault, below the field it ran on."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TelegramSettings(_Section):
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    admin_ids: list[int] = Field(default_factory=list)
    # Global send budget; Telegram allows about 30 msg/s per bot.
    max_messages_per_second: float = Field(default=30.0, gt=0)
    # Paid broadcast (Bot API 7.11, billed in Stars): alerts up to 1000 msg/s (docs/alerts.md).
    allow_paid_broadcast: bool = False
    paid_broadcast_messages_per_second: float = Field(default=1000.0, gt=0, le=1000)
    private_chat_interval_seconds: float = Field(default=1.0, ge=0)
    group_messages_per_minute: int = Field(default=20, ge=1)
    # Tries for a delivery that fails with an unexpected Telegram error (not a network
    # error, 5xx, timeout or flood wait: those are retried until the delivery expires).
    max_send_attempts: int = Field(default=5, ge=1)
    # A pending delivery older than this is dropped (reason "stale") instead of sent.
    delivery_expiry_hours: float = Field(default=6.0, gt=0)
    # Cap of the retry backoff after a failed send, so a push leaves soon after recovery.
    retry_backoff_max_seconds: float = Field(default=60.0, gt=0)
    subscriptions_per_chat: int = Field(default=200, ge=1)
    commands_per_minute: int = Field(default=20, ge=1)
    # Commands per minute one group accepts from all its members together; beyond it the
    # group gets one polite note a minute. Below group_messages_per_minute, so answers,
    # the note and alerts fit Telegram's 20 messages/min per group.
    group_commands_per_minute: int = Field(default=10, ge=1)
    # An answer that cannot leave within this many seconds (its chat's Telegram budget
    # is used up, or Telegram asked to pause) is dropped instead of holding one of the
    # bot's concurrent update slots. 0: wait as long as it takes.
    reply_max_wait_seconds: float = Field(default=5.0, ge=0)
    max_argument_length: int = Field(default=64, ge=8)
    poll_timeout_seconds: int = Field(default=30, ge=0)
    # /symbol charts drawn ahead after each cycle, highest score first, one at a time in
    # one worker thread (about 70 ms CPU each): bounds the chart CPU per cycle. Charts
    # beyond it are drawn on first request and cached until the next cycle. 0: on demand only.
    chart_prerender_symbols: int = Field(default=600, ge=0)
    # Commands reuse the latest cycle id this long instead of asking the DB each time:
    # after a cycle lands, /top shows it within this many seconds.
    latest_cycle_cache_seconds: float = Field(default=1.0, ge=0)
    # Webhook mode (docs/operations.md, "Webhook mode behind a load balancer"): the public
    # HTTPS URL Telegram posts updates to; every replica serves its path on [http] port.
    # None: long polling by one elected replica.
    webhook_url: str | None = None
    # Sent by Telegram in X-Telegram-Bot-Api-Secret-Token with every update; required
    # with webhook_url. 1-256 characters of A-Z a-z 0-9 _ - (Telegram's rule).
    webhook_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _webhook(self) -> TelegramSettings:
        url, secret = self.webhook_url, self.webhook_secret
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                raise _KeyError("webhook_url", "must be an https:// URL (Telegram needs HTTPS)")
            if parts.path.rstrip("/") in ("", "/healthz", "/metrics"):
                raise _KeyError("webhook_url", "needs a path of its own, as https://host/tg/hook")
            if secret is None:
                raise _KeyError("webhook_secret", "required with telegram.webhook_url")
        if secret is not None and not WEBHOOK_SECRET_RE.fullmatch(secret.get_secret_value()):
            raise _KeyError("webhook_secret", "must be 1-256 characters of A-Z a-z 0-9 _ -")
        return self


class ExchangeSettings(_Section):
    name: Literal["binance"] = "binance"
    base_url: str = "https://fapi.binance.com"
    quote_assets: list[str] = Field(default_factory=lambda: ["USDT"])
    concurrency: int = Field(default=16, ge=1, le=256)
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    # Binance allows 2400 weight/min per IP; slow down well before it.
    weight_limit_per_minute: int = Field(default=2400, ge=1)
    weight_safety_margin: int = Field(default=300, ge=0)
    # openInterestHist has its own limit of 1000 calls per 5 minutes.
    history_calls_per_5m: int = Field(default=900, ge=1, le=1000)
    universe_ttl_seconds: int = Field(default=3600, ge=1)
    funding_info_ttl_seconds: int = Field(default=3600, ge=1, le=3600)
    min_quote_volume_usd: float = Field(default=0.0, ge=0)

    @field_validator("quote_assets")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("must list at least one quote asset")
        return [a.upper() for a in v]


SUPPORTED_DATABASE_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///./pressurebot.db"
    busy_timeout_ms: int = Field(default=5000, ge=0)
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _async_driver(cls, v: str) -> str:
        # Caught here, a typo is one line naming the key instead of a SQLAlchemy traceback
        # (unparsable URL, or a sync driver such as plain postgresql:// -> psycopg2).
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        hint = "use sqlite+aiosqlite:///path/to.db or postgresql+asyncpg://user@host/db"
        try:
            driver = make_url(v).drivername
        except ArgumentError:
            raise ValueError(f"not a database URL; {hint}") from None
        if driver not in SUPPORTED_DATABASE_DRIVERS:
            raise ValueError(f"unsupported driver {driver!r}; {hint}")
        return v


class ScorerSettings(_Section):
    interval_seconds: float = Field(default=300, ge=1)
    # A window (1h/4h/24h) is anchored at the stored sample closest to its target time
    # (now - 1h/4h/24h), earlier or later by at most this much, and never less than half
    # the interval plus a minute (bot/oi_windows.py). None there: unknown (null), never 0.
    window_tolerance_seconds: int = Field(default=900, ge=60)
    oi_sample_retention_hours: int = Field(default=48, ge=25)
    snapshot_retention_days: int = Field(default=30, ge=1)
    backfill: bool = True
    # A cycle stops fetching at this share of interval_seconds; symbols not fetched by
    # then count as failed for that cycle, so one hanging request cannot hold it.
    cycle_deadline_share: float = Field(default=0.8, gt=0, le=1)


class AlertSettings(_Section):
    # A new band is confirmed when the score is this many points inside it...
    hysteresis_points: int = Field(default=2, ge=0)
    # ...or has stayed in it for this many consecutive cycles.
    confirm_cycles: int = Field(default=2, ge=1)
    # Calibrated on recorded history (docs/scoring.md, Evidence): stretched and a
    # 30-minute cooldown gave 2.7 pushes per symbol-day in the fit period.
    default_min_band: BandName = "stressed"
    default_market_min_band: BandName = "stressed"
    cooldown_minutes: int = Field(default=240, ge=0)
    # Pushes (messages) per chat per local day; past it one note, then alerts are held
    # until the chat's next local day (docs/alerts.md). 0: no cap. Chats may override.
    daily_cap: int = Field(default=20, ge=0)
    # Cycles that fetched less than this share of the universe emit no alerts.
    min_fetched_share: float = Field(default=0.8, ge=0, le=1)
    event_retention_days: int = Field(default=7, ge=1)


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    # /healthz turns unhealthy when the last good cycle is older than this many intervals.
    stale_after_intervals: float = Field(default=3.0, gt=0)
    # Asked for by the web dashboard (not /healthz, /metrics) when set: README, "Web dashboard".
    dashboard_token: SecretStr | None = Field(default=None, min_length=16)


class ReplicaSettings(_Section):
    # This process's name among replicas sharing one PostgreSQL database: it holds
    # leases and outbox claims under it. Unset: "<hostname>:<pid>". A stable name (the
    # systemd instance) lets a restarted replica release its own claims at once.
    name: str | None = Field(default=None, min_length=1, max_length=100)
    # How long the scorer and update leases and outbox claims last without renewal (renewed
    # every third of it): a standby takes over this long after a replica dies.
    lease_seconds: float = Field(default=15.0, ge=2, le=600)


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PRESSUREBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    telegram: TelegramSettings = TelegramSettings()
    exchange: ExchangeSettings = ExchangeSettings()
    database: DatabaseSettings = DatabaseSettings()
    scorer: ScorerSettings = ScorerSettings()
    scoring: ScoringParams = ScoringParams()
    alerts: AlertSettings = AlertSettings()
    http: HttpSettings = HttpSettings()
    replica: ReplicaSettings = ReplicaSettings()
    logging: LoggingSettings = LoggingSettings()

    @field_validator("scoring")
    @classmethod
    def _check_scoring(cls, v: ScoringParams) -> ScoringParams:
        problem = scoring_param_problem(v)
        if problem is not None:
            raise _KeyError(*problem)
        return v

    @model_validator(mode="after")
    def _webhook_needs_port(self) -> Settings:
        if self.telegram.webhook_url is not None and not self.http.port:
            raise _KeyError(
                "http.port",
                "webhook mode (telegram.webhook_url) serves updates on the HTTP server: "
                "set http.port",
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)


def resolve_config_path(
    explicit: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> Path | None:
    """--config, else PRESSUREBOT_CONFIG, else ./config.toml if present, else None."""
    if explicit:
        return Path(explicit)
    if env.get("PRESSUREBOT_CONFIG"):
        return Path(env["PRESSUREBOT_CONFIG"])
    local = Path("config.toml")
    return local if local.is_file() else None


def load_settings(
    config_path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings, or raise ConfigError with one line that names the bad key."""
    env = os.environ if env is None else env
    path = resolve_config_path(config_path, env)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if env.get("TELEGRAM_BOT_TOKEN") and not env.get("PRESSUREBOT_TELEGRAM__TOKEN"):
        data.setdefault("telegram", {})["token"] = env["TELEGRAM_BOT_TOKEN"]
    try:
        if env is os.environ:
            return Settings(**data)
        return _settings_from_mapping(data, env)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError:
        # pydantic-settings could not JSON-decode a list/dict variable; it names only the
        # section, so find the variable ourselves (its value is never echoed).
        raise ConfigError(_describe_undecodable(env)) from None


def _settings_from_mapping(data: dict[str, Any], env: Mapping[str, str]) -> Settings:
    """Tests pass an explicit environment; pydantic-settings only reads os.environ."""
    saved = dict(os.environ)
    try:
        for key in [k for k in os.environ if k.startswith("PRESSUREBOT_")]:
            del os.environ[key]
        os.environ.update({k: v for k, v in env.items() if k.startswith("PRESSUREBOT_")})
        return Settings(**data)
    finally:
        os.environ.clear()
        os.environ.update(saved)


ENV_PREFIX = "PRESSUREBOT_"
# PRESSUREBOT_* names that are not settings: the config path, and the test suite's own.
_ENV_NOT_SETTINGS = ("CONFIG",)
_ENV_NOT_SETTINGS_PREFIXES = ("TEST_",)


def unknown_env_vars(env: Mapping[str, str]) -> list[str]:
    """PRESSUREBOT_* variables naming no settings section: pydantic-settings ignores them
    silently, so a misspelt PRESSUREBOT_TELEGRM__TOKEN would just run without a token."""
    sections = set(Settings.model_fields)
    unknown = []
    for name in env:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].upper()
        if rest in _ENV_NOT_SETTINGS or rest.startswith(_ENV_NOT_SETTINGS_PREFIXES):
            continue
        if rest.split("__", 1)[0].lower() not in sections:
            unknown.append(name)
    return sorted(unknown)


def _describe_undecodable(env: Mapping[str, str]) -> str:
    for name, value in env.items():
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if not name.upper().startswith(ENV_PREFIX) or len(parts) != 2:
            continue
        section = Settings.model_fields.get(parts[0])
        model = section.annotation if section is not None else None
        fields = getattr(model, "model_fields", {})
        if parts[1] not in fields:
            continue
        annotation = fields[parts[1]].annotation
        if get_origin(annotation) not in (list, dict):
            continue
        try:
            json.loads(value)
        except ValueError:
            example = "[1, 2]" if get_origin(annotation) is list else '{"key": "value"}'
            key = f"{parts[0]}.{parts[1]}"
            return f"invalid config: {key} ({name}): expected JSON such as {example}"
    return "invalid config: a PRESSUREBOT_* variable holds a list or table that is not valid JSON"


def _describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "config"
    msg = err["msg"]
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, _KeyError):
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        full = f"{key}.{cause.key}" if err["loc"] else cause.key  # a check across sections
        return f"invalid config: {full}: {cause.message}{more}"
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    msg = msg.removeprefix("Value error, ")
    value = err.get("input")
    # An unknown key may be a misspelt secret (telegram.tokn), a URL may hold a password.
    secret = (
        "token" in key
        or "secret" in key
        or key == "database.url"
        or err["type"] == "extra_forbidden"
    )
    shown = "" if isinstance(value, dict | list) or secret else f" (got {value!r})"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid config: {key}: {msg}{shown}{more}"
