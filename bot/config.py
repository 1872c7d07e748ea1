"""One `Settings` object: TOML file, overridden by `PRESSUREBOT_*` environment variables.

Built once at start-up by `load_settings()` and passed down explicitly; nothing deep in
the code reads the environment or a global.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_origin

from pydantic import (
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

from bot.config_sections import (
    BAND_NAMES,
    SUPPORTED_DATABASE_DRIVERS,
    VENUES,
    WEBHOOK_SECRET_RE,
    AlertSettings,
    BandName,
    DatabaseSettings,
    ExchangeSettings,
    HttpSettings,
    LiquidationSettings,
    LoggingSettings,
    ReplicaSettings,
    ScorerSettings,
    TelegramSettings,
    VenueName,
    _KeyError,
)
from bot.scoring.formula import ScoringParams, scoring_param_problem

__all__ = [
    "BAND_NAMES",
    "SUPPORTED_DATABASE_DRIVERS",
    "VENUES",
    "WEBHOOK_SECRET_RE",
    "AlertSettings",
    "BandName",
    "ConfigError",
    "DatabaseSettings",
    "ExchangeSettings",
    "HttpSettings",
    "LiquidationSettings",
    "LoggingSettings",
    "ReplicaSettings",
    "ScorerSettings",
    "Settings",
    "TelegramSettings",
    "VenueName",
    "load_settings",
]


class ConfigError(Exception):
    """Raised with a one-line, user-readable message naming the bad key."""


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
    liquidations: LiquidationSettings = LiquidationSettings()
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
