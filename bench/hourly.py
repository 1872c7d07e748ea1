"""The hourly store's cost (issue 18, docs/operations.md): what it adds to a cycle's write,
what the hourly percentile refresh costs, and how large a symbol-year is on SQLite.

    .venv/bin/python bench/hourly.py [--symbols 600] [--days 90] [--cycles 30]

Method:
- A temp-file SQLite DB at Alembic head; `--days` of hourly rows for `--symbols` symbols
  loaded with the sync sqlite3 module (the percentile window: 90 days by default).
- Write, A/B in one process, one shuffled order, the same rows: the cycle's transaction
  as `Scorer._persist` writes it (the cycle row, its snapshots and OI samples in one
  executemany each) WITHOUT and WITH `hourly_repo.upsert_cycle`. Consecutive cycles
  fall in the same hour, so the upsert updates rows (the steady state: 11 of 12 cycles
  of an hour update, 1 inserts). Wall and CPU (all threads) per write, p50 / p95.
- Refresh: `PercentileBook.refresh` for a new hour (reads the 90-day window of every
  symbol, builds 100 cut points per field), and `annotate` of one cycle's rows.
- Size: dbstat of `hourly_rows` and its index after VACUUM, per row and per symbol-year.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _machine import machine  # bench/ is sys.path[0] when a script runs

from bot.config import DatabaseSettings
from bot.cycle.percentiles import PercentileBook
from bot.cycle.run import SAMPLE_COLUMNS, SNAPSHOT_COLUMNS, snapshot_values
from bot.scoring.formula import ScoreInputs, compute_score
from bot.scoring.result import CycleResult, SymbolScore
from bot.storage import bulk, hourly_repo
from bot.storage.db import create_engine, migrate, session_factory
from bot.storage.models import Cycle, OiSample, ScoreSnapshot

HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
EXCHANGE = "binance"


def cycle(symbols: list[str], started_ms: int, rng: random.Random) -> CycleResult:
    result = CycleResult(0, EXCHANGE, started_ms, started_ms + 5_000, len(symbols))
    for s in symbols:
        oi24, funding, basis = rng.gauss(0, 5), rng.gauss(0.01, 0.02), rng.gauss(0, 0.05)
        inputs = ScoreInputs(rng.gauss(0, 1), rng.gauss(0, 2), oi24, funding, 8, basis)
        mark = 100 * (1 + rng.gauss(0, 0.01))
        result.scores.append(
            SymbolScore(EXCHANGE, s, compute_score(inputs), 1e6, inputs.oi_1h, inputs.oi_4h,
                        oi24, funding, 8, mark, mark * (1 - basis / 100), basis)
        )  # fmt: skip
    return result


def load_window(path: Path, symbols: list[str], days: int, now_ms: int) -> int:
    rng = random.Random(3)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN")
    names = ",".join(hourly_repo.COLUMNS)
    sql = f"INSERT INTO hourly_rows ({names}) VALUES ({','.join('?' * len(hourly_repo.COLUMNS))})"
    n = 0
    for h in range(days * 24, 0, -1):
        stamp = hourly_repo.hour_of(now_ms) - h * HOUR
        rows = hourly_repo.cycle_rows(cycle(symbols, stamp - 60_000, rng))
        con.executemany(sql, [(*r[:2], stamp, *r[3:]) for r in rows])
        n += len(rows)
    con.execute("COMMIT")
    con.close()
    return n


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(args: argparse.Namespace, workdir: Path) -> None:
    db = workdir / "hourly.db"
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{db}"))
    await migrate(engine)
    sessions = session_factory(engine)
    symbols = [f"COIN{i:03d}USDT" for i in range(args.symbols)]
    now = T0 + 100 * 24 * HOUR + 5 * 60_000
    started = time.perf_counter()
    n = load_window(db, symbols, args.days, now)
    print(f"  loaded {n:,} hourly rows ({args.symbols} x {args.days} d) in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip

    rng = random.Random(11)
    plan = [False, True] * args.cycles
    rng.shuffle(plan)
    times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for k, with_hourly in enumerate(plan):
        result = cycle(symbols, now + k * 5_000, rng)  # the same hour throughout
        snaps = snapshot_values(result)
        samples = [(EXCHANGE, s.symbol, result.started_ms, s.oi_contracts, "live")
                   for s in result.scores]  # fmt: skip
        wall, cpu = time.perf_counter(), time.process_time()
        async with sessions() as session, session.begin():
            c = Cycle(exchange=EXCHANGE, started_ms=result.started_ms,
                      finished_ms=result.finished_ms, status="ok",
                      symbols_attempted=len(symbols), symbols_fetched=len(symbols),
                      symbols_failed=0)  # fmt: skip
            session.add(c)
            await session.flush()
            rows = [(c.id, *r) for r in snaps]
            await bulk.insert_ignore_many(session, ScoreSnapshot, SNAPSHOT_COLUMNS, rows)
            await bulk.insert_ignore_many(session, OiSample, SAMPLE_COLUMNS, samples)
            if with_hourly:
                await hourly_repo.upsert_cycle(session, result)
        times[with_hourly].append(
            ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
        )
    print(f"\n  one cycle's write, {args.symbols} symbols ({args.cycles} each, shuffled)")
    print("                                   wall p50   p95   cpu p50   p95  (ms)")
    for key, label in ((False, "snapshots + OI (before)"), (True, "+ hourly upsert (after)")):
        walls, cpus = [t[0] for t in times[key]], [t[1] for t in times[key]]
        print(f"  {label:32} {statistics.median(walls):7.1f} {pct(walls, 0.95):6.1f}"
              f" {statistics.median(cpus):8.1f} {pct(cpus, 0.95):6.1f}")  # fmt: skip

    book = PercentileBook(sessions, EXCHANGE)
    wall, cpu = time.perf_counter(), time.process_time()
    await book.refresh(now + HOUR, symbols)  # a new hour: every window is read again
    refresh = ((time.perf_counter() - wall), (time.process_time() - cpu))
    result = cycle(symbols, now + HOUR, rng)
    wall = time.perf_counter()
    book.annotate(result)
    annotate_ms = (time.perf_counter() - wall) * 1000
    known = sum(s.funding_pctl_90d is not None for s in result.scores)
    cuts = sum(
        sys.getsizeof(c) + 100 * 24 for per in book._cuts.values() for c in per if c is not None
    )
    print(
        f"\n  hourly refresh (PercentileBook.refresh, {args.symbols} symbols x {args.days} d):"
        f" wall {refresh[0]:.2f} s, CPU {refresh[1]:.2f} s; cut points held ~{cuts / 1e6:.1f} MB"
    )
    print(f"  annotate one cycle: {annotate_ms:.2f} ms ({known} rows with percentiles)")
    await engine.dispose()

    con = sqlite3.connect(db)
    con.execute("VACUUM")
    size = con.execute(
        "SELECT SUM(pgsize) FROM dbstat WHERE name IN "
        "('hourly_rows', 'sqlite_autoindex_hourly_rows_1', 'ix_hourly_rows_hour')"
    ).fetchone()[0]
    rows = con.execute("SELECT COUNT(*) FROM hourly_rows").fetchone()[0]
    con.close()
    per_row = size / rows
    print(f"\n  size: {size / 1e6:.1f} MB for {rows:,} rows = {per_row:.0f} bytes per row "
          f"(table and indexes) = {per_row * 8766 / 1e6:.2f} MB per symbol-year")  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--symbols", type=int, default=600)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--cycles", type=int, default=30)
    args = p.parse_args()
    print("Hourly store benchmark")
    print(f"  {machine()}")
    with tempfile.TemporaryDirectory(prefix="pressurebot-hourly-") as tmp:
        asyncio.run(bench(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
