"""P2 storage benchmark (README, Performance): 30 days of 5-minute cycles for 600 symbols in a
temp-file SQLite DB, the `/top` and `/symbol` queries, one cycle's write, retention.

    .venv/bin/python bench/storage.py [--days 30] [--symbols 600] [--runs 200]
        [--write-cycles 20] [--naive-runs 10] [--year-days 365] [--year-symbols 10]
        [--keep]

Prints a table and PASS/FAIL per target; exits 1 when a target is missed.

Method:
- Schema: `bot.storage.db.migrate` (Alembic head), so tables and indexes are the real ones.
- Data: `days + 1` days of cycles (one day past the retention window) generated in
  Python and loaded with the sync sqlite3 module: one transaction, one executemany per
  day, the journal off, and `ix_score_snapshots_symbol_ts` dropped during the load and
  re-created from its own DDL afterwards. Per symbol the score (0-100), bias, OI, price and funding
  are random walks; OI windows go null after listings and in random outage spans; ~1%
  of cycles are partial. OI samples cover the last 72 h (48 h retention + 1 day).
  No ANALYZE is run: the bot never runs it, so the planner sees what it sees in service.
- Retention: `market_repo.prune` with the default settings (OI 48 h, snapshots 30 d, events
  7 d) at the moment the next cycle starts, which leaves exactly 30 days of cycles
  (with the default --days 30). Then a restart (engine disposed), so the WAL figures
  below are the steady state, not the catch-up prune's.
- Queries (warm OS cache): `market_view.latest_market` (/top) and
  `market_view.symbol_detail(..., history_hours=72)` (/symbol, random symbols), each run
  in its own session as the bot does, through aiosqlite. Wall and CPU time (all
  threads) per run: on a shared machine wall minus CPU is mostly waiting for a core.
- NAIVE, same DB, same session type: /top as "latest row per symbol" by
  GROUP BY symbol MAX(ts_ms) over the whole table (no cycles table); /symbol without the
  (exchange, symbol, ts_ms) index, forced with INDEXED BY ix_score_snapshots_ts (the plan
  SQLite picks when that index is dropped: shown, planned on an empty schema copy, which
  without ANALYZE plans like the full DB) and with NOT INDEXED.
- Write: `Scorer._persist` (Cycle + snapshots + OI samples in one transaction, no alert
  hook) on the bot's engine, then `Scorer._checkpoint` (the PASSIVE WAL checkpoint the
  scorer runs after each cycle) timed on its own; and, as a variant of its own, the same
  with the alert engine's hook in the transaction (`AlertEngine.in_cycle_transaction`
  with no subscriptions: 600 alert states loaded and saved, events, catch-up checks),
  which is the cycle as the service writes it; `Scorer._prune` timed separately every
  second cycle as in service (10 min). Two /top readers run throughout, 20 ms apart
  (about 100 /top a second), on the bot's read path: `MarketCache.snapshot`, the latest
  cycle id read from the DB per command (its 1 s reuse off) and the rows once per new
  cycle. They run in the writer's process, sharing its event loop and GIL, as in
  service. Cycles are written back to back, so a write also overlaps the readers'
  reload of the previous cycle's rows, which in service happens minutes earlier.
  NAIVE, interleaved cycle by cycle in a shuffled order: the same write on an engine
  with SQLite's default 1000-page autocheckpoint and no explicit checkpoint, so the
  checkpoint lands inside the commit; and on that engine the write as first shipped, the
  same rows as one dict each through the ORM's bulk INSERT (`market_repo.insert_ignore`)
  instead of tuples in one driver executemany (`bulk.insert_ignore_many`).
- Alternatives, measured on the same DB after the write phase and not applied to
  bot/storage: latest_cycle ordered by finished_ms, an index cycles(exchange, id), /top
  rows loaded as plain columns, and a covering (exchange, symbol, ts_ms, score) index.
- Bounded: besides the prune above, a year at reduced width (`--year-symbols`) with
  `market_repo.prune` once per simulated day: rows and file size plateau at the window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import gc
import math
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _machine import machine  # bench/ is sys.path[0] when a script runs
from sqlalchemy import and_, event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import DatabaseSettings, Settings
from bot.cycle.alert_hook import AlertEngine
from bot.cycle.run import (
    SAMPLE_COLUMNS,
    SNAPSHOT_COLUMNS,
    CycleHook,
    Scorer,
    _Fetched,
    _sample_rows,
    snapshot_values,
)
from bot.markets.base import ExchangeAdapter, Instrument, OpenInterest
from bot.scoring.formula import Band, Bias, Regime, Score, band_for
from bot.scoring.result import CycleResult, SymbolScore
from bot.storage import market_repo
from bot.storage.db import create_engine, migrate, session_factory
from bot.storage.market_repo import HistoryPoint
from bot.storage.models import Cycle, OiSample, ScoreSnapshot
from bot.views.market import (
    MarketRow,
    MarketSnapshot,
    latest_market,
    row_from_snapshot,
    summarize,
    symbol_detail,
)
from bot.views.market_cache import MarketCache

EXCHANGE = "binance"
STEP_MS = 300_000  # one cycle every 5 minutes
CYCLES_PER_DAY = 86_400_000 // STEP_MS  # 288
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
T0 = 1_764_547_200_000  # 2025-12-01T00:00:00Z, first generated cycle
MB = 1024 * 1024

TOP_TARGET_MS = 20.0
SYMBOL_TARGET_MS = 20.0
WRITE_TARGET_MS = 100.0
READERS = 2  # /top readers running through the write phase
READER_PAUSE_S = 0.02

SNAP_COLS = SNAPSHOT_COLUMNS  # the scorer's column order: the bulk load writes the same rows
SNAP_INSERT = (
    f"INSERT INTO score_snapshots ({', '.join(SNAP_COLS)}) "
    f"VALUES ({', '.join('?' * len(SNAP_COLS))})"
)
CYCLE_INSERT = (
    "INSERT INTO cycles (id, exchange, started_ms, finished_ms, status, symbols_attempted,"
    " symbols_fetched, symbols_failed, weight_used, history_calls, alerts_emitted, errors)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
OI_INSERT = (
    "INSERT INTO oi_samples (exchange, symbol, ts_ms, contracts, source) VALUES (?, ?, ?, ?, ?)"
)
MAJORS = [
    *("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "ADA", "AVAX", "LINK", "TRX", "DOT", "LTC"),
    *("BCH", "NEAR", "APT", "ARB", "OP", "SUI", "TIA", "INJ", "SEI", "WLD", "FIL", "ATOM"),
    *("ETC", "UNI", "AAVE", "MKR", "LDO", "RUNE", "1000PEPE", "1000SHIB", "1000BONK", "WIF"),
]
BANDS = [band_for(s).value for s in range(101)]
REGIMES = list(Regime)


# ------------------------------------------------------------------ helpers


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), pct(values, 0.95), max(values)


def fmt3(v: tuple[float, float, float]) -> str:
    return f"{v[0]:8.2f} {v[1]:8.2f} {v[2]:8.2f}"


def file_mb(path: Path) -> tuple[float, float]:
    """(main file, WAL) in MB."""
    wal = Path(f"{path}-wal")
    return path.stat().st_size / MB, (wal.stat().st_size / MB if wal.exists() else 0.0)


def pages(path: Path) -> tuple[int, int, int]:
    """(page_count, freelist_count, page_size) as a reader sees them (WAL included)."""
    con = sqlite3.connect(path)
    try:
        pc = con.execute("PRAGMA page_count").fetchone()[0]
        fl = con.execute("PRAGMA freelist_count").fetchone()[0]
        ps = con.execute("PRAGMA page_size").fetchone()[0]
    finally:
        con.close()
    return pc, fl, ps


def counts(path: Path) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("cycles", "score_snapshots", "oi_samples")
        }
    finally:
        con.close()


class Phases:
    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.last = self.start
        self.rows: list[tuple[str, float]] = []

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.rows.append((name, now - self.last))
        print(f"  [{now - self.start:7.1f}s] {name}: {now - self.last:.1f}s", flush=True)
        self.last = now


# ------------------------------------------------------------------ data generation


class Market:
    """Per-symbol random walks. `snapshot_rows` yields one cycle's rows for the bulk
    load; `cycle_result` builds the same cycle as the scorer hands it to `_persist`."""

    def __init__(self, symbols: list[str], n_cycles: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        r = self.rng
        self.symbols = symbols
        n = len(symbols)
        self.score = [r.uniform(5, 60) for _ in range(n)]
        self.bias = [r.uniform(-0.5, 0.5) for _ in range(n)]
        self.oi = [10 ** r.uniform(4, 9) for _ in range(n)]
        self.price = [10 ** r.uniform(-4, 4.8) for _ in range(n)]
        self.funding_base = [r.gauss(0.008, 0.01) for _ in range(n)]
        draws = [r.random() for _ in range(n)]
        self.interval = [8 if x < 0.78 else 4 if x < 0.98 else 1 for x in draws]
        # ~3% list during the period: their windows are null until enough history exists.
        self.listed_at = [r.randrange(n_cycles) if r.random() < 0.03 else -1 for _ in range(n)]
        self.gap_until = [-1] * n  # random outage spans: windows null until this cycle

    def step(self, k: int) -> Iterator[tuple[int, float, float, float, float, float, int]]:
        """Advance every symbol by one cycle; yield the walked state per symbol."""
        rnd = self.rng.random
        score, bias, oi, price = self.score, self.bias, self.oi, self.price
        for i in range(len(self.symbols)):
            r1, r2, r3, r4 = rnd(), rnd(), rnd(), rnd()
            s = score[i] + (r1 - 0.5) * 6.0 + (30.0 - score[i]) * 0.004
            s = 0.0 if s < 0 else 100.0 if s > 100 else s
            score[i] = s
            b = bias[i] + (r2 - 0.5) * 0.08 - bias[i] * 0.002
            b = -1.0 if b < -1 else 1.0 if b > 1 else b
            bias[i] = b
            oi[i] *= 1.0 + (r3 - 0.5) * 0.006
            price[i] *= 1.0 + (r4 - 0.5) * 0.004
            if r1 < 0.0004 and self.gap_until[i] < k:  # an outage: 1-24 h of null windows
                self.gap_until[i] = k + 12 + int(r2 * 276)
            since_listing = k - self.listed_at[i] if self.listed_at[i] >= 0 else 1 << 30
            age = since_listing if self.gap_until[i] < k else 0
            yield i, s, b, r3, r4, self.funding_base[i] + (r2 - 0.5) * 0.004, age

    def snapshot_rows(self, k: int, cycle_id: int, ts_ms: int) -> Iterator[tuple[Any, ...]]:
        symbols, oi, price, interval = self.symbols, self.oi, self.price, self.interval
        for i, s, b, r3, r4, funding, age in self.step(k):
            score = int(s + 0.5)
            bias = "LONG" if b > 0.15 else "SHORT" if b < -0.15 else "NEUTRAL"
            regime = REGIMES[(score // 13 + (1 if b > 0 else 4)) % len(REGIMES)].value
            basis = (r4 - 0.5) * 0.3
            d1 = (r3 - 0.5) * 4.0 + b
            yield (
                cycle_id,
                EXCHANGE,
                symbols[i],
                ts_ms,
                score,
                BANDS[score],
                bias,
                regime,
                oi[i],
                d1 if age >= 12 else None,
                d1 * 1.7 + b * 2 if age >= 48 else None,
                d1 * 3.1 + b * 5 if age >= 288 else None,
                funding,
                interval[i],
                funding * 8 / interval[i],
                price[i],
                price[i] * (1 - basis / 100),
                basis,
                s / 100 * (0.5 + r3 / 2),
                min(1.0, abs(funding) * 20),
                min(1.0, abs(basis) * 5),
                b,
                score,  # the symbol's own percentiles (bot/scoring/percentile.py)
                100 - score,
                50,
            )

    def cycle_result(self, k: int, started_ms: int) -> tuple[CycleResult, _Fetched]:
        """One cycle as the scorer hands it to `_persist`."""
        result = CycleResult(
            cycle_id=0,
            exchange=EXCHANGE,
            started_ms=started_ms,
            finished_ms=started_ms + 6_000,
            symbols_attempted=len(self.symbols),
        )
        instruments: dict[str, Instrument] = {}
        ois: dict[str, OpenInterest] = {}
        for i, s, b, r3, r4, funding, age in self.step(k):
            sym = self.symbols[i]
            score = int(s + 0.5)
            bias = Bias.LONG if b > 0.15 else Bias.SHORT if b < -0.15 else Bias.NEUTRAL
            basis = (r4 - 0.5) * 0.3
            d1 = (r3 - 0.5) * 4.0 + b
            iv = self.interval[i]
            sc = Score(
                score=score,
                band=Band(BANDS[score]),
                bias=bias,
                regime=REGIMES[(score // 13 + (1 if b > 0 else 4)) % len(REGIMES)],
                funding_8h_pct=funding * 8 / iv,
                funding_premium=funding * 8 / iv - 0.01,
                oi_build=s / 100 * (0.5 + r3 / 2),
                funding_st=min(1.0, abs(funding) * 20),
                basis_st=min(1.0, abs(basis) * 5),
                bias_value=b,
            )
            result.scores.append(
                SymbolScore(
                    exchange=EXCHANGE,
                    symbol=sym,
                    score=sc,
                    oi_contracts=self.oi[i],
                    oi_1h_pct=d1 if age >= 12 else None,
                    oi_4h_pct=d1 * 1.7 + b * 2 if age >= 48 else None,
                    oi_24h_pct=d1 * 3.1 + b * 5 if age >= 288 else None,
                    funding_pct=funding,
                    funding_interval_hours=iv,
                    mark_price=self.price[i],
                    index_price=self.price[i] * (1 - basis / 100),
                    basis_pct=basis,
                )
            )
            instruments[sym] = Instrument(EXCHANGE, sym, sym.removesuffix("USDT"), "USDT", T0)
            ois[sym] = OpenInterest(sym, self.oi[i], started_ms + 800 + i)
        fetched = _Fetched(instruments=instruments, premium={}, intervals={}, oi=ois, failed={})
        return result, fetched


def symbol_names(n: int) -> list[str]:
    names = [f"{b}USDT" for b in MAJORS[:n]]
    names += [f"COIN{i:03d}USDT" for i in range(n - len(names))]
    return sorted(names)


def cycle_row(k: int, n_sym: int) -> tuple[Any, ...]:
    """Cycle k (id k + 1) for the bulk load: every 97th is partial (1-3 symbols failed)."""
    started = T0 + k * STEP_MS
    failed = 1 + k % 3 if k % 97 == 0 else 0
    return (
        k + 1,
        EXCHANGE,
        started,
        started + 5_000 + k % 4_000,
        "partial" if failed else "ok",
        n_sym + failed,
        n_sym,
        failed,
        40 + n_sym + k % 7,
        0,
        0,
        "COINXUSDT: open interest: timeout" if failed else None,
    )


def build(
    path: Path, market: Market, n_cycles: int, oi_cycles: int, drop_symbol_index: bool
) -> None:
    """Bulk-load `n_cycles` cycles starting at T0 with the sync sqlite3 module."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")
    ddl = None
    if drop_symbol_index:
        ddl = con.execute(
            "SELECT sql FROM sqlite_master WHERE name='ix_score_snapshots_symbol_ts'"
        ).fetchone()[0]
        con.execute("DROP INDEX ix_score_snapshots_symbol_ts")
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO instruments (exchange, symbol, base_asset, quote_asset, onboard_ms,"
        " first_seen_ms, last_seen_ms, active) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
        [(EXCHANGE, s, s.removesuffix("USDT"), "USDT", T0, T0, T0) for s in market.symbols],
    )
    n_sym = len(market.symbols)
    oi_rows: list[tuple[Any, ...]] = []
    for day_start in range(0, n_cycles, CYCLES_PER_DAY):
        ks = range(day_start, min(n_cycles, day_start + CYCLES_PER_DAY))
        con.executemany(CYCLE_INSERT, [cycle_row(k, n_sym) for k in ks])

        def day_rows(ks: range = ks) -> Iterator[tuple[Any, ...]]:
            for k in ks:
                started = T0 + k * STEP_MS
                yield from market.snapshot_rows(k, k + 1, started)
                if k >= n_cycles - oi_cycles:
                    oi_rows.extend(
                        (EXCHANGE, s, started + 800 + i, market.oi[i], "live")
                        for i, s in enumerate(market.symbols)
                    )

        con.executemany(SNAP_INSERT, day_rows())
    con.executemany(OI_INSERT, oi_rows)
    con.execute("COMMIT")
    if ddl is not None:
        con.execute(ddl)
    con.execute("PRAGMA journal_mode=WAL")
    con.close()


