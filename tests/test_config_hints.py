"""A config mistake is one line that says where it came from and what was meant: the
closest key ("did you mean"), the PRESSUREBOT_* variable when the environment set it,
and a JSON example to copy for a list."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, env_var_hint, load_settings


def error(tmp_path: Path, toml: str = "", **env: str) -> str:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env=env)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[scorer]\nintervall_seconds = 5\n", "did you mean scorer.interval_seconds?"),
        ("[telegram]\ntokn = '123456:secret'\n", "did you mean telegram.token?"),
        ("[scorr]\ninterval_seconds = 5\n", "scorr: unknown key; did you mean scorer?"),
        ("[alerts]\ndefault_min_bnd = 'lean'\n", "did you mean alerts.default_min_band?"),
    ],
)
def test_an_unknown_key_in_the_file_names_the_closest_one(
    tmp_path: Path, toml: str, expected: str
) -> None:
    message = error(tmp_path, toml)
    assert message.startswith("invalid config: ") and expected in message
    assert "secret" not in message and "PRESSUREBOT_" not in message


def test_a_key_nothing_resembles_gets_no_guess(tmp_path: Path) -> None:
    message = error(tmp_path, "[scorer]\nzzzz = 5\n")
    assert message == "invalid config: scorer.zzzz: unknown key"


def test_an_unknown_key_in_the_environment_names_the_variable_to_set(tmp_path: Path) -> None:
    message = error(tmp_path, PRESSUREBOT_SCORER__INTERVALL_SECONDS="5")
    assert message == (
        "invalid config: PRESSUREBOT_SCORER__INTERVALL_SECONDS (scorer.intervall_seconds): "
        "unknown key; did you mean PRESSUREBOT_SCORER__INTERVAL_SECONDS?"
    )
    table = error(tmp_path, PRESSUREBOT_HTTP='{"prot": 9108}')
    assert (
        table
        == "invalid config: PRESSUREBOT_HTTP (http.prot): unknown key; did you mean http.port?"
    )


def test_a_bad_value_names_the_variable_that_set_it_and_not_the_file(tmp_path: Path) -> None:
    # Both set http.port: the variable wins, so it is the one named.
    message = error(tmp_path, "[http]\nport = 70000\n", PRESSUREBOT_HTTP__PORT="70001")
    assert message.startswith("invalid config: PRESSUREBOT_HTTP__PORT (http.port): ")
    assert "70001" in message
    from_file = error(tmp_path, "[http]\nport = 70000\n", PRESSUREBOT_SCORER__INTERVAL_SECONDS="5")
    assert from_file.startswith("invalid config: http.port: ")
    venue = error(tmp_path, PRESSUREBOT_EXCHANGE__VENUES='["binance", "kraken"]')
    assert venue.startswith("invalid config: PRESSUREBOT_EXCHANGE__VENUES (exchange.venues.1): ")


@pytest.mark.parametrize(
    ("variable", "value", "example"),
    [
        ("PRESSUREBOT_EXCHANGE__VENUES", "binance,bybit", '["binance", "bybit"]'),
        ("PRESSUREBOT_EXCHANGE__QUOTE_ASSETS", "USDT", '["USDT"]'),
        ("PRESSUREBOT_TELEGRAM__ADMIN_IDS", "1,2", "[11111111, 22222222]"),
        ("PRESSUREBOT_HTTP", "port=1", '{"key": "value"}'),
    ],
)
def test_a_list_that_is_not_json_gets_an_example_of_its_own_kind(
    tmp_path: Path, variable: str, value: str, example: str
) -> None:
    message = error(tmp_path, **{variable: value})
    assert message.startswith(f"invalid config: {variable} (")
    assert message.endswith(f"expected JSON such as {example}")


def test_a_misspelt_environment_section_gets_a_guess() -> None:
    assert env_var_hint("PRESSUREBOT_TELEGRM__TOKEN") == (
        "; did you mean PRESSUREBOT_TELEGRAM__TOKEN?"
    )
    assert env_var_hint("PRESSUREBOT_HTTPP") == "; did you mean PRESSUREBOT_HTTP?"
    assert env_var_hint("PRESSUREBOT_NOTHING_LIKE_IT") == ""


def test_a_missing_file_named_by_the_environment_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={"PRESSUREBOT_CONFIG": str(tmp_path / "nope.toml")})
    assert str(info.value).endswith("nope.toml (from PRESSUREBOT_CONFIG)")
