"""What `/rule test` costs over a deployment's hourly store (issue 20 §3,
docs/rules.md): a one-symbol rule before anything is read, the first market-wide test
(read the store, backtest), a second in the same hour (the backtest only), a rule that
names a percentile field (ranked on first use), a test in the next hour (answered from
the rows read before while they are re-read in the background), with peak memory.

    .venv/bin/python bench/rule_backtest.py [--symbols 600] [--days 90]

Method: a temp-file SQLite DB at Alembic head; `--days` of hourly rows for `--symbols`
symbols (a synthetic store with a planted signal, as tests/replay/store_rows.py) loaded with the
sync sqlite3 module. Then `StoreHistory` (bot/replay/rule_store.py) as the service wires
it, without the shipped file (its one-off load is measured in docs/operations.md), and
`test_rule`'s backtest on its rows. Wall and CPU (process) per step; one run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _machine import machine  # bench/ is sys.path[0] when a script runs

from bot.alerts.rules.backtest import backtest
from bot.alerts.rules.parser import parse_condition
from bot.config import DatabaseSettings
from bot.replay.rule_store import StoreHistory
from bot.storage import hourly_repo
from bot.storage.db import create_engine, migrate, session_factory

HOUR = 3_600_000


def planted_rows(symbols: list[str], hours: int, last_ms: int) -> list[tuple[object, ...]]:
    """As tests/replay/store_rows.py (bench/ does not import tests): every 72 hours OI 4h
    jumps to 12% and the mark climbs 8% over 6 hours, easing back over two days."""
    first = last_ms - (hours - 1) * HOUR
    rows: list[tuple[object, ...]] = []
    for k, symbol in enumerate(symbols):
        for h in range(hours):
            phase = (h + k) % 72
            climb = (phase - 10) * 8.0 / 6 if 10 <= phase <= 16 else 0.0
            climb = 8.0 * (64 - phase) / 48 if 16 < phase < 64 else climb
            mark = 100.0 * (1 + climb / 100) * (1 + 0.001 * math.sin(h))
            t = first + h * HOUR
            rows.append(
                ("binance", symbol, t, t - 60_000, 40 if phase == 10 else 10, "neutral",
                 "NEUTRAL", "Neutral", 1000.0, 0.5, 12.0 if phase == 10 else 1.0, 2.0, 0.01,
                 8, 0.01, 0.0, 0.05, mark, mark, mark * 1.001, mark * 0.999)
            )  # fmt: skip
    return rows


def fill(path: Path, symbols: int, days: int, last_ms: int) -> int:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN")
    names = ",".join(hourly_repo.COLUMNS)
    sql = f"INSERT INTO hourly_rows ({names}) VALUES ({','.join('?' * len(hourly_repo.COLUMNS))})"
    n = 0
    for k in range(symbols):
        rows = planted_rows([f"S{k:04d}USDT"], days * 24, last_ms)
        con.executemany(sql, rows)
        n += len(rows)
    con.execute("COMMIT")
    con.close()
    return n


def step(label: str, wall: float, cpu: float) -> None:
    print(f"  {label:<52} wall {wall:6.2f} s   cpu {cpu:6.2f} s")


async def bench(args: argparse.Namespace, tmp: Path) -> None:
    db = tmp / "bench.db"
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{db}"))
    await migrate(engine)
    now = int(time.time() * 1000)
    rows = fill(db, args.symbols, args.days, now - now % HOUR)
    print(f"  store: {args.symbols} symbols x {args.days} days = {rows:,} rows")
    clock = [now]
    store = StoreHistory(session_factory(engine), lambda: clock[0], None)
    one = StoreHistory(session_factory(engine), lambda: clock[0], None)
    steps = (
        ("a rule on one symbol, nothing read yet", one, "S0001USDT", "oi_4h > 10", False),
        ("first market-wide test (read + backtest)", store, None, "oi_4h > 10", False),
        (
            "second test, same hour (backtest only)",
            store,
            None,
            "oi_4h > 10 and score >= 30",
            False,
        ),
        ("a percentile rule (ranks on first use)", store, None, "oi_24h_pctl_90d >= 99", True),
        ("a percentile rule again", store, None, "oi_24h_pctl_90d >= 95", True),
        ("next hour (rows read before; re-read starts)", store, None, "oi_4h > 10", False),
    )
    for label, source, symbol, condition, pctl in steps:
        if label.startswith("next hour"):
            clock[0] += HOUR
        w, c = time.perf_counter(), time.process_time()
        got = await source("binance", pctl, symbol)
        assert got.rows is not None
        scope = None if symbol is None else [symbol]
        result = await asyncio.to_thread(
            backtest, parse_condition(condition), got.rows, symbols=scope
        )
        step(label, time.perf_counter() - w, time.process_time() - c)
    w, c = time.perf_counter(), time.process_time()
    await store.refreshed()
    step(
        "  ... the background re-read, to its end", time.perf_counter() - w, time.process_time() - c
    )
    print(f"  last result: {result.fires:,} fires over {result.hours:,} hours")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS {peak:,.0f} MB")
    await engine.dispose()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--symbols", type=int, default=600)
    p.add_argument("--days", type=int, default=90)
    args = p.parse_args()
    print("Rule backtest over the hourly store")
    print(f"  {machine()}")
    with tempfile.TemporaryDirectory(prefix="pressurebot-rules-") as tmp:
        asyncio.run(bench(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