# ------------------------------------------------------------------ timing


class GcWatch:
    """Time spent in the cyclic garbage collector, and its generation-2 passes."""

    ms = 0.0
    gen2 = 0
    _t = 0.0

    @classmethod
    def callback(cls, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            cls._t = time.perf_counter()
        else:
            cls.ms += (time.perf_counter() - cls._t) * 1000
            cls.gen2 += info["generation"] == 2


class Runs:
    """Wall and CPU (all threads: the event loop and aiosqlite's worker) per run, in ms,
    and the GC's share.

    The CPU column is what the work costs; wall minus CPU is waiting, mostly for a core
    on a shared machine. A generation-2 GC pass (tens of ms here) lands on whichever run
    crosses the allocation threshold; the gen2 and gc columns count them.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.gc_ms = 0.0
        self.gen2 = 0

    @contextlib.contextmanager
    def run(self) -> Iterator[None]:
        t, c, g, n = time.perf_counter(), time.process_time(), GcWatch.ms, GcWatch.gen2
        yield
        self.wall.append((time.perf_counter() - t) * 1000)
        self.cpu.append((time.process_time() - c) * 1000)
        self.gc_ms += GcWatch.ms - g
        self.gen2 += GcWatch.gen2 - n

    def p95(self) -> float:
        return pct(self.wall, 0.95)

    def line(self, note: str = "") -> str:
        w, c = self.wall, self.cpu
        return (
            f"  {self.label:40s}{statistics.median(w):8.2f}{pct(w, 0.95):8.2f}{max(w):8.2f}"
            f"{statistics.median(c):8.2f}{pct(c, 0.95):8.2f}{self.gen2:5d}{self.gc_ms:7.0f}"
            f"{len(w):5d}  {note}"
        )


HEADER = (
    f"  {'(ms; wall = waited, cpu = all threads)':40s}"
    f"{'wall50':>8s}{'wall95':>8s}{'max':>8s}{'cpu50':>8s}{'cpu95':>8s}"
    f"{'gen2':>5s}{'gc':>7s}{'n':>5s}  target"
)


async def time_runs(
    label: str,
    sessions: async_sessionmaker[AsyncSession],
    fn: Callable[[AsyncSession, int], Awaitable[Any]],
    runs: int,
) -> Runs:
    out = Runs(label)
    for i in range(runs):
        with out.run():
            async with sessions() as session:
                await fn(session, i)
    return out


async def time_interleaved(
    sessions: async_sessionmaker[AsyncSession],
    fns: dict[str, Callable[[AsyncSession, int], Awaitable[Any]]],
    runs: int,
) -> list[Runs]:
    """Every variant once per round, in a shuffled order: load on the shared machine and
    GC passes (which would alias onto one variant in a fixed order) hit them alike."""
    out = {label: Runs(label) for label in fns}
    order = list(fns.items())
    rng = random.Random(5)
    for i in range(runs):
        rng.shuffle(order)
        for label, fn in order:
            with out[label].run():
                async with sessions() as session:
                    await fn(session, i)
    return list(out.values())


def ratio(slow: Runs, fast: Runs) -> str:
    return f"x{statistics.median(slow.wall) / statistics.median(fast.wall):.0f} slower (p50)"


async def naive_top(session: AsyncSession) -> list[MarketRow]:
    """Latest row per symbol without a cycles table: GROUP BY symbol MAX(ts_ms)."""
    latest = (
        select(ScoreSnapshot.symbol, func.max(ScoreSnapshot.ts_ms).label("ts"))
        .where(ScoreSnapshot.exchange == EXCHANGE)
        .group_by(ScoreSnapshot.symbol)
        .subquery()
    )
    rows = await session.scalars(
        select(ScoreSnapshot)
        .join(
            latest,
            and_(
                ScoreSnapshot.exchange == EXCHANGE,
                ScoreSnapshot.symbol == latest.c.symbol,
                ScoreSnapshot.ts_ms == latest.c.ts,
            ),
        )
        .order_by(ScoreSnapshot.score.desc(), ScoreSnapshot.symbol)
    )
    return [row_from_snapshot(s) for s in rows.all()]


async def hinted_symbol(
    session: AsyncSession, symbol: str, hint: str
) -> tuple[MarketRow | None, list[tuple[int, int]]]:
    """`symbol_detail` with the same two queries, the index choice forced by `hint`."""
    cols = ", ".join(SNAP_COLS)
    row = (
        await session.execute(
            text(
                f"SELECT {cols} FROM score_snapshots {hint} "
                "WHERE exchange = :ex AND symbol = :sym ORDER BY ts_ms DESC LIMIT 1"
            ),
            {"ex": EXCHANGE, "sym": symbol},
        )
    ).first()
    if row is None:
        return None, []
    since = int(row.ts_ms) - 72 * HOUR_MS
    hist = await session.execute(
        text(
            "SELECT ts_ms, score, oi_contracts, funding_8h_pct, basis_pct "
            f"FROM score_snapshots {hint} "
            "WHERE exchange = :ex AND symbol = :sym AND ts_ms >= :since ORDER BY ts_ms"
        ),
        {"ex": EXCHANGE, "sym": symbol, "since": since},
    )
    points = [HistoryPoint(int(t), int(s), oi, f8, b) for t, s, oi, f8, b in hist.all()]
    return row_from_snapshot(cast(Any, row)), points


# ---- alternatives to the project's /top (measured, not applied)

MARKET_ROW_COLS = [getattr(ScoreSnapshot, f.name) for f in dataclasses.fields(MarketRow)]


async def latest_cycle_by_finished(session: AsyncSession, exchange: str) -> Cycle | None:
    """`market_repo.latest_cycle` ordered the way ix_cycles_exchange_finished is: no sort."""
    return await session.scalar(
        select(Cycle)
        .where(Cycle.exchange == exchange, Cycle.symbols_fetched > 0)
        .order_by(Cycle.finished_ms.desc(), Cycle.id.desc())
        .limit(1)
    )


async def market_alt(session: AsyncSession, core_rows: bool) -> MarketSnapshot | None:
    """`latest_market` with latest_cycle_by_finished, and optionally the snapshot rows
    loaded as plain columns straight into MarketRow (no ORM objects)."""
    cycle = await latest_cycle_by_finished(session, EXCHANGE)
    if cycle is None:
        return None
    if core_rows:
        result = await session.execute(
            select(*MARKET_ROW_COLS)
            .where(ScoreSnapshot.cycle_id == cycle.id)
            .order_by(ScoreSnapshot.score.desc(), ScoreSnapshot.symbol)
        )
        rows = [MarketRow(*r) for r in result.all()]
    else:
        rows = [row_from_snapshot(s) for s in await market_repo.cycle_snapshots(session, cycle.id)]
    return MarketSnapshot(
        cycle_id=cycle.id,
        generated_ms=cycle.started_ms,
        status=cycle.status,
        symbols_failed=cycle.symbols_failed,
        rows=rows,
        summary=summarize(rows),
    )


def capture_sql(engine: AsyncEngine) -> tuple[list[tuple[str, Any]], Callable[[], None]]:
    seen: list[tuple[str, Any]] = []

    def on_exec(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", on_exec)
    return seen, lambda: event.remove(engine.sync_engine, "before_cursor_execute", on_exec)


def plans(con: sqlite3.Connection, statements: list[tuple[str, Any]]) -> list[str]:
    out = []
    for sql, params in statements:
        detail = " / ".join(r[3] for r in con.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        out.append(f"    {' '.join(sql.split())[:86]}...\n      -> {detail}")
    return out


def schema_copy(path: Path, drop: tuple[str, ...] = ()) -> sqlite3.Connection:
    """An empty in-memory DB with the same schema. Without ANALYZE statistics SQLite plans
    from the schema alone, so plans here are the plans on the full DB."""
    src = sqlite3.connect(path)
    ddl = src.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type DESC"
    ).fetchall()
    src.close()
    mem = sqlite3.connect(":memory:", isolation_level=None)
    for (sql,) in ddl:
        mem.execute(sql)
    for name in drop:
        mem.execute(f"DROP INDEX {name}")
    return mem


# ------------------------------------------------------------------ bounded (a year)


async def year_sim(workdir: Path, days: int, n_symbols: int, settings: Settings) -> list[str]:
    path = workdir / "year.db"
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{path}"))
    await migrate(engine)
    sessions = session_factory(engine)
    market = Market(symbol_names(n_symbols), days * CYCLES_PER_DAY, seed=11)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=NORMAL")
    snap_days = settings.scorer.snapshot_retention_days
    marks = {1, snap_days, snap_days + 1, 2 * snap_days, 90, 180, days}
    out = []
    peak = 0
    tail = (0, 50, 0, 0, None)  # failed, weight, history calls, alerts, errors
    for day in range(days):
        con.execute("BEGIN")
        for k in range(day * CYCLES_PER_DAY, (day + 1) * CYCLES_PER_DAY):
            started = T0 + k * STEP_MS
            con.execute(
                CYCLE_INSERT,
                (k + 1, EXCHANGE, started, started + 5000, "ok", n_symbols, n_symbols, *tail),
            )
            con.executemany(SNAP_INSERT, market.snapshot_rows(k, k + 1, started))
            con.executemany(
                OI_INSERT,
                [
                    (EXCHANGE, s, started + 800 + i, market.oi[i], "live")
                    for i, s in enumerate(market.symbols)
                ],
            )
        con.execute("COMMIT")
        peak = max(peak, con.execute("SELECT count(*) FROM score_snapshots").fetchone()[0])
        now = T0 + (day + 1) * DAY_MS  # the next cycle's start
        async with sessions() as session, session.begin():
            await market_repo.prune(
                session,
                oi_before_ms=now - settings.scorer.oi_sample_retention_hours * HOUR_MS,
                snapshots_before_ms=now - snap_days * DAY_MS,
                events_before_ms=now - settings.alerts.event_retention_days * DAY_MS,
            )
        if day + 1 in marks:
            c = counts(path)
            pc, fl, ps = pages(path)
            main, wal = file_mb(path)
            out.append(
                f"    day {day + 1:4d}: cycles {c['cycles']:6d}  snapshots "
                f"{c['score_snapshots']:8d}  oi {c['oi_samples']:6d}  db {pc * ps / MB:6.2f} MB"
                f" ({fl} free pages)  files {main:6.2f} + WAL {wal:4.2f} MB"
            )
    con.close()
    await engine.dispose()
    window = snap_days * CYCLES_PER_DAY * n_symbols
    out.append(
        f"    window = {snap_days} d x {CYCLES_PER_DAY} x {n_symbols} = {window} snapshot rows;"
        f" peak between prunes {peak} (= window + 1 prune interval of 1 day)"
    )
    return out


# ------------------------------------------------------------------ phases


async def prune_now(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, now_ms: int
) -> dict[str, int]:
    """`market_repo.prune` with the configured retention, as `Scorer._prune` computes it."""
    async with sessions() as session, session.begin():
        return await market_repo.prune(
            session,
            oi_before_ms=now_ms - settings.scorer.oi_sample_retention_hours * HOUR_MS,
            snapshots_before_ms=now_ms - settings.scorer.snapshot_retention_days * DAY_MS,
            events_before_ms=now_ms - settings.alerts.event_retention_days * DAY_MS,
        )


@dataclasses.dataclass(frozen=True)
class DbState:
    """Row counts, file sizes (main, WAL; MB) and pages at one moment."""

    rows: dict[str, int]
    size: tuple[float, float]
    pages: tuple[int, int, int]

    @classmethod
    def of(cls, path: Path) -> DbState:
        return cls(counts(path), file_mb(path), pages(path))


@dataclasses.dataclass
class Bench:
    """What every phase shares: the arguments, the DB and the bot's engine on it."""

    args: argparse.Namespace
    workdir: Path
    settings: Settings = dataclasses.field(default_factory=Settings)
    ph: Phases = dataclasses.field(default_factory=Phases)
    load0: tuple[float, float, float] = dataclasses.field(default_factory=os.getloadavg)
    engine: AsyncEngine | None = None
    sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def path(self) -> Path:
        return self.workdir / "p2.db"

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.path}"

    @functools.cached_property
    def symbols(self) -> list[str]:
        return symbol_names(self.args.symbols)

    @property
    def keep_days(self) -> int:
        return self.settings.scorer.snapshot_retention_days

    @property
    def n_cycles(self) -> int:
        return int((self.args.days + 1) * CYCLES_PER_DAY)

    @functools.cached_property
    def market(self) -> Market:
        return Market(self.symbols, self.n_cycles)

    @functools.cached_property
    def picks(self) -> list[str]:
        """The symbols /symbol asks for, one per timed run."""
        rng = random.Random(3)
        return [rng.choice(self.symbols) for _ in range(max(self.args.runs, self.args.naive_runs))]

    def db(self) -> async_sessionmaker[AsyncSession]:
        assert self.sessions is not None, "the engine is opened by prune_backlog"
        return self.sessions

    async def reopen(self) -> None:
        """A restart: disposing the last connection checkpoints and removes the WAL."""
        if self.engine is not None:
            await self.engine.dispose()
        self.engine = create_engine(DatabaseSettings(url=self.url))
        self.sessions = session_factory(self.engine)


