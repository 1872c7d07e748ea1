"""The rule backtest over the deployment's hourly store (bot/replay/rule_store.py): a real
SQLite store with a planted signal shows its lift; merged with a shipped-like history,
an hour in both is counted once (the store's); `replay --rule --from-db` prints it."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.rules.backtest import HistoryRows, RuleRows, backtest
from bot.alerts.rules.fields import COLUMN_INDEX, COLUMN_NAMES
from bot.alerts.rules.parser import parse_condition
from bot.cli import main
from bot.config import DatabaseSettings
from bot.replay.rule_store import StoreHistory, add_percentiles, combine, read_store
from bot.storage.db import create_engine, session_factory
from fakes.migrated_db import migrated_sqlite
from tests.replay.helpers import Rec, write_csv
from tests.replay.store_rows import HOUR, planted_rows, write

NOW = 1_780_000_000_000 - 1_780_000_000_000 % HOUR + 30 * 60_000  # half past an hour
LAST = NOW - NOW % HOUR  # the last whole hour stored


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(DatabaseSettings(url=migrated_sqlite(tmp_path / "s.db")))
    yield session_factory(engine)
    await engine.dispose()


def shipped_like(symbol: str, first_ms: int, hours: int) -> HistoryRows:
    """A shipped-history stand-in: `hours` of one symbol, OI 4h 1%, flat price."""
    values = np.full((len(COLUMN_NAMES), hours), math.nan)
    values[COLUMN_INDEX["oi_4h"]] = 1.0
    ts = np.array([first_ms + h * HOUR for h in range(hours)], dtype=np.int64)
    fwd = np.where(np.arange(hours) < hours - 24, 0.5, math.nan)
    return HistoryRows([symbol] * hours, ts, values, fwd, np.abs(fwd), ("shipped.csv",))


async def test_the_store_shows_the_planted_lift(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await write(sessions, planted_rows(["AAAUSDT", "BBBUSDT"], 30 * 24, LAST))
    async with sessions() as session:
        got = await read_store(session, "binance", NOW)
    assert got.rows is not None and got.exchange == "binance"
    assert len(got.rows) == 2 * 30 * 24 and got.stored_days == pytest.approx(30.0)
    result = backtest(parse_condition("oi_4h > 10"), got.rows)
    assert result.sources[0].name == "hourly store (binance)"
    assert result.fires == result.holding_hours > 15  # one planted hour each, 72 h apart
    assert result.after.p_big == 1.0  # each climbs 8% within the day (highs)
    assert result.baseline.p_big is not None and result.baseline.p_big < 0.5
    assert result.lift is not None and result.lift > 2
    # funding_8h_prev is the symbol's previous stored hour, unknown on its first.
    prev = got.rows.values[COLUMN_INDEX["funding_8h_prev"]]
    assert math.isnan(prev[0]) and prev[1] == pytest.approx(0.01)
    # The percentiles are ranked on demand (14 days of history first).
    add_percentiles(got.rows)
    pctl = got.rows.values[COLUMN_INDEX["oi_24h_pctl_90d"]]
    assert math.isnan(pctl[0]) and not math.isnan(pctl[20 * 24])


async def test_an_hour_in_both_counts_once_the_stores(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await write(sessions, planted_rows(["AAAUSDT"], 20 * 24, LAST))
    async with sessions() as session:
        stored = await read_store(session, "binance", NOW)
    first_stored = LAST - (20 * 24 - 1) * HOUR
    # 40 shipped days of AAA, the last 10 of them overlapping the store; and a coin the
    # store lacks.
    shipped = shipped_like("AAAUSDT", first_stored - 30 * 24 * HOUR, 40 * 24)
    merged = combine(stored, shipped).rows
    assert merged is not None
    keys = list(zip(merged.symbols, merged.ts_ms.tolist(), strict=True))
    assert len(keys) == len(set(keys)) == 20 * 24 + 30 * 24
    origin = merged.origins()
    assert (merged.ts_ms[origin == 1] < first_stored).all()  # shipped only before the store
    result = backtest(parse_condition("oi_4h > 10"), merged)
    names = [(s.name, s.hours) for s in result.sources]
    assert names == [("hourly store (binance)", 20 * 24), ("shipped.csv", 30 * 24)]
    assert result.sources[1].fires == 0 and result.fires == result.sources[0].fires


async def test_store_history_reads_once_an_hour(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await write(sessions, planted_rows(["AAAUSDT"], 3 * 24, LAST))
    now = [NOW]

    async def shipped() -> HistoryRows:
        return shipped_like("AAAUSDT", LAST - 100 * 24 * HOUR, 24 * 24)

    store = StoreHistory(sessions, lambda: now[0], shipped)
    first = await store("binance")
    assert isinstance(first, RuleRows) and first.stored_days == pytest.approx(3.0)
    assert first.rows is not None and first.rows.sources == (
        "hourly store (binance)",
        "shipped.csv",
    )
    assert await store("binance") is first  # same hour: the rows read
    now[0] += HOUR
    assert await store("binance") is first  # a new hour: still those, while it re-reads
    await store.refreshed()
    second = await store("binance")
    assert second is not first and second.stored_days == pytest.approx(3.0 + 1 / 24)
    # Nothing read yet and a rule on one symbol: just that symbol, not kept.
    fresh = StoreHistory(sessions, lambda: now[0], None)
    one = await fresh("binance", True, "AAAUSDT")
    assert one.rows is not None and set(one.rows.symbols) == {"AAAUSDT"}
    assert one.rows.sources == ("hourly store (binance)",)


async def test_an_unreadable_store_leaves_the_shipped_history(tmp_path: Path) -> None:
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/none.db"))
    try:  # never migrated: no hourly_rows table

        async def shipped() -> HistoryRows:
            return shipped_like("AAAUSDT", LAST - 100 * 24 * HOUR, 24 * 24)

        got = await StoreHistory(session_factory(engine), lambda: NOW, shipped)("binance")
        assert got.exchange is None and got.rows is not None
        assert got.rows.sources == ("shipped.csv",)
    finally:
        await engine.dispose()


def test_replay_rule_from_db_prints_the_same_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "c.db"

    async def fill() -> None:
        engine = create_engine(DatabaseSettings(url=migrated_sqlite(db)))
        try:
            # Ten days (under 14: the report says so), ending at the last whole hour.
            now = int(time.time() * 1000)
            rows = planted_rows(["AAAUSDT"], 10 * 24, now - now % HOUR)
            await write(session_factory(engine), rows)
        finally:
            await engine.dispose()

    asyncio.run(fill())
    config = tmp_path / "c.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n[exchange]\nvenues = ["binance"]\n'
    )
    csv = write_csv(tmp_path / "h.csv", [Rec(i, "BBBUSDT", close=100.0) for i in range(30)])
    args = ["--config", str(config), "replay", str(csv), "--from-db", "--rule", "oi_4h > 10"]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    store, shipped = report["sources"]
    assert store["name"] == "hourly store (binance)" and store["hours"] == 10 * 24
    assert shipped["name"] == "h.csv" and shipped["symbols"] == 1
    assert report["store_young"] and report["store_days"] == pytest.approx(10.0, abs=0.1)
    assert report["fires"] >= 3 and report["lift_p_move_5pct"] > 2
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "  hourly store (binance): 1 symbols," in text and "n=240 hours" in text
    assert "note: the hourly store holds 10.0 days for binance (under 14)" in text
    assert "lift (P after / P all hours)" in text
