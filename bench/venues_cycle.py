"""P1 across venues (README, Performance; issue #12): a warm cycle over Binance, Bybit and
OKX together against Binance alone, next to a naive sequential peer.

    .venv/bin/python bench/venues_cycle.py [--binance 600] [--bybit 500] [--okx 250]
        [--latency-ms 25] [--warm-cycles 5]

Prints a table and PASS/FAIL per target; exits 1 when a target is missed.

Method:
- The three loopback fakes run in a child process (multiprocessing, spawn), each
  answering after `--latency-ms`; coins SYM0000... overlap, so about `--okx` coins are on
  three venues and `--bybit` on two or more: the aggregate is computed for them all.
- A fresh temp-file SQLite DB, migrated; backfill off (a warm cycle has its history).
- The adapters' clock moves one scorer interval (300 s) per cycle, as between real
  cycles: each cycle fetches the bulk answers anew (no 20 s reuse) while the universe
  and funding info stay cached, as in steady state.
- WARM: the median of `--warm-cycles` cycles after one first cycle, for Binance alone
  (`exchange.venues = ["binance"]`) and for the three venues (`VenueScorers`).
- NAIVE: the same data fetched one request after another with a plain aiohttp session
  (Binance exchangeInfo, premiumIndex, fundingInfo, openInterest per symbol; Bybit
  instruments and tickers; OKX's five bulk calls). It neither scores nor writes.
- Requests per venue in the warm cycle, against each venue's limit (bot/markets/*.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from _machine import machine  # bench/ is sys.path[0] when a script runs

from bot.config import Settings
from bot.cycle.venues import VenueScorers
from bot.markets import binance, bybit, okx
from bot.markets.adapters import open_adapters
from bot.service import Parts
from bot.storage.db import create_engine, migrate, session_factory

BIG_WEIGHT_LIMIT = 10_000_000  # back-to-back cycles never wait for the next minute
TARGET_RATIO = 1.5


def _fakes_process(conn: Connection, latency: float, sizes: tuple[int, int, int]) -> None:
    asyncio.run(_serve(conn, latency, sizes))


async def _serve(conn: Connection, latency: float, sizes: tuple[int, int, int]) -> None:
    from fakes.fake_binance import FakeBinance
    from fakes.fake_bybit import FakeBybit
    from fakes.fake_okx import FakeOkx

    loop = asyncio.get_running_loop()
    async with (
        FakeBinance(latency=latency, weight_limit=BIG_WEIGHT_LIMIT) as fb,
        FakeBybit(latency=latency) as fy,
        FakeOkx(latency=latency) as fo,
    ):
        fb.populate(sizes[0], seed=1)
        fy.populate(sizes[1], seed=2)
        fo.populate(sizes[2], seed=3)
        conn.send((fb.url, fy.url, fo.url))
        await loop.run_in_executor(None, conn.recv)  # "stop"


async def _cycles(settings: Settings, n: int) -> tuple[float, dict[str, int]]:
    """Median warm cycle seconds, and the requests per venue of the last one."""
    now = [time.time()]
    with tempfile.TemporaryDirectory(prefix="pb-venues-") as tmp:
        settings = settings.model_copy(
            update={
                "database": settings.database.model_copy(
                    update={"url": f"sqlite+aiosqlite:///{tmp}/b.db"}
                )
            }
        )
        engine = create_engine(settings.database)
        await migrate(engine)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(engine.dispose)
            adapters = await open_adapters(settings, stack, clock=lambda: now[0])
            scorer = Parts(settings, engine, session_factory(engine), adapters).scorer()
            await scorer.run_cycle()  # first: universe and funding info
            times = []
            for _ in range(n):
                now[0] += 300
                started = time.perf_counter()
                await scorer.run_cycle()
                times.append(time.perf_counter() - started)
            if isinstance(scorer, VenueScorers):
                used = {v: r.weight_used for v, r in scorer.results.items() if v != "all"}
                print(
                    "rows per warm cycle: "
                    + ", ".join(f"{v} {r.symbols_fetched}" for v, r in scorer.results.items())
                )
            else:
                used = {"binance": adapters[0].weight_used()}
    return statistics.median(times), used


async def _naive(urls: tuple[str, str, str]) -> float:
    fb, fy, fo = urls
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:

        async def get(url: str, params: dict[str, str] | None = None) -> Any:
            async with http.get(url, params=params) as r:
                return await r.json(content_type=None)

        info = await get(fb + binance.EXCHANGE_INFO)
        await get(fb + binance.PREMIUM_INDEX)
        await get(fb + binance.FUNDING_INFO)
        for s in info["symbols"]:
            if s.get("contractType") == "PERPETUAL" and s.get("status") == "TRADING":
                await get(fb + binance.OPEN_INTEREST, {"symbol": s["symbol"]})
        await get(fy + bybit.INSTRUMENTS, {"category": "linear", "limit": "1000"})
        await get(fy + bybit.TICKERS, {"category": "linear"})
        await get(fo + okx.INSTRUMENTS, {"instType": "SWAP"})
        await get(fo + okx.OPEN_INTEREST, {"instType": "SWAP"})
        await get(fo + okx.MARK_PRICE, {"instType": "SWAP"})
        await get(fo + okx.INDEX_TICKERS, {"quoteCcy": "USDT"})
        await get(fo + okx.FUNDING_RATE, {"instId": "ANY"})
    return time.perf_counter() - started


def _settings(urls: tuple[str, str, str], venues: list[str]) -> Settings:
    return Settings(
        exchange={  # type: ignore[arg-type]
            "venues": venues,
            "base_url": urls[0],
            "bybit_base_url": urls[1],
            "okx_base_url": urls[2],
            "weight_limit_per_minute": BIG_WEIGHT_LIMIT,
        },
        scorer={"backfill": False},  # type: ignore[arg-type]
    )


# Each venue's limit, as the adapters pace themselves (README, "Venues").
LIMITS = {
    "binance": ("weight", 2400, "per minute"),
    "bybit": ("requests", 500, "per 5 s"),
    "okx": ("requests", 10, "per 2 s per endpoint (5 bulk endpoints)"),
}


async def bench(args: argparse.Namespace) -> int:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    sizes = (args.binance, args.bybit, args.okx)
    proc = ctx.Process(target=_fakes_process, args=(child, args.latency_ms / 1000, sizes))
    proc.start()
    try:
        urls = parent.recv()
        alone, used_alone = await _cycles(_settings(urls, ["binance"]), args.warm_cycles)
        three, used = await _cycles(_settings(urls, ["binance", "bybit", "okx"]), args.warm_cycles)
        naive = await _naive(urls)
    finally:
        parent.send("stop")
        proc.join(10)
    print(f"machine: {machine()}")
    print(
        f"symbols: binance {sizes[0]}, bybit {sizes[1]}, okx {sizes[2]}; "
        f"latency {args.latency_ms:g} ms"
    )
    print(f"{'run':<34}{'seconds':>10}")
    print(f"{'warm cycle, binance alone':<34}{alone:>10.3f}")
    print(f"{'warm cycle, three venues + all':<34}{three:>10.3f}")
    print(f"{'naive sequential, three venues':<34}{naive:>10.3f}")
    ok = three <= TARGET_RATIO * alone
    print(
        f"{'PASS' if ok else 'FAIL'} three venues within {TARGET_RATIO}x binance alone: "
        f"{three / alone:.2f}x ({naive / three:.1f}x faster than naive)"
    )
    for venue, n in used.items():
        unit, limit, per = LIMITS[venue]
        within = n <= limit
        ok = ok and within
        print(f"{'PASS' if within else 'FAIL'} {venue}: {n} {unit} per cycle (limit {limit} {per})")
    print(f"(binance alone: {used_alone['binance']} weight per cycle)")
    return 0 if ok else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binance", type=int, default=600)
    ap.add_argument("--bybit", type=int, default=500)
    ap.add_argument("--okx", type=int, default=250)
    ap.add_argument("--latency-ms", type=float, default=25.0)
    ap.add_argument("--warm-cycles", type=int, default=5)
    sys.exit(asyncio.run(bench(ap.parse_args())))


if __name__ == "__main__":
    main()