async def load_data(b: Bench) -> DbState:
    """The real schema (Alembic head), then `days + 1` days bulk-loaded."""
    engine = create_engine(DatabaseSettings(url=b.url))
    await migrate(engine)
    await engine.dispose()
    b.ph.done("schema (migrate)")
    oi_cycles = (b.settings.scorer.oi_sample_retention_hours + 24) * HOUR_MS // STEP_MS
    build(b.path, b.market, b.n_cycles, oi_cycles, drop_symbol_index=True)
    b.ph.done(f"build {b.n_cycles} cycles x {len(b.symbols)} symbols")
    return DbState.of(b.path)


@dataclasses.dataclass(frozen=True)
class Backlog:
    deleted: dict[str, int]
    ms: float
    after: DbState


async def prune_backlog(b: Bench) -> Backlog:
    """Retention: the day past the window goes, at the moment the next cycle starts."""
    await b.reopen()
    t = time.perf_counter()
    deleted = await prune_now(b.db(), b.settings, T0 + b.n_cycles * STEP_MS)
    prune_ms = (time.perf_counter() - t) * 1000
    after = DbState.of(b.path)
    # Restart, so the write phase below shows the steady-state WAL rather than this
    # catch-up prune's.
    await b.reopen()
    b.ph.done("prune one day past retention")
    return Backlog(deleted, prune_ms, after)


