"""`pressurebot scan | migrate` as a user runs them: a subprocess against the fake exchange."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.views.market import JSON_ROW_KEYS
from fakes.fake_binance import FakeBinance
from fakes.prefork import start_cli

HOUR = 3_600_000


async def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    proc = await start_cli(*args, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def cli_env(tmp_path: Path, exchange_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRESSUREBOT_", "TELEGRAM_"))}
    env.update(
        PRESSUREBOT_EXCHANGE__BASE_URL=exchange_url,
        PRESSUREBOT_EXCHANGE__VENUES='["binance"]',
        PRESSUREBOT_EXCHANGE__MAX_RETRIES="1",
        PRESSUREBOT_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )
    return env


@pytest.mark.slow
async def test_scan_json_has_the_documented_shape_and_exact_figures(tmp_path: Path) -> None:
    async with FakeBinance() as fake:
        now = int(time.time() * 1000)
        fake.add_symbol("BTCUSDT", mark=50_150, index=50_000, funding_rate=0.0004, oi=1300)
        # 1000 contracts throughout the last 25h: every window is +30%.
        fake.set_oi_history("BTCUSDT", [(now - k * 300_000, 1000.0) for k in range(1, 301)])
        fake.add_symbol(
            "NEWUSDT",
            mark=2.0,
            index=2.0,
            funding_rate=0.00005,
            oi=110,
            funding_interval_hours=4,
            onboard_ms=now - 2 * HOUR,
        )
        fake.set_oi_history("NEWUSDT", [(now - k * 300_000, 100.0) for k in range(1, 24)])

        code, out, err = await run_cli("scan", "--json", env=cli_env(tmp_path, fake.url))

    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) >= {"generated_at", "summary", "rows"}
    assert doc["summary"]["symbols"] == 2
    assert doc["summary"]["long"] + doc["summary"]["short"] + doc["summary"]["neutral"] == 2
    rows = {r["symbol"]: r for r in doc["rows"]}
    for row in doc["rows"]:
        assert list(row)[: len(JSON_ROW_KEYS)] == list(JSON_ROW_KEYS)
        assert isinstance(row["score"], int) and 0 <= row["score"] <= 100
        assert row["band"] in {"neutral", "lean", "stretched", "stressed"}
        assert row["bias"] in {"LONG", "SHORT", "NEUTRAL"}
    assert [r["score"] for r in doc["rows"]] == sorted(
        (r["score"] for r in doc["rows"]), reverse=True
    )

    btc = rows["BTCUSDT"]
    assert btc["oi_1h_pct"] == pytest.approx(30.0)
    assert btc["oi_4h_pct"] == pytest.approx(30.0)
    assert btc["oi_24h_pct"] == pytest.approx(30.0)
    assert btc["funding_pct"] == pytest.approx(0.04)
    assert btc["funding_8h_pct"] == pytest.approx(0.04)
    assert btc["basis_pct"] == pytest.approx(0.3)

    new = rows["NEWUSDT"]
    assert new["oi_1h_pct"] == pytest.approx(10.0)
    assert new["oi_4h_pct"] is None and new["oi_24h_pct"] is None
    assert new["funding_interval_hours"] == 4
    assert new["funding_pct"] == pytest.approx(0.005)
    assert new["funding_8h_pct"] == pytest.approx(0.01)


@pytest.mark.slow
async def test_scan_table_shows_summary_header_and_columns(tmp_path: Path) -> None:
    async with FakeBinance() as fake:
        fake.populate(12, seed=5, history_hours=25)
        code, out, err = await run_cli("scan", "--limit", "5", env=cli_env(tmp_path, fake.url))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Avg stress ") and "· Long bias " in lines[0]
    header = next(line for line in lines if line.strip().startswith("#"))
    for column in (
        "Symbol",
        "Score",
        "Bias",
        "Regime",
        "OI 1h",
        "OI 4h",
        "OI 24h",
        "Funding",
        "Basis",
    ):
        assert column in header
    assert len([line for line in lines if "SYM0" in line]) == 5


async def test_scan_without_exchange_is_one_line_naming_the_url(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9"  # discard port: nothing listens
    code, out, err = await run_cli("scan", env=cli_env(tmp_path, url))
    assert code == 4
    assert out == ""
    assert err.count("\n") == 1 and url in err and "Traceback" not in err


async def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = cli_env(tmp_path, "http://127.0.0.1:9")
    env["PRESSUREBOT_SCORER__INTERVAL_SECONDS"] = "0"
    code, _, err = await run_cli("scan", env=env)
    assert code == 2
    assert err.strip().count("\n") == 0 and "scorer.interval_seconds" in err


async def test_corrupt_database_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "cli.db").write_bytes(b"this is not a database" * 100)
    code, _, err = await run_cli("migrate", env=cli_env(tmp_path, "http://127.0.0.1:9"))
    assert code == 3
    assert err.strip().count("\n") == 0 and "corrupt" in err


async def test_migrate_creates_the_schema_and_is_repeatable(tmp_path: Path) -> None:
    env = cli_env(tmp_path, "http://127.0.0.1:9")
    for _ in range(2):
        code, out, err = await run_cli("migrate", env=env)
        assert code == 0, err
        assert "up to date" in out


async def test_unreachable_telegram_is_one_line_without_the_token(tmp_path: Path) -> None:
    env = cli_env(tmp_path, "http://127.0.0.1:9")
    env["PRESSUREBOT_TELEGRAM__TOKEN"] = "123456:SECRET-abcdefghijklmnopqrstuvwxyz0123"
    env["PRESSUREBOT_TELEGRAM__BASE_URL"] = "http://127.0.0.1:9/bot"
    code, _, err = await run_cli("run", env=env)
    assert code == 5
    last = err.strip().splitlines()[-1]
    assert last.startswith("pressurebot: ") and "127.0.0.1:9" in last
    assert "SECRET" not in err and "Traceback" not in err


@pytest.mark.parametrize("role", ["scorer", "bot", "worker"])
async def test_a_role_other_than_all_on_sqlite_is_refused_in_one_line(
    tmp_path: Path, role: str
) -> None:
    code, _, err = await run_cli("run", "--role", role, env=cli_env(tmp_path, "http://127.0.0.1:9"))
    assert code == 2
    assert err.strip().count("\n") == 0 and f"--role {role} needs PostgreSQL" in err
    assert not (tmp_path / "cli.db").exists()  # refused before touching the database


@pytest.mark.slow
async def test_a_reader_that_leaves_early_ends_quietly(tmp_path: Path) -> None:
    """`pressurebot scan | head -1`: the reader may leave before the table is written
    (here it leaves at once, as `| true` does); no BrokenPipe traceback, exit 0."""
    async with FakeBinance() as fake:
        fake.populate(40, seed=5, history_hours=25)
        read, write = os.pipe()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "scan",
            env=cli_env(tmp_path, fake.url),
            stdout=write,
            stderr=asyncio.subprocess.PIPE,
        )
        os.close(write)
        os.close(read)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err and b"BrokenPipe" not in err


@pytest.mark.parametrize("role", ["bot", "worker"])
async def test_a_telegram_role_without_a_token_is_refused_in_one_line(
    tmp_path: Path, role: str
) -> None:
    env = cli_env(tmp_path, "http://127.0.0.1:9")
    env["PRESSUREBOT_DATABASE__URL"] = "postgresql+asyncpg://nobody@127.0.0.1:9/none"
    code, _, err = await run_cli("run", "--role", role, env=env)
    assert code == 2
    assert err.strip().count("\n") == 0 and f"--role {role} needs a Telegram token" in err


# ---------------------------------------------------------------- --help and exit codes


def test_help_names_every_exit_code_and_the_config_variable() -> None:
    from bot import cli

    codes = {cli.EXIT_CONFIG, cli.EXIT_DATABASE, cli.EXIT_EXCHANGE, cli.EXIT_TELEGRAM}
    out = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, check=True
    ).stdout
    listed = re.findall(r"^  (\d+) ", out.split("exit codes:")[1], re.M)
    assert {int(c) for c in listed} == {0, *codes, cli.EXIT_INTERRUPTED}
    assert "$PRESSUREBOT_CONFIG" in out and "replay" in out


def test_replay_help_explains_every_option() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot", "replay", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    options = out.split("options:")[1].split("exit codes:")[0]
    for flag in ("--symbols", "--from", "--to", "--json", "--split", "--config", "--from-db"):
        # (?![\w-]): `--from` is not `--from-db`.
        [entry] = re.findall(rf"^  {flag}(?![\w-]).*?(?=^  -|\Z)", options, re.M | re.S)
        assert len(entry.split()) > 3, f"{flag} has no help: {entry!r}"
    assert "exit codes:" in out


def test_readme_and_operations_agree_with_the_exit_codes() -> None:
    """docs/operations.md has the table; README's summary names the same codes."""
    from bot import cli

    root = Path(__file__).resolve().parent.parent
    ops = (root / "docs" / "operations.md").read_text().split("## Exit codes")[1]
    table = re.findall(r"^\| (\d+) \|", ops.split("\n## ")[0], re.M)
    codes = [0, cli.EXIT_CONFIG, cli.EXIT_DATABASE, cli.EXIT_EXCHANGE, cli.EXIT_TELEGRAM]
    assert [int(c) for c in table] == [*codes, cli.EXIT_INTERRUPTED]
    readme = (root / "README.md").read_text()
    summary = readme.split("Errors are one line on stderr")[1].split("\n\n")[0]
    listed = [int(c) for c in re.findall(r"\b(\d+): ", summary)]
    assert listed == [*codes[1:], cli.EXIT_INTERRUPTED]
