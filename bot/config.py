"""One `Settings` object: TOML file, overridden by `PRESSUREBOT_*` environment variables.

Built once at start-up by `load_settings()` and passed down explicitly; nothing deep in
the code reads the environment or a global.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import (
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
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
    DestinationSettings,
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
    "DestinationSettings",
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
    destinations: DestinationSettings = DestinationSettings()
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
            given = "" if config_path else " (from PRESSUREBOT_CONFIG)"
            raise ConfigError(f"config file not found: {path}{given}") from None
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
        raise ConfigError(_describe(exc, env)) from None
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


def env_var_hint(name: str) -> str:
    """ "; did you mean PRESSUREBOT_TELEGRAM__TOKEN?" for a misspelt section, else ""."""
    section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
    guess = _closest(section, Settings.model_fields)
    if guess is None:
        return ""
    return f"; did you mean {_env_name(guess, key or None)}?"


def _env_name(section: str, key: str | None) -> str:
    return f"{ENV_PREFIX}{section}__{key}".upper() if key else f"{ENV_PREFIX}{section}".upper()


def _closest(word: str, candidates: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word.lower(), list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def _section_fields(section: str) -> dict[str, Any]:
    field = Settings.model_fields.get(section)
    return dict(getattr(field.annotation if field else None, "model_fields", {}))


def _env_source(loc: tuple[Any, ...], env: Mapping[str, str]) -> str | None:
    """The PRESSUREBOT_* variable that set the value at `loc`, if one did (a variable
    wins over the file): PRESSUREBOT_SECTION__KEY, or a whole PRESSUREBOT_SECTION table."""
    if not loc:
        return None
    names = {name.upper(): name for name in env if name.upper().startswith(ENV_PREFIX)}
    if len(loc) > 1 and (var := names.get(_env_name(str(loc[0]), str(loc[1])))):
        return var
    table = names.get(_env_name(str(loc[0]), None))
    if table is None or len(loc) == 1:
        return table
    try:
        value = json.loads(env[table])
    except ValueError:
        return table
    return table if isinstance(value, dict) and str(loc[1]) in value else None


def _json_example(field: FieldInfo) -> str:
    """A value to copy: venue names for exchange.venues, ids for telegram.admin_ids."""
    if get_origin(field.annotation) is dict:
        return '{"key": "value"}'
    item = (get_args(field.annotation) or (str,))[0]
    default = field.get_default(call_default_factory=True)
    if get_origin(item) is Literal:
        values = list(get_args(item)[:2])
    elif isinstance(default, list) and default:
        values = default
    else:
        values = [11111111, 22222222] if item is int else ["a", "b"]
    return json.dumps(values)


def _describe_undecodable(env: Mapping[str, str]) -> str:
    """pydantic-settings could not JSON-decode a list or table variable; name it."""
    for name, value in env.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if key:
            field = _section_fields(section).get(key)
            if field is None or get_origin(field.annotation) not in (list, dict):
                continue
            example, where = _json_example(field), f"{section}.{key}"
        elif section in Settings.model_fields:
            example, where = '{"key": "value"}', f"[{section}]"
        else:
            continue
        try:
            json.loads(value)
        except ValueError:
            return f"invalid config: {name} ({where}): expected JSON such as {example}"
    return "invalid config: a PRESSUREBOT_* variable holds a list or table that is not valid JSON"


def _unknown_key_hint(loc: tuple[Any, ...], var: str | None) -> str:
    """ "; did you mean scorer.interval_seconds?" (or the variable to set instead)."""
    if len(loc) == 1:
        guess = _closest(str(loc[0]), Settings.model_fields)
        if guess is None:
            return ""
        return f"; did you mean {_env_name(guess, None) if var else guess}?"
    guess = _closest(str(loc[1]), _section_fields(str(loc[0])))
    if guess is None:
        return ""
    if var is not None and "__" in var[len(ENV_PREFIX) :]:
        return f"; did you mean {_env_name(str(loc[0]), guess)}?"
    return f"; did you mean {loc[0]}.{guess}?"


def _describe(exc: ValidationError, env: Mapping[str, str]) -> str:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc) or "config"
    var = _env_source(loc, env)
    where = f"{var} ({key})" if var else key
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, _KeyError):
        full = f"{key}.{cause.key}" if loc else cause.key  # a check across sections
        return f"invalid config: {f'{var} ({full})' if var else full}: {cause.message}{more}"
    if err["type"] == "extra_forbidden":
        # Only the name: a misspelt key may hold a secret (telegram.tokn).
        return f"invalid config: {where}: unknown key{_unknown_key_hint(loc, var)}{more}"
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    # A URL may hold a password.
    secret = "token" in key or "secret" in key or key == "database.url"
    shown = "" if isinstance(value, dict | list) or secret else f" (got {value!r})"
    return f"invalid config: {where}: {msg}{shown}{more}"
