"""P1 scan-cycle benchmark (README, Performance; issue #2): one scoring cycle over the full Binance
universe on the loopback fake exchange with injected latency, next to a naive peer.

    .venv/bin/python bench/scan_cycle.py [--symbols 600] [--latency-ms 25]
        [--concurrency 16] [--warm-cycles 5] [--profile {cold,warm}] [--sort tottime]
    .venv/bin/python bench/scan_cycle.py --venues   # Binance + Bybit + OKX (venues_cycle.py)

Prints a table and PASS/FAIL per target; exits 1 when a target is missed.

Method:
- The fake exchange runs in a separate process (multiprocessing, spawn) and is driven over
  a pipe, so `time.process_time()` deltas in this process measure only the scorer: HTTP
  client, parsing, scoring and the SQLite write (aiosqlite's worker thread included).
- The DB is a fresh temp-file SQLite DB, migrated before the first cycle.
- COLD: the first cycle on the empty DB backfills 24h+ of OI history per symbol.
- WARM: back-to-back cycles with history already stored (no backfill expected).
- Real time is used throughout (the scorer and the fake both read the wall clock); the
  fake is populated with 25h of history right before the cold cycle.
- The per-minute weight limit is raised on both sides (fake and client) so back-to-back
  cycles are never held for the next minute; the service runs one cycle per interval
  (5 min) and the weight each cycle spends is reported.
- The latency bound is ceil(symbols/concurrency) * latency plus one latency per bulk
  call the cycle made (bulk calls are sequential). The cold row's bound also counts the
  backfill's openInterestHist calls, made `concurrency` at a time after the OI pass.
- NAIVE: in the same run, the same data fetched one request after another with a plain
  aiohttp session (exchangeInfo, premiumIndex, fundingInfo, then openInterest per
  symbol). It parses JSON but neither scores nor writes, so the ratio is conservative.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import math
import multiprocessing as mp
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from _machine import machine  # bench/ is sys.path[0] when a script runs

from bot.config import Settings
from bot.cycle.run import Scorer
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.storage.db import create_engine, migrate, session_factory

EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
PREMIUM_INDEX = "/fapi/v1/premiumIndex"
FUNDING_INFO = "/fapi/v1/fundingInfo"
OPEN_INTEREST = "/fapi/v1/openInterest"
OPEN_INTEREST_HIST = "/futures/data/openInterestHist"
TICKER_24H = "/fapi/v1/ticker/24hr"
BULK_PATHS = (EXCHANGE_INFO, PREMIUM_INDEX, FUNDING_INFO, TICKER_24H)
BIG_WEIGHT_LIMIT = 10_000_000  # see "Method" above
HISTORY_HOURS = 25

# Targets (README, Performance, P1; issue #2).
MAX_WEIGHT = 700
MAX_CPU_S = 0.5
MAX_BOUND_RATIO = 2.0
MAX_WARM_WALL_S = 4.0


# ------------------------------------------------------------------ fake, in its own process


def _fake_process(conn: Connection, latency: float) -> None:
    asyncio.run(_serve_fake(conn, latency))


async def _serve_fake(conn: Connection, latency: float) -> None:
    from fakes.fake_binance import FakeBinance

    loop = asyncio.get_running_loop()
    async with FakeBinance(latency=latency, weight_limit=BIG_WEIGHT_LIMIT) as fake:
        conn.send(fake.url)
        while True:
            cmd, *args = await loop.run_in_executor(None, conn.recv)
            if cmd == "stop":
                conn.send(None)
                return
            if cmd == "populate":
                n, seed, hours = args
                conn.send(len(fake.populate(n, seed=seed, history_hours=hours)))
            elif cmd == "reset":
                fake.reset_counters()
                conn.send(time.process_time())
            elif cmd == "stats":
                conn.send(
                    {
                        "calls": dict(fake.calls),
                        "weight": fake.total_weight,
                        "max_in_flight": fake.max_in_flight,
                        "rejected_429": fake.rejected_429,
                        "cpu": time.process_time(),
                    }
                )
            else:
                conn.send(f"unknown command {cmd!r}")


class FakeHandle:
    """The parent's side of the pipe. Calls are quick and made between measurements."""

    def __init__(self, latency: float) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_fake_process, args=(child, latency), daemon=True)
        self._proc.start()
        child.close()
        self.url: str = self._conn.recv()

    def ask(self, *msg: Any) -> Any:
        self._conn.send(msg)
        return self._conn.recv()

    def close(self) -> None:
        try:
            self.ask("stop")
        finally:
            self._proc.join(timeout=5)
            if self._proc.is_alive():
                self._proc.terminate()


