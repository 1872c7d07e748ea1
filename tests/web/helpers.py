"""A scored market for the dashboard tests: the fake exchange, real Scorer cycles into a
real (migrated) SQLite database, and the health server the service runs (bot/web/health_server.py),
with the dashboard's routes beside /healthz and /metrics."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import DatabaseSettings, Settings
from bot.cycle.run import Scorer
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.metrics import Metrics
from bot.storage.db import create_engine, session_factory
from bot.views.builtin_rules import BuiltinEvidence
from bot.views.lookalike import StateLibrary
from bot.web import dashboard_routes, health_server
from fakes.fake_binance import FakeBinance
from fakes.migrated_db import migrated_sqlite

HOUR_MS = 3_600_000
STEP_S = 300.0
# A symbol name built to run script if any page put it into the DOM as HTML.
XSS_SYMBOL = "<img src=x onerror=alert(1)>USDT"
# Names an exchange could list that once broke the page: braces (aiohttp's default route
# pattern refused them), 200 characters (widened the table to 2,973 px), and a bidi
# override that displays "EVIL\u202eTDSU" as "EVILUSDT" reversed (spoofing).
BRACES_SYMBOL = "{BR}USDT"
LONG_SYMBOL = "L" * 196 + "USDT"
BIDI_SYMBOL = "EVIL\u202eTDSUUSDT"
# Among the longest real contract names: shown whole, even on a 390 px phone.
REAL_LONG_SYMBOL = "1000FLOKIUSDT"
AWKWARD_SYMBOLS = (BRACES_SYMBOL, LONG_SYMBOL, BIDI_SYMBOL, REAL_LONG_SYMBOL)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def ms(self) -> int:
        return int(self.now * 1000)


@dataclass
class Market:
    fake: FakeBinance
    clock: Clock
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]


def _rising(now_ms: int, start: float, end: float) -> list[tuple[int, float]]:
    """25 h of 5-minute OI history rising linearly from `start` to `end` (now)."""
    n = 25 * 12
    return [(now_ms - k * 300_000, end - (end - start) * k / n) for k in range(n, 0, -1)]


def set_up_symbols(fake: FakeBinance, now_ms: int, n: int = 24) -> None:
    fake.populate(n, seed=11, history_hours=25)
    # Longs pay above the base rate while the perp trades under the index, OI building.
    fake.add_symbol("LSQZUSDT", mark=99.8, index=100.0, funding_rate=0.0005, oi=1200)
    fake.set_oi_history("LSQZUSDT", _rising(now_ms, 900, 1150))
    # The mirror image.
    fake.add_symbol("SSQZUSDT", mark=2.006, index=2.0, funding_rate=-0.0004, oi=5000)
    fake.set_oi_history("SSQZUSDT", _rising(now_ms, 4000, 4800))
    # Calm, so it sits at the bottom of the table rather than in every screenshot's top rows.
    fake.add_symbol(XSS_SYMBOL, mark=1.0, index=1.0, funding_rate=0.0001, oi=300)
    fake.set_oi_history(XSS_SYMBOL, _rising(now_ms, 300, 300))


def add_awkward_symbols(fake: FakeBinance, now_ms: int) -> None:
    """The awkward names, calm (they sit at the bottom of the table)."""
    for name in AWKWARD_SYMBOLS:
        fake.add_symbol(name, mark=1.0, index=1.0, funding_rate=0.0001, oi=300)
        fake.set_oi_history(name, _rising(now_ms, 300, 300))


def wiggle(fake: FakeBinance, rng: random.Random) -> None:
    """Move every symbol's OI and mark a little, as between two real cycles."""
    for name, s in fake.symbols.items():
        fake.set_market(name, oi=float(s.oi) * (1 + rng.gauss(0.002, 0.01)))
        fake.set_market(name, mark=float(s.mark) * (1 + rng.gauss(0, 0.0005)))


async def run_cycles(market: Market, cycles: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    settings = market.settings
    async with binance_client(settings.exchange) as client:
        adapter = BinanceAdapter(client, settings.exchange, clock=market.clock.time)
        scorer = Scorer(adapter, market.sessions, settings, clock=market.clock.time)
        for i in range(cycles):
            if i:
                market.clock.now += STEP_S
                wiggle(market.fake, rng)
            result = await scorer.run_cycle()
            assert result.symbols_fetched > 0


@contextlib.asynccontextmanager
async def scored_market(
    tmp_path: Path,
    cycles: int = 6,
    token: str | None = None,
    n: int = 24,
    awkward: bool = False,
    http: dict[str, Any] | None = None,
) -> AsyncIterator[Market]:
    """`awkward`: the AWKWARD_SYMBOLS too; `http`: more `[http]` settings."""
    # The last cycle lands about now, so "data age" reads a few seconds.
    clock = Clock(time.time() - (cycles - 1) * STEP_S)
    async with FakeBinance(now_ms=clock.ms) as fake:
        set_up_symbols(fake, clock.ms(), n)
        if awkward:
            add_awkward_symbols(fake, clock.ms())
        settings = Settings(
            exchange={"venues": ["binance"], "base_url": fake.url, "max_retries": 1},  # type: ignore[arg-type]
            database={"url": migrated_sqlite(tmp_path / "web.db")},  # type: ignore[arg-type]
            http={"dashboard_token": token, **(http or {})},  # type: ignore[arg-type]
        )
        engine = create_engine(DatabaseSettings(url=settings.database.url))
        market = Market(fake, clock, settings, session_factory(engine))
        try:
            await run_cycles(market, cycles)
            yield market
        finally:
            await engine.dispose()


@contextlib.asynccontextmanager
async def serve(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    evidence: BuiltinEvidence | None = None,
    lookalikes: Callable[[], StateLibrary | None] | None = None,
) -> AsyncIterator[str]:
    """The service's own health server (bot/web/health_server.py) on a free port, with the
    dashboard's routes on it as the service adds them (`evidence`: the built-in rules')."""
    assert settings.http.port == 0  # any free port
    routes = dashboard_routes(sessions, settings, evidence, lookalikes)
    runner = await health_server.start_health_server(settings, sessions, Metrics(), routes=routes)
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def rows_by_symbol(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["symbol"]: r for r in doc["rows"]}