@dataclasses.dataclass(frozen=True)
class Plans:
    top: MarketSnapshot
    detail: tuple[MarketRow | None, list[tuple[int, int]]]
    seen: list[tuple[str, Any]]  # the project's SELECTs, captured from one run each
    lines: list[str]
    dropped: list[str]  # /symbol plans without ix_score_snapshots_symbol_ts


async def query_plans(b: Bench, cycles_kept: int) -> Plans:
    assert b.engine is not None
    seen, stop = capture_sql(b.engine)
    async with b.db()() as session:
        top = await latest_market(session, EXCHANGE)
    async with b.db()() as session:
        detail = await symbol_detail(session, EXCHANGE, b.symbols[0])
    stop()
    assert top is not None and len(top.rows) == len(b.symbols), "latest cycle incomplete"
    expected_hist = min(72 * HOUR_MS // STEP_MS + 1, cycles_kept)
    assert len(detail[1]) == expected_hist, len(detail[1])
    con = sqlite3.connect(b.path)
    plan_lines = plans(con, seen)
    con.close()
    assert plans(schema_copy(b.path), seen) == plan_lines, "schema-only plans differ"
    dropped_plan = plans(schema_copy(b.path, ("ix_score_snapshots_symbol_ts",)), seen[-2:])
    b.ph.done("query plans")
    return Plans(top, detail, seen, plan_lines, dropped_plan)


@dataclasses.dataclass(frozen=True)
class Queries:
    top: Runs
    sym: Runs
    cycle: Runs
    # the naive peers, same DB, same session type
    n_top: Runs
    n_sym: Runs
    n_full: Runs


# The project's queries as timed callables: (session, run index) -> None.
Query = Callable[[AsyncSession, int], Awaitable[Any]]


def our_queries(picks: list[str]) -> dict[str, Query]:
    async def top(s: AsyncSession, _i: int) -> None:
        await latest_market(s, EXCHANGE)

    async def sym(s: AsyncSession, i: int) -> None:
        await symbol_detail(s, EXCHANGE, picks[i], history_hours=72)

    async def cycle(s: AsyncSession, _i: int) -> None:
        await market_repo.latest_cycle(s, EXCHANGE)

    return {"top": top, "sym": sym, "cycle": cycle}


async def query_latency(b: Bench, plan: Plans) -> Queries:
    """Ours (warm OS cache), then the naive peers, which must return what ours does."""
    args, sessions, picks = b.args, b.db(), b.picks
    ours = our_queries(picks)
    await time_runs("warm-up", sessions, ours["top"], 10)
    await time_runs("warm-up", sessions, ours["sym"], 10)
    q_top = await time_runs("/top    latest_market", sessions, ours["top"], args.runs)
    q_sym = await time_runs("/symbol symbol_detail(72h)", sessions, ours["sym"], args.runs)
    q_cyc = await time_runs(
        "  of which market_repo.latest_cycle", sessions, ours["cycle"], args.runs
    )
    b.ph.done(f"/top and /symbol x {args.runs}")

    async def top_naive(s: AsyncSession, _i: int) -> None:
        await naive_top(s)

    async def sym_no_ix(s: AsyncSession, i: int) -> None:
        await hinted_symbol(s, picks[i], "INDEXED BY ix_score_snapshots_ts")

    async def sym_no_index_at_all(s: AsyncSession, i: int) -> None:
        await hinted_symbol(s, picks[i], "NOT INDEXED")

    async with sessions() as session:
        assert await naive_top(session) == plan.top.rows, "naive /top differs"
        no_ix = await hinted_symbol(session, b.symbols[0], "INDEXED BY ix_score_snapshots_ts")
        assert no_ix == plan.detail, "naive /symbol differs"
    n = args.naive_runs
    n_top = await time_runs("/top    naive GROUP BY symbol MAX(ts)", sessions, top_naive, n)
    n_sym = await time_runs("/symbol w/o (exchange,symbol,ts) index", sessions, sym_no_ix, n)
    n_full = await time_runs(
        "/symbol no index at all (NOT INDEXED)", sessions, sym_no_index_at_all, max(2, n // 3)
    )
    b.ph.done("naive peers")
    return Queries(q_top, q_sym, q_cyc, n_top, n_sym, n_full)


# ---- the cycle write, while /top readers run


async def persist_orm_rows(
    sessions: async_sessionmaker[AsyncSession], result: CycleResult, fetched: _Fetched
) -> None:
    """The cycle's write as first shipped (the naive peer): the same rows, one dict each,
    through the ORM's bulk INSERT (`market_repo.insert_ignore`) instead of plain tuples
    in one driver executemany (`Scorer._persist`)."""
    async with sessions() as session, session.begin():
        cycle = Cycle(
            exchange=result.exchange,
            started_ms=result.started_ms,
            finished_ms=result.finished_ms,
            status=result.status,
            symbols_attempted=result.symbols_attempted,
            symbols_fetched=result.symbols_fetched,
            symbols_failed=len(result.failed),
            weight_used=result.weight_used,
            history_calls=result.history_calls,
            errors=None,
        )
        session.add(cycle)
        await session.flush()
        result.cycle_id = cycle.id
        head = (cycle.id,)
        snaps = [
            dict(zip(SNAPSHOT_COLUMNS, head + r, strict=True)) for r in snapshot_values(result)
        ]
        await market_repo.insert_ignore(session, ScoreSnapshot, snaps)
        samples = _sample_rows(result.exchange, fetched, {})
        oi = [dict(zip(SAMPLE_COLUMNS, r, strict=True)) for r in samples]
        await market_repo.insert_ignore(session, OiSample, oi)


@contextlib.asynccontextmanager
async def reader_load(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Runs]:
    """READERS /top readers on the bot's read path while the block runs:
    `MarketCache.snapshot`, the latest cycle id read from the DB per command and the rows
    once per new cycle (bot/views/market_cache.py). cycle_ttl=0: the bot reuses the id
    for a second; here every /top reads it, so the readers really read while a cycle
    writes. They share the event loop and the GIL with the writer, as in service."""
    rd = Runs("/top readers during the writes")
    market_cache = MarketCache(sessions, EXCHANGE, cycle_ttl=0.0)
    reading = True

    async def reader() -> None:
        while reading:
            with rd.run():
                await market_cache.snapshot()
            await asyncio.sleep(READER_PAUSE_S)

    readers = [asyncio.create_task(reader()) for _ in range(READERS)]
    try:
        yield rd
    finally:
        reading = False
        await asyncio.gather(*readers)


def default_checkpoint_engine(url: str) -> AsyncEngine:
    """The bot's engine but with SQLite's default 1000-page autocheckpoint, which then
    lands inside the cycle's commit (the bot before the PASSIVE checkpoint)."""
    engine = create_engine(DatabaseSettings(url=url))

    @event.listens_for(engine.sync_engine, "connect")
    def _default_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA wal_autocheckpoint=1000")  # SQLite's default

    return engine


# The write variants, interleaved cycle by cycle in a shuffled order on the same DB.
OURS, OURS_HOOK, NAIVE_CKPT, NAIVE_ORM = (
    "write 1 cycle (Scorer._persist)",
    "  with the alert hook (AlertEngine)",
    "naive: default autocheckpoint",
    "naive: ORM dicts, default ckpt",
)
WRITERS = (OURS, OURS_HOOK, NAIVE_CKPT, NAIVE_ORM)


class Writers:
    """Ours: the shipped path, the bot's engine (autocheckpoint raised to a safety net),
    the cycle's transaction, then Scorer._checkpoint (PASSIVE) after the commit, timed on
    its own; and the same with the alert engine's hook in the transaction (no
    subscriptions: state, events, catch-up checks), as the service runs it. The naive
    peers: the same write on an engine with SQLite's default autocheckpoint, and the ORM
    write of dict rows on that engine."""

    def __init__(self, b: Bench) -> None:
        def scorer(sessions: async_sessionmaker[AsyncSession], hook: CycleHook | None) -> Scorer:
            # No fetch here: the adapter is only asked its name (the fetcher's, the book's).
            venue = cast(ExchangeAdapter, types.SimpleNamespace(name=EXCHANGE))
            sc = Scorer(venue, sessions, b.settings, hook)
            sc._synced_universe = frozenset(b.symbols)  # instruments already synced
            return sc

        self.path = b.path
        self.engine_n = default_checkpoint_engine(b.url)
        self.sessions_n = session_factory(self.engine_n)
        self.scorers = {
            OURS: scorer(b.db(), None),
            OURS_HOOK: scorer(b.db(), AlertEngine(b.settings).in_cycle_transaction),
            NAIVE_CKPT: scorer(self.sessions_n, None),
        }
        self.runs = {name: Runs(name) for name in WRITERS}
        self.checkpoint = Runs("  then Scorer._checkpoint (PASSIVE)")
        self.wal_mb: list[float] = []

    async def write(self, name: str, result: CycleResult, fetched: _Fetched) -> None:
        for sc in self.scorers.values():
            sc._last_prune_ms = result.started_ms  # the prune is timed on its own
        with self.runs[name].run():
            if name == NAIVE_ORM:
                await persist_orm_rows(self.sessions_n, result, fetched)
            else:
                await self.scorers[name]._persist(result, fetched, {})
        if name == OURS:
            with self.checkpoint.run():
                await self.scorers[OURS]._checkpoint()
            self.wal_mb.append(file_mb(self.path)[1])
        elif name == OURS_HOOK:
            await self.scorers[OURS]._checkpoint()


@dataclasses.dataclass(frozen=True)
class Writes:
    runs: dict[str, Runs]  # per variant in WRITERS
    checkpoint: Runs
    prune: Runs
    readers: Runs
    wal_mb: list[float]
    after: DbState
    load: tuple[float, float]  # 1-minute load average as the phase starts and ends


async def write_phase(b: Bench) -> Writes:
    """Cycles written exactly as the scorer writes them, while /top readers run; every
    variant once per 5-minute step, in a shuffled order (`Writers`)."""
    load0 = os.getloadavg()[0]
    writers = Writers(b)
    ours = writers.scorers[OURS]
    p = Runs("prune every 10 min (Scorer._prune)")
    rng_w = random.Random(9)
    k = b.n_cycles
    # One untimed cycle through the hook first: the alert states exist, as in service.
    await writers.scorers[OURS_HOOK]._persist(*b.market.cycle_result(k, T0 + k * STEP_MS), {})
    k += 1
    async with reader_load(b.db()) as rd:
        for j in range(b.args.write_cycles):
            order = list(WRITERS)
            rng_w.shuffle(order)
            for name in order:
                started = T0 + k * STEP_MS
                await writers.write(name, *b.market.cycle_result(k, started))
                k += 1
            if j % 2 == 1:  # PRUNE_EVERY_MS = 10 min: every second 5-minute step
                with p.run():
                    await ours._prune(started)
                await ours._checkpoint()
    await writers.engine_n.dispose()
    n = len(WRITERS)
    b.ph.done(f"write {b.args.write_cycles} x {n} cycles (ours, naive) + prune every 10 min")
    load = (load0, os.getloadavg()[0])
    return Writes(writers.runs, writers.checkpoint, p, rd, writers.wal_mb, DbState.of(b.path), load)


# ---- alternatives (measured on this DB, not applied to bot/storage). After the write
# phase: building and dropping an index leaves WAL and free pages behind.


@dataclasses.dataclass(frozen=True)
class Alternatives:
    top: list[Runs]  # as is, A, A+C (interleaved)
    cycle: list[Runs]  # as is, by finished_ms (interleaved)
    b_top: Runs
    b_plan: list[str]
    d_sym: Runs
    d_plan: list[str]
    cover_s: float
    cover_mb: float


async def alternatives_top(b: Bench, ours: dict[str, Query]) -> tuple[list[Runs], list[Runs]]:
    async def top_a(s: AsyncSession, _i: int) -> None:
        await market_alt(s, core_rows=False)

    async def top_ac(s: AsyncSession, _i: int) -> None:
        await market_alt(s, core_rows=True)

    async def cycle_a(s: AsyncSession, _i: int) -> None:
        await latest_cycle_by_finished(s, EXCHANGE)

    sessions = b.db()
    async with sessions() as session:
        now_top = await latest_market(session, EXCHANGE)
        for core in (False, True):
            alt = await market_alt(session, core_rows=core)
            assert now_top is not None and alt is not None
            assert alt.rows == now_top.rows and alt.cycle_id == now_top.cycle_id
    top = await time_interleaved(
        sessions,
        {
            "/top as is (interleaved with A, A+C)": ours["top"],
            "/top A: latest_cycle by finished_ms": top_a,
            "/top A+C: A + columns -> MarketRow(*r)": top_ac,
        },
        b.args.runs,
    )
    cycle = await time_interleaved(
        sessions,
        {
            "  market_repo.latest_cycle as is (interleaved)": ours["cycle"],
            "  latest_cycle by finished_ms": cycle_a,
        },
        b.args.runs,
    )
    return top, cycle


async def alternatives(b: Bench, plan: Plans) -> Alternatives:
    """B: an index cycles(exchange, id); D: a covering (exchange, symbol, ts_ms, score)."""
    ours = our_queries(b.picks)
    top, cycle = await alternatives_top(b, ours)
    runs, sessions = b.args.runs, b.db()
    con = sqlite3.connect(b.path, isolation_level=None)
    con.execute("CREATE INDEX ix_bench_cycles_exchange_id ON cycles (exchange, id)")
    b_plan = plans(con, plan.seen[:1])
    b_top = await time_runs("/top B: + index cycles(exchange, id)", sessions, ours["top"], runs)
    con.execute("DROP INDEX ix_bench_cycles_exchange_id")
    t = time.perf_counter()
    con.execute(
        "CREATE INDEX ix_bench_covering ON score_snapshots (exchange, symbol, ts_ms, score)"
    )
    cover_s = time.perf_counter() - t
    size = "SELECT sum(pgsize) FROM dbstat WHERE name = 'ix_bench_covering'"
    cover_mb = con.execute(size).fetchone()[0] / MB
    d_plan = plans(con, plan.seen[-1:])
    d_sym = await time_runs("/symbol D: + index (ex,sym,ts,score)", sessions, ours["sym"], runs)
    con.execute("DROP INDEX ix_bench_covering")
    con.close()
    assert b.engine is not None
    await b.engine.dispose()
    b.ph.done("alternatives")
    return Alternatives(top, cycle, b_top, b_plan, d_sym, d_plan, cover_s, cover_mb)


def vacuum(b: Bench) -> tuple[list[tuple[str, int]], tuple[float, float]]:
    """VACUUM, then the largest objects (dbstat) and the file sizes."""
    con = sqlite3.connect(b.path, isolation_level=None)
    con.execute("VACUUM")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    breakdown = con.execute(
        "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8"
    ).fetchall()
    con.close()
    b.ph.done("VACUUM + dbstat")
    return breakdown, file_mb(b.path)


# ------------------------------------------------------------------ report


def flag(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def query_lines(q: Queries) -> list[str]:
    return [
        HEADER,
        q.top.line(f"p95<{TOP_TARGET_MS:g} {flag(q.top.p95() < TOP_TARGET_MS)}"),
        q.cycle.line("(also on every /symbol card, /healthz)"),
        q.n_top.line(ratio(q.n_top, q.top)),
        q.sym.line(f"p95<{SYMBOL_TARGET_MS:g} {flag(q.sym.p95() < SYMBOL_TARGET_MS)}"),
        q.n_sym.line(ratio(q.n_sym, q.sym)),
        q.n_full.line(ratio(q.n_full, q.sym)),
    ]


def write_lines(wr: Writes, backlog: Backlog) -> list[str]:
    ours = wr.runs[OURS]

    def target(r: Runs) -> str:
        return f"p95<{WRITE_TARGET_MS:g} {flag(r.p95() < WRITE_TARGET_MS)}"

    return [
        ours.line(target(ours)),
        wr.checkpoint.line("(after the commit; readers never wait for it)"),
        wr.runs[OURS_HOOK].line(f"{target(wr.runs[OURS_HOOK])} (the cycle as in service)"),
        *[
            wr.runs[name].line(f"{target(wr.runs[name])}; ours p95 {ours.p95() / r:.2f}x of it")
            for name, r in ((n, wr.runs[n].p95()) for n in (NAIVE_CKPT, NAIVE_ORM))
        ],
        wr.readers.line(
            f"{READERS} readers (MarketCache.snapshot), {READER_PAUSE_S * 1000:g} ms apart"
        ),
        wr.prune.line(),
        f"  prune of the 1-day backlog (market_repo.prune): {backlog.ms:.0f} ms, deleted "
        + ", ".join(f"{k} {v:,}" for k, v in backlog.deleted.items() if v),
        f"  WAL during the write phase: max {max(wr.wal_mb):.1f} MB (after the catch-up prune: "
        f"{backlog.after.size[1]:.1f} MB until restart)",
        f"  load average 1 min during the write phase: {wr.load[0]:.2f} at start, "
        f"{wr.load[1]:.2f} at end",
    ]


def alternative_lines(alt: Alternatives, q: Queries) -> list[str]:
    r_top, a_top, ac_top = alt.top
    r_cyc, a_cyc = alt.cycle
    return [
        "  alternatives (measured on this DB, not applied):",
        HEADER,
        r_top.line(),
        a_top.line(f"p95<{TOP_TARGET_MS:g} {flag(a_top.p95() < TOP_TARGET_MS)}"),
        ac_top.line(f"p95<{TOP_TARGET_MS:g} {flag(ac_top.p95() < TOP_TARGET_MS)}"),
        alt.b_top.line(f"query as is, new index; vs {statistics.median(q.top.wall):.2f} above"),
        r_cyc.line(),
        a_cyc.line(),
        alt.d_sym.line(f"vs {statistics.median(q.sym.wall):.2f} above"),
        f"  index (exchange, symbol, ts_ms, score): {alt.cover_mb:.1f} MB, built in "
        f"{alt.cover_s:.1f} s; plans with the extra indexes:",
        *alt.b_plan,
        *alt.d_plan,
    ]


def bounded(b: Bench, pruned: DbState, written: DbState) -> bool:
    """Pruning at a cycle's own start keeps that cycle and the one exactly 30 d older, and
    a prune runs every second 5-minute step here, each step writing one cycle per
    variant: steady state is the window plus at most that many cycles."""
    window_rows = min(b.args.days + 1, b.keep_days) * CYCLES_PER_DAY * len(b.symbols)
    slack = 2 * len(WRITERS) * len(b.symbols)
    return bool(b.args.days < b.keep_days) or (
        pruned.rows["score_snapshots"] == window_rows
        and window_rows <= written.rows["score_snapshots"] <= window_rows + slack
    )


def row_lines(b: Bench, states: tuple[DbState, DbState, DbState]) -> list[str]:
    c0, c1, c2 = (s.rows for s in states)
    window_cycles = min(b.args.days + 1, b.keep_days) * CYCLES_PER_DAY
    window_rows = window_cycles * len(b.symbols)
    oi_window = b.settings.scorer.oi_sample_retention_hours * 12 * len(b.symbols)
    return [
        "  rows                              cycles   snapshots  oi_samples",
        f"  built ({b.args.days + 1} d, OI 72 h)          {c0['cycles']:8d}"
        f" {c0['score_snapshots']:11,d}"
        f" {c0['oi_samples']:11,d}",
        f"  after the prune                 {c1['cycles']:8d} {c1['score_snapshots']:11,d}"
        f" {c1['oi_samples']:11,d}",
        f"  after {b.args.write_cycles} more cycles + prunes  {c2['cycles']:8d}"
        f" {c2['score_snapshots']:11,d} {c2['oi_samples']:11,d}",
        f"  window ({b.keep_days} d x {CYCLES_PER_DAY} x {len(b.symbols)}, OI 48 h)"
        f" {window_cycles:8d} {window_rows:11,d}"
        f" {oi_window:11,d}"
        f"  {flag(bounded(b, states[1], states[2]))} (bounded)",
    ]


def size_lines(
    states: tuple[DbState, DbState, DbState],
    vacuumed: tuple[list[tuple[str, int]], tuple[float, float]],
) -> list[str]:
    (s0, s1, s2), (breakdown, size3) = states, vacuumed
    return [
        "  size (MB)                            file      WAL  pages (free)",
        f"  built                            {s0.size[0]:8.1f} {s0.size[1]:8.1f}"
        f"  {s0.pages[0]} ({s0.pages[1]})",
        f"  after the prune                  {s1.size[0]:8.1f} {s1.size[1]:8.1f}"
        f"  {s1.pages[0]} ({s1.pages[1]})",
        f"  after writes + prunes            {s2.size[0]:8.1f} {s2.size[1]:8.1f}"
        f"  {s2.pages[0]} ({s2.pages[1]})",
        f"  after VACUUM                     {size3[0]:8.1f} {size3[1]:8.1f}",
        f"  DB bytes per snapshot row (vacuumed, all tables and indexes): "
        f"{size3[0] * MB / s2.rows['score_snapshots']:.0f}",
        "  largest objects after VACUUM:",
        *[f"    {name:36s} {sz / MB:8.1f} MB" for name, sz in breakdown],
    ]


def tail_lines(b: Bench, plan: Plans, year: list[str]) -> list[str]:
    return [
        "  query plans (the project's queries; no ANALYZE, as in service):",
        *plan.lines,
        "  /symbol plans if ix_score_snapshots_symbol_ts is dropped (what the naive row forces):",
        *plan.dropped,
        "",
        f"  bounded over {b.args.year_days} days ({b.args.year_symbols} symbols, "
        "market_repo.prune daily):",
        *year,
        "",
        "  phases:",
        *[f"    {name:48s} {sec:6.1f} s" for name, sec in b.ph.rows],
        f"    {'total':48s} {time.perf_counter() - b.ph.start:6.1f} s",
    ]


async def bench(args: argparse.Namespace, workdir: Path) -> int:
    gc.callbacks.append(GcWatch.callback)
    b = Bench(args, workdir)
    print(f"P2 storage benchmark in {workdir}\n  {machine()}", flush=True)
    built = await load_data(b)
    backlog = await prune_backlog(b)
    plan = await query_plans(b, backlog.after.rows["cycles"])
    q = await query_latency(b, plan)
    wr = await write_phase(b)
    alt = await alternatives(b, plan)
    vacuumed = vacuum(b)
    year = await year_sim(workdir, args.year_days, args.year_symbols, b.settings)
    b.ph.done(f"year simulation ({args.year_days} d x {args.year_symbols} symbols)")

    states = (built, backlog.after, wr.after)
    load1 = os.getloadavg()
    lines = [
        "",
        f"P2 storage: {len(b.symbols)} symbols, {args.days} d of 5-min cycles (+1 d pruned), "
        f"{backlog.after.rows['score_snapshots']:,} snapshot rows after the prune",
        f"  {machine()}",
        f"  load average 1 min: {b.load0[0]:.2f} at start, {load1[0]:.2f} at end "
        "(the machine is shared; wall p95 includes waiting for a core)",
        "",
        *query_lines(q),
        *write_lines(wr, backlog),
        "",
        *alternative_lines(alt, q),
        "",
        *row_lines(b, states),
        "",
        *size_lines(states, vacuumed),
        "",
        *tail_lines(b, plan, year),
    ]
    print("\n".join(lines))
    ok = (
        q.top.p95() < TOP_TARGET_MS
        and q.sym.p95() < SYMBOL_TARGET_MS
        and wr.runs[OURS].p95() < WRITE_TARGET_MS
        and wr.runs[OURS_HOOK].p95() < WRITE_TARGET_MS
        and bounded(b, backlog.after, wr.after)
    )
    return 0 if ok else 1


# ------------------------------------------------------------------ main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=30, help="days of cycles kept (default 30)")
    p.add_argument("--symbols", type=int, default=600)
    p.add_argument("--runs", type=int, default=200, help="timed runs per query")
    p.add_argument("--naive-runs", type=int, default=10)
    p.add_argument("--write-cycles", type=int, default=20)
    p.add_argument("--year-days", type=int, default=365)
    p.add_argument("--year-symbols", type=int, default=10)
    p.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = p.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pressurebot-p2-"))
    try:
        return asyncio.run(bench(args, workdir))
    finally:
        if args.keep:
            print(f"\nkept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