# ------------------------------------------------------------------ measurements


@dataclass
class Run:
    label: str
    wall_s: float
    fetch_score_s: float  # started..finished of the CycleResult (before the DB write)
    cpu_s: float
    fake_cpu_s: float
    weight: int  # declared by the client
    server_weight: int  # counted by the fake
    history_calls: int
    requests: int
    bulk_calls: int
    per_symbol: int
    fetched: int
    failed: int
    max_in_flight: int
    rejected_429: int

    def bound_s(self, latency: float, concurrency: int) -> float:
        """Latency bound of what this run requested: bulk calls in a row, then the
        per-symbol requests `concurrency` at a time (history pass included)."""
        return (self.bulk_calls + math.ceil(self.per_symbol / concurrency)) * latency


async def measure(
    fake: FakeHandle, body: Callable[[], Any]
) -> tuple[Any, float, float, float, dict[str, Any]]:
    fake_cpu0 = fake.ask("reset")
    cpu0, t0 = time.process_time(), time.perf_counter()
    out = await body()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stats = fake.ask("stats")
    return out, wall, cpu, stats["cpu"] - fake_cpu0, stats


def _run_from(
    label: str, result: Any, wall: float, cpu: float, fake_cpu: float, stats: dict[str, Any]
) -> Run:
    calls: dict[str, int] = stats["calls"]
    return Run(
        label=label,
        wall_s=wall,
        fetch_score_s=(result.finished_ms - result.started_ms) / 1000,
        cpu_s=cpu,
        fake_cpu_s=fake_cpu,
        weight=result.weight_used,
        server_weight=stats["weight"],
        history_calls=result.history_calls,
        requests=sum(calls.values()),
        bulk_calls=sum(calls.get(p, 0) for p in BULK_PATHS),
        per_symbol=calls.get(OPEN_INTEREST, 0) + calls.get(OPEN_INTEREST_HIST, 0),
        fetched=result.symbols_fetched,
        failed=len(result.failed),
        max_in_flight=stats["max_in_flight"],
        rejected_429=stats["rejected_429"],
    )


async def adapter_fetch(adapter: BinanceAdapter) -> int:
    """The scorer's fetch step alone: bulk calls, then every symbol's OI concurrently."""
    universe = await adapter.universe()
    premium = await adapter.premium_index()
    await adapter.funding_intervals()
    wanted = [i.symbol for i in universe if i.symbol in premium]
    got = await asyncio.gather(*(adapter.open_interest(s) for s in wanted))
    return len(got)


async def naive_fetch(url: str) -> int:
    """The same data, one request at a time; returns the number of OI answers parsed."""
    got = 0
    async with aiohttp.ClientSession() as session:

        async def get(path: str, params: dict[str, str] | None = None) -> Any:
            async with session.get(url + path, params=params) as resp:
                resp.raise_for_status()
                return await resp.json()

        info = await get(EXCHANGE_INFO)
        symbols = [
            row["symbol"]
            for row in info["symbols"]
            if row.get("contractType") == "PERPETUAL"
            and row.get("status") == "TRADING"
            and row.get("quoteAsset") == "USDT"
        ]
        await get(PREMIUM_INDEX)
        await get(FUNDING_INFO)
        for symbol in symbols:
            row = await get(OPEN_INTEREST, {"symbol": symbol})
            got += float(row["openInterest"]) >= 0
    return got


