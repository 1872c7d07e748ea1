"""`pressurebot replay --from-db`: a deployment's hourly store evaluates exactly as the
same hours written as a CSV, and too little history is one line and exit 2."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import DatabaseSettings
from bot.replay.data import SHIPPED_HISTORY, History, parse_time, read_history
from bot.replay.from_db import to_history
from bot.storage import hourly_repo
from bot.storage.db import create_engine, session_factory
from fakes.migrated_db import migrated_sqlite

HOUR = 3_600_000


def store_rows(history: History) -> list[tuple[object, ...]]:
    """The shipped rows as the scorer would have stored them (close = mark: the store
    keeps the mark, not traded prices). Score and labels are placeholders: the replay
    scores again from the inputs."""
    rows: list[tuple[object, ...]] = []
    for symbol, hours in history.rows.items():
        for r in hours:
            assert r.mark is not None and r.high is not None and r.low is not None
            high, low = max(r.high, r.mark), min(r.low, r.mark)
            f8 = r.funding_pct * 8 / r.funding_interval_h
            rows.append(
                ("binance", symbol, r.ts_ms, r.ts_ms, 0, "neutral", "NEUTRAL", "Neutral",
                 r.open_interest, None, None, None, r.funding_pct, int(r.funding_interval_h),
                 f8, f8 - 0.01, 0.0, r.mark, r.index_price, high, low)
            )  # fmt: skip
    return rows


async def fill(db: Path, rows: list[tuple[object, ...]]) -> None:
    engine = create_engine(DatabaseSettings(url=migrated_sqlite(db)))
    try:
        async with session_factory(engine)() as session, session.begin():
            await hourly_repo.upsert_rows(session, rows)
    finally:
        await engine.dispose()


def write_csv(path: Path, history: History) -> None:
    columns = ["ts", "symbol", "open", "high", "low", "close", "mark", "spot"]
    columns += ["funding_rate", "funding_interval_h", "oi_bybit"]
    with path.open("w", newline="") as out:
        w = csv.writer(out)
        w.writerow(columns)
        for symbol, rows in history.rows.items():
            for r in rows:
                ts = f"{parse_iso(r.ts_ms)}"
                w.writerow(
                    [ts, symbol, r.perp_close, r.high, r.low, r.perp_close, r.mark,
                     r.index_price, repr(r.funding_rate), r.funding_interval_h, r.open_interest]
                )  # fmt: skip


def parse_iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat()


def config(tmp_path: Path, db: Path) -> str:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n[exchange]\nvenues = ["binance"]\n'
    )
    return str(path)


@pytest.mark.skipif(not SHIPPED_HISTORY.is_file(), reason="needs the shipped history")
def test_from_db_evaluates_as_the_same_hours_in_a_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = read_history(
        SHIPPED_HISTORY,
        symbols=["BTCUSDT", "SOLUSDT"],
        start_ms=parse_time("2024-01-01"),
        end_ms=parse_time("2024-03-01"),  # two months: equality needs no more
    )
    rows = store_rows(shipped)
    db = tmp_path / "store.db"
    asyncio.run(fill(db, rows))
    # The CSV holds exactly what the store gives back (same floats, same hours).
    records = [hourly_repo.HourlyRecord(*r) for r in rows]  # type: ignore[arg-type]
    csv_path = tmp_path / "same.csv"
    write_csv(csv_path, to_history(sorted(records, key=lambda r: (r.symbol, r.hour_ms))))
    cfg = config(tmp_path, db)
    common = ["--evaluate", "--json", "--split", "2024-02-01"]

    assert main(["--config", cfg, "replay", "--from-db", *common]) == 0
    from_db = json.loads(capsys.readouterr().out)
    assert main(["--config", cfg, "replay", str(csv_path), *common]) == 0
    from_csv = json.loads(capsys.readouterr().out)
    from_db.pop("timing_seconds")
    from_csv.pop("timing_seconds")
    assert from_db == from_csv
    verify = from_db["periods"]["verify"]
    assert verify["hours"] > 600 and verify["signals"][0]["name"] == "all hours"


def test_too_little_history_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "short.db"
    t0 = parse_time("2026-01-01")
    rows = [
        ("binance", "BTCUSDT", t0 + h * HOUR, t0 + h * HOUR, 10, "neutral", "NEUTRAL",
         "Neutral", 1.0, None, None, None, 0.01, 8, 0.01, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)
        for h in range(72)
    ]  # fmt: skip
    asyncio.run(fill(db, rows))
    cfg = config(tmp_path, db)
    assert main(["--config", cfg, "replay", "--from-db", "--evaluate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "holds 3.0 days for binance" in err and "at least 14" in err
    assert main(["--config", cfg, "replay", "--from-db", "--exchange", "okx"]) == 2
    assert "no hourly rows for okx" in capsys.readouterr().err


def test_an_empty_store_says_what_fills_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "empty.db"
    asyncio.run(fill(db, []))
    assert main(["--config", config(tmp_path, db), "replay", "--from-db"]) == 2
    assert "the hourly store is empty" in capsys.readouterr().err


def test_no_database_file_is_an_answer_and_none_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "never-run.db"
    cfg = config(tmp_path, db)
    assert main(["--config", cfg, "replay", "--from-db"]) == 2
    err = capsys.readouterr().err
    assert "no database at" in err and "nothing is stored yet" in err
    assert main(["--config", cfg, "replay", "--rule", "oi_4h > 8", "--from-db"]) == 2
    assert "nothing is stored yet" in capsys.readouterr().err
    assert not db.exists()
