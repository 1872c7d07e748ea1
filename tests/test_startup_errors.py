"""Start-up mistakes an operator makes are one line naming the key or the cause, with
exit 2 (config) or 3 (database), never a traceback: `pressurebot` as a subprocess."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.config import load_settings, unknown_env_vars
from bot.storage.db import DatabaseError
from bot.storage.sqlite_guard import MIN_SQLITE_VERSION, check_sqlite_version
from tests.test_cli import cli_env, run_cli

NOWHERE = "http://127.0.0.1:9"


def assert_one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pressurebot: ") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "code", "expected"),
    [
        ("PRESSUREBOT_TELEGRAM__ADMIN_IDS", "1,2", 2, "telegram.admin_ids"),
        ("PRESSUREBOT_DATABASE__URL", "foo", 2, "(database.url): not a database URL"),
        ("PRESSUREBOT_DATABASE__URL", "postgresql://u:pw@127.0.0.1/x", 2, "'postgresql'"),
        ("PRESSUREBOT_DATABASE__URL", "sqlite:///x.db", 2, "(database.url): unsupported"),
        ("PRESSUREBOT_DATABASE__URL", "postgresql+asyncpg://u@127.0.0.1:1/x", 3, "127.0.0.1:1"),
    ],
)
async def test_bad_setting_is_one_line_naming_the_key_or_cause(
    tmp_path: Path, variable: str, value: str, code: int, expected: str
) -> None:
    env = cli_env(tmp_path, NOWHERE)
    env[variable] = value
    got, _, err = await run_cli("migrate", env=env)
    assert got == code, err
    assert expected in assert_one_line(err)
    assert "pw" not in err  # a password in the URL is never echoed


async def test_database_folder_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    env = cli_env(tmp_path, NOWHERE)
    env["PRESSUREBOT_DATABASE__URL"] = f"sqlite+aiosqlite:///{blocker}/sub/x.db"
    code, _, err = await run_cli("migrate", env=env)
    assert code == 3
    line = assert_one_line(err)
    assert f"{blocker}/sub" in line and "cannot be created" in line


async def test_config_option_after_the_subcommand(tmp_path: Path) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_text("[scorer]\ninterval_seconds = 0\n")
    for argv in (["run", "--config", str(cfg)], ["--config", str(cfg), "scan"]):
        code, _, err = await run_cli(*argv, env=cli_env(tmp_path, NOWHERE))
        assert code == 2
        assert "scorer.interval_seconds" in assert_one_line(err)


async def test_misspelt_environment_section_warns_without_the_value(tmp_path: Path) -> None:
    env = cli_env(tmp_path, NOWHERE)
    env["PRESSUREBOT_TELEGRM__TOKEN"] = "123456:very-secret-value"
    code, out, err = await run_cli("migrate", env=env)
    assert code == 0 and "up to date" in out
    line = assert_one_line(err)
    assert "PRESSUREBOT_TELEGRM__TOKEN" in line and "very-secret" not in err
    assert line.endswith("did you mean PRESSUREBOT_TELEGRAM__TOKEN?")


async def test_a_misspelt_key_from_the_environment_is_one_line_naming_the_variable(
    tmp_path: Path,
) -> None:
    env = cli_env(tmp_path, NOWHERE)
    env["PRESSUREBOT_TELEGRAM__TOKN"] = "123456:very-secret-value"
    env["PRESSUREBOT_EXCHANGE__VENUES"] = "binance,bybit"  # the first error is named
    code, _, err = await run_cli("scan", env=env)
    assert code == 2
    line = assert_one_line(err)
    assert "PRESSUREBOT_EXCHANGE__VENUES (exchange.venues)" in line
    assert line.endswith('expected JSON such as ["binance", "bybit"]')
    del env["PRESSUREBOT_EXCHANGE__VENUES"]
    code, _, err = await run_cli("scan", env=env)
    assert code == 2
    assert assert_one_line(err) == (
        "pressurebot: invalid config: PRESSUREBOT_TELEGRAM__TOKN (telegram.tokn): unknown key; "
        "did you mean PRESSUREBOT_TELEGRAM__TOKEN?"
    )
    assert "very-secret" not in err


def test_unknown_env_vars_names_only_misspelt_sections() -> None:
    env = {
        "PRESSUREBOT_TELEGRM__TOKEN": "x",
        "PRESSUREBOT_TOKEN": "x",
        "PRESSUREBOT_TELEGRAM__TOKEN": "x",
        "PRESSUREBOT_HTTP": '{"port": 1}',
        "PRESSUREBOT_CONFIG": "c.toml",
        "PRESSUREBOT_TEST_POSTGRES_URL": "postgresql+asyncpg://x",
        "HOME": "/root",
    }
    assert unknown_env_vars(env) == ["PRESSUREBOT_TELEGRM__TOKEN", "PRESSUREBOT_TOKEN"]


def test_a_misspelt_key_never_echoes_its_value() -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError) as info:
        load_settings(env={"PRESSUREBOT_TELEGRAM__TOKN": "123456:very-secret"})
    assert "PRESSUREBOT_TELEGRAM__TOKN (telegram.tokn): unknown key" in str(info.value)
    assert "very-secret" not in str(info.value)


def test_sqlite_older_than_3_35_is_refused_in_one_line() -> None:
    with pytest.raises(DatabaseError) as info:
        check_sqlite_version((3, 31, 1))
    message = str(info.value)
    assert "3.31.1" in message and "3.35" in message and "\n" not in message
    check_sqlite_version(MIN_SQLITE_VERSION)
    check_sqlite_version(sqlite3.sqlite_version_info)  # the library this Python runs