def dir_bytes(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).iterdir())


# ------------------------------------------------------------------ main


@dataclass
class Measured:
    """Everything one bench run measured, before any of it is printed."""

    runs: list[Run]  # the cold cycle first, then the warm ones
    profile_text: str
    fetch_out: int  # OI answers of the adapter-only fetch
    fetch_wall: float
    fetch_cpu: float
    naive_out: int
    naive_wall: float
    naive_cpu: float
    naive_stats: dict[str, Any]
    db_bytes: int


async def bench(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    m = await _measure(args)
    _print_runs(args, m.runs)
    ok = _check_targets(args, m)
    _print_naive(args, m)
    print()
    print(
        f"DB after {len(m.runs)} cycles: {m.db_bytes / 1e6:.1f} MB; "
        f"total bench time {time.perf_counter() - t_start:.1f} s"
    )
    print(f"RESULT: {'all P1 targets met' if ok else 'some P1 targets MISSED'}")
    if m.profile_text:
        print()
        what = "the cold cycle" if args.profile == "cold" else "one extra warm cycle"
        print(f"cProfile of {what} (top 20 by {args.sort}):")
        print(m.profile_text)
    return 0 if ok else 1


async def _measure(args: argparse.Namespace) -> Measured:
    """Phase 1: the cycles (cold, then warm), the adapter's fetch alone, the naive peer."""
    fake = FakeHandle(args.latency_ms / 1000)
    tmp = tempfile.TemporaryDirectory(prefix="pb-scan-")
    try:
        settings = Settings(
            exchange={  # type: ignore[arg-type]
                "venues": ["binance"],
                "base_url": fake.url,
                "concurrency": args.concurrency,
                "weight_limit_per_minute": BIG_WEIGHT_LIMIT,
            },
            database={"url": f"sqlite+aiosqlite:///{tmp.name}/bench.db"},  # type: ignore[arg-type]
        )
        engine = create_engine(settings.database)
        await migrate(engine)
        sessions = session_factory(engine)
        async with binance_client(settings.exchange) as client:
            adapter = BinanceAdapter(client, settings.exchange)
            scorer = Scorer(adapter, sessions, settings)
            fake.ask("populate", args.symbols, 1, HISTORY_HOURS)
            runs, profile_text = await _run_cycles(args, fake, scorer)
            # Breakdown: the adapter's fetch alone (what run_cycle does before scoring).
            fetch_out, fetch_wall, fetch_cpu, _, _ = await measure(
                fake, lambda: adapter_fetch(adapter)
            )
        naive = await measure(fake, lambda: naive_fetch(fake.url))
        db_bytes = dir_bytes(tmp.name)
        await engine.dispose()
    finally:
        fake.close()
        tmp.cleanup()
    n_naive, naive_wall, naive_cpu, _, naive_stats = naive
    return Measured(
        runs,
        profile_text,
        fetch_out,
        fetch_wall,
        fetch_cpu,
        n_naive,
        naive_wall,
        naive_cpu,
        naive_stats,
        db_bytes,
    )


async def _run_cycles(
    args: argparse.Namespace, fake: FakeHandle, scorer: Scorer
) -> tuple[list[Run], str]:
    """The cold cycle, the warm ones, and the optional cProfile of one of them."""
    runs: list[Run] = []
    cold_cycle = scorer.run_cycle
    if args.profile == "cold":
        prof = cProfile.Profile()

        async def cold_cycle() -> Any:
            prof.enable()
            try:
                return await scorer.run_cycle()
            finally:
                prof.disable()

    res, wall, cpu, fcpu, stats = await measure(fake, cold_cycle)
    runs.append(_run_from("cold", res, wall, cpu, fcpu, stats))
    for i in range(args.warm_cycles):
        res, wall, cpu, fcpu, stats = await measure(fake, scorer.run_cycle)
        runs.append(_run_from(f"warm{i + 1}", res, wall, cpu, fcpu, stats))

    if args.profile == "warm":
        prof = cProfile.Profile()
        prof.enable()
        await scorer.run_cycle()
        prof.disable()
    if not args.profile:
        return runs, ""
    buf = io.StringIO()
    ps = pstats.Stats(prof, stream=buf).sort_stats(args.sort)
    ps.print_stats(20)
    return runs, buf.getvalue()


def _print_runs(args: argparse.Namespace, runs: list[Run]) -> None:
    """Phase 2: one table row per cycle."""
    latency, c = args.latency_ms / 1000, args.concurrency
    print(
        f"P1 scan cycle — {args.symbols} symbols, {args.latency_ms:g} ms latency per request, "
        f"concurrency {c}, {len(runs) - 1} warm cycles"
    )
    print(f"machine: {machine()}")
    print(
        "fake exchange in a separate process; CPU = time.process_time() of the scorer process "
        "(HTTP client + parse + score + SQLite write, all threads)"
    )
    print()
    hdr = (
        f"{'cycle':<7}{'wall ms':>9}{'fetch+score':>12}{'write':>7}{'bound ms':>9}{'wall/bnd':>9}"
        f"{'CPU ms':>8}{'weight':>7}{'hist':>6}{'reqs':>6}{'inflt':>6}{'ok':>5}{'fail':>5}"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in runs:
        bound = r.bound_s(latency, c)
        print(
            f"{r.label:<7}{r.wall_s * 1000:>9.0f}{r.fetch_score_s * 1000:>12.0f}"
            f"{(r.wall_s - r.fetch_score_s) * 1000:>7.0f}{bound * 1000:>9.0f}"
            f"{r.wall_s / bound:>9.2f}{r.cpu_s * 1000:>8.0f}{r.weight:>7}{r.history_calls:>6}"
            f"{r.requests:>6}{r.max_in_flight:>6}{r.fetched:>5}{r.failed:>5}"
        )
    print()


def _check_targets(args: argparse.Namespace, m: Measured) -> bool:
    """Phase 3: the P1 targets, each printed PASS or FAIL; True when all are met."""
    latency, c = args.latency_ms / 1000, args.concurrency
    runs = m.runs
    cold, warm = runs[0], runs[1:]
    results: list[bool] = []

    def check(name: str, value: str, target: str, passed: bool) -> None:
        results.append(passed)
        print(f"  {name:<42}{value:>14}   target {target:<10} {'PASS' if passed else 'FAIL'}")

    walls = [r.wall_s for r in warm]
    med_wall, max_wall = statistics.median(walls), max(walls)
    # The design's bound: ceil(N/concurrency) * latency plus the bulk calls of the cycle.
    warm_bound = max(r.bound_s(latency, c) for r in warm)
    ratio = max_wall / warm_bound
    cpus = [r.cpu_s for r in warm]
    print(
        f"cold scan (empty DB, backfill): wall {cold.wall_s * 1000:.0f} ms, "
        f"{cold.history_calls} history calls, weight {cold.weight}, "
        f"CPU {cold.cpu_s * 1000:.0f} ms, {cold.fetched}/{args.symbols} scored"
    )
    print("warm scans:")
    check(
        "wall time median / max (ms)",
        f"{med_wall * 1000:.0f} / {max_wall * 1000:.0f}",
        f"<= {MAX_WARM_WALL_S * 1000:.0f}",
        max_wall <= MAX_WARM_WALL_S,
    )
    check(
        f"latency bound ceil({args.symbols}/{c})*{args.latency_ms:g}ms + bulk (ms)",
        f"{warm_bound * 1000:.0f}",
        "-",
        True,
    )
    check("max wall / bound", f"{ratio:.2f}x", f"<= {MAX_BOUND_RATIO:g}x", ratio <= MAX_BOUND_RATIO)
    check(
        "weight per cycle (max; client / fake)",
        f"{max(r.weight for r in warm)} / {max(r.server_weight for r in warm)}",
        f"<= {MAX_WEIGHT}",
        all(r.weight <= MAX_WEIGHT and r.server_weight <= MAX_WEIGHT for r in warm),
    )
    check(
        "history calls per cycle (max)",
        f"{max(r.history_calls for r in warm)}",
        "0",
        all(r.history_calls == 0 for r in warm),
    )
    check(
        "CPU per cycle median / max (ms)",
        f"{statistics.median(cpus) * 1000:.0f} / {max(cpus) * 1000:.0f}",
        f"<= {MAX_CPU_S * 1000:.0f}",
        max(cpus) <= MAX_CPU_S,
    )
    check(
        "symbols scored (min)",
        f"{min(r.fetched for r in warm)}/{args.symbols}",
        f"{args.symbols}",
        all(r.fetched == args.symbols for r in warm),
    )
    check(
        "429s from the fake",
        f"{sum(r.rejected_429 for r in runs)}",
        "0",
        all(r.rejected_429 == 0 for r in runs),
    )
    print(
        f"  (fake process CPU per warm cycle, not counted above: "
        f"{statistics.median(r.fake_cpu_s for r in warm) * 1000:.0f} ms median; "
        f"max in flight at the fake: {max(r.max_in_flight for r in warm)})"
    )
    print(
        f"  breakdown: adapter fetch alone (bulk + {m.fetch_out} OI, no scoring, no DB): "
        f"wall {m.fetch_wall * 1000:.0f} ms, CPU {m.fetch_cpu * 1000:.0f} ms; "
        f"so scoring + DB took about {(statistics.median(cpus) - m.fetch_cpu) * 1000:.0f} ms "
        "CPU of the median warm cycle"
    )
    return all(results)


def _print_naive(args: argparse.Namespace, m: Measured) -> None:
    """Phase 4: the naive peer, against pressurebot's median warm cycle."""
    med_wall = statistics.median(r.wall_s for r in m.runs[1:])
    print()
    naive_reqs = sum(m.naive_stats["calls"].values())
    naive_bound = naive_reqs * args.latency_ms / 1000
    print(
        f"naive peer (sequential, plain aiohttp, fetch + JSON parse only): "
        f"{naive_reqs} requests, {m.naive_out} OI answers, weight {m.naive_stats['weight']}"
    )
    print(
        f"  wall {m.naive_wall * 1000:.0f} ms (its own bound {naive_bound * 1000:.0f} ms: "
        f"one latency per request), CPU {m.naive_cpu * 1000:.0f} ms"
    )
    print(
        f"  naive / pressurebot warm median wall: {m.naive_wall / med_wall:.1f}x "
        f"({m.naive_wall * 1000:.0f} ms vs {med_wall * 1000:.0f} ms; pressurebot also scores "
        f"and writes)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=600)
    ap.add_argument("--latency-ms", type=float, default=25.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--warm-cycles", type=int, default=5)
    ap.add_argument(
        "--profile",
        choices=("cold", "warm"),
        help="cProfile the cold cycle (its figures then include profiler overhead) or "
        "one extra warm cycle, and print the top functions",
    )
    ap.add_argument("--sort", default="tottime", help="pstats sort key for --profile")
    ap.add_argument(
        "--venues",
        action="store_true",
        help="instead: a warm cycle over Binance, Bybit and OKX (600 + 500 + 250 symbols) "
        "beside Binance alone and a naive peer (bench/venues_cycle.py)",
    )
    args = ap.parse_args()
    if args.warm_cycles < 1:
        ap.error("--warm-cycles must be at least 1")
    if args.venues:
        import venues_cycle  # bench/ is sys.path[0] when a script runs

        sys.exit(
            asyncio.run(
                venues_cycle.bench(
                    argparse.Namespace(
                        binance=args.symbols,
                        bybit=500,
                        okx=250,
                        latency_ms=args.latency_ms,
                        warm_cycles=args.warm_cycles,
                    )
                )
            )
        )
    sys.exit(asyncio.run(bench(args)))


if __name__ == "__main__":
    main()
