"""Configuration: the names other tools rely on (README, Configuration) and one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_match_the_design() -> None:
    s = load_settings(env={})
    assert s.telegram.token is None
    assert s.telegram.base_url == "https://api.telegram.org/bot"
    assert s.exchange.base_url == "https://fapi.binance.com"
    assert s.database.url == "sqlite+aiosqlite:///./pressurebot.db"
    assert s.scorer.interval_seconds == 300
    assert s.http.port == 0
    assert s.exchange.concurrency == 16
    assert s.alerts.default_min_band == "stressed"  # calibrated, see docs/scoring.md


def test_env_names_from_the_design_work_exactly() -> None:
    env = {
        "PRESSUREBOT_TELEGRAM__TOKEN": "123456:secret-token",
        "PRESSUREBOT_TELEGRAM__BASE_URL": "http://127.0.0.1:9/bot",
        "PRESSUREBOT_TELEGRAM__ADMIN_IDS": "[1, 22]",
        "PRESSUREBOT_EXCHANGE__BASE_URL": "http://127.0.0.1:8",
        "PRESSUREBOT_DATABASE__URL": "sqlite+aiosqlite:///x.db",
        "PRESSUREBOT_SCORER__INTERVAL_SECONDS": "1",
        "PRESSUREBOT_HTTP__PORT": "9100",
    }
    s = load_settings(env=env)
    assert s.telegram.token is not None
    assert s.telegram.token.get_secret_value() == "123456:secret-token"
    assert s.telegram.base_url == "http://127.0.0.1:9/bot"
    assert s.telegram.admin_ids == [1, 22]
    assert s.exchange.base_url == "http://127.0.0.1:8"
    assert s.database.url == "sqlite+aiosqlite:///x.db"
    assert s.scorer.interval_seconds == 1
    assert s.http.port == 9100


def test_plain_telegram_bot_token_is_accepted_and_prefixed_name_wins() -> None:
    assert (
        load_settings(env={"TELEGRAM_BOT_TOKEN": "1:a"}).telegram.token.get_secret_value() == "1:a"
    )
    both = {"TELEGRAM_BOT_TOKEN": "1:a", "PRESSUREBOT_TELEGRAM__TOKEN": "2:b"}
    assert load_settings(env=both).telegram.token.get_secret_value() == "2:b"


def test_env_overrides_the_file_and_the_file_overrides_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[scorer]\ninterval_seconds = 60\n[exchange]\nconcurrency = 4\n")
    s = load_settings(cfg, env={"PRESSUREBOT_SCORER__INTERVAL_SECONDS": "30"})
    assert s.scorer.interval_seconds == 30
    assert s.exchange.concurrency == 4
    assert s.exchange.base_url == "https://fapi.binance.com"  # untouched siblings kept


def test_config_path_from_env_var(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[logging]\nlevel = 'debug'\n")
    assert load_settings(env={"PRESSUREBOT_CONFIG": str(cfg)}).logging.level == "DEBUG"


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("[scorer]\ninterval_seconds = 0\n", {}, "scorer.interval_seconds"),
        ("[exchange]\nconcurrency = 'many'\n", {}, "exchange.concurrency"),
        ("[scorer]\nintervall = 5\n", {}, "scorer.intervall: unknown key"),
        ("", {"PRESSUREBOT_HTTP__PORT": "70000"}, "http.port"),
        ("[alerts]\ndefault_min_band = 'loud'\n", {}, "alerts.default_min_band"),
        ("not toml [", {}, "not valid TOML"),
    ],
)
def test_invalid_config_is_one_line_naming_the_key(
    tmp_path: Path, text: str, env: dict[str, str], expected: str
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env=env)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_a_bad_token_value_is_never_echoed(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[telegram]\ntoken = ['123456:very-secret']\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env={})
    assert "very-secret" not in str(info.value)


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_example_config_documents_every_key_with_its_default() -> None:
    raw = (ROOT / "config.example.toml").read_text()
    example = tomllib.loads(raw)
    defaults = Settings().model_dump(mode="json")
    for section, fields in defaults.items():
        assert section in example, f"[{section}] missing from config.example.toml"
        for key, value in fields.items():
            if value is None:  # unset by default: TOML has no null, so shown commented out
                assert f"# {key} = " in raw, f"{section}.{key} missing from config.example.toml"
                continue
            assert key in example[section], f"{section}.{key} missing from config.example.toml"
            assert example[section][key] == value, f"{section}.{key} default differs"
    assert load_settings(ROOT / "config.example.toml", env={}) == Settings()


def test_venues_default_to_all_three_and_env_picks_binance_alone() -> None:
    s = load_settings(env={})
    assert s.exchange.venues == ["binance", "bybit", "okx"]
    assert s.exchange.bybit_base_url == "https://api.bybit.com"
    assert s.exchange.okx_base_url == "https://www.okx.com"
    assert s.exchange.venue_drop_after_cycles == 3
    only = load_settings(env={"PRESSUREBOT_EXCHANGE__VENUES": '["binance"]'})
    assert only.exchange.venues == ["binance"]


def test_an_unknown_or_repeated_venue_is_one_line() -> None:
    with pytest.raises(ConfigError) as bad:
        load_settings(env={"PRESSUREBOT_EXCHANGE__VENUES": '["binance", "kraken"]'})
    assert str(bad.value).startswith(
        "invalid config: PRESSUREBOT_EXCHANGE__VENUES (exchange.venues"
    )
    with pytest.raises(ConfigError) as twice:
        load_settings(env={"PRESSUREBOT_EXCHANGE__VENUES": '["okx", "okx"]'})
    assert "twice" in str(twice.value)
