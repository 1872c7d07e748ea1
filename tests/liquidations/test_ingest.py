"""The ingest's batched writes on a real database: idempotent per writer epoch, fenced,
pruned; and totals per bucket equal to what the fakes sent, end to end."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.liquidations.events import LiqEvent
from bot.liquidations.ingest import RETENTION_MS, LiqIngest
from bot.liquidations.venues import BinanceRules, BybitRules, OkxRules, VenueRules
from bot.storage import liq_repo
from bot.storage.models import LiqBucket
from fakes.fake_liquidations import (
    FakeBinanceLiq,
    FakeBybitLiq,
    FakeOkxLiq,
    Liq,
    LiqStreamFake,
)
from tests.liquidations.stream_helpers import running, until

T0 = 1_767_225_600_000


def ev(ts: int, usd: float, side: str = "long", venue: str = "okx") -> LiqEvent:
    return LiqEvent(venue, "BTC-USDT-SWAP", side, 60_000.0, usd / 60_000, usd, ts)  # type: ignore[arg-type]


async def totals(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[str, str, str], float]:
    async with sessions() as session:
        got = await liq_repo.window_totals(session, 0, 2**62)
    return {k: round(v[0], 6) for k, v in got.items()}


async def test_writes_are_batched_and_rewrites_never_add_up(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ingest = LiqIngest(sessions, lambda: 1, wall_ms=lambda: T0 + 120_000)
    ingest.on_events([ev(T0 + i, 10.0) for i in range(1000)], time.monotonic())
    ingest.on_events([ev(T0 + 60_000, 5.0, "short")], time.monotonic())
    assert await ingest.flush()
    assert ingest.stats.rows_written == 2  # two buckets, not 1001 rows
    ingest.book.restore_dirty(ingest.book.take_dirty() or [])  # nothing dirty: no-op
    for row in list(ingest.book.buckets):  # a retried flush writes the same totals again
        ingest.book._dirty.add(row)
    await ingest.flush()
    ingest.on_events([ev(T0 + 5, 10.0)], time.monotonic())
    await ingest.flush()
    assert await totals(sessions) == {
        ("okx", "BTC-USDT-SWAP", "long"): 10_010.0,
        ("okx", "BTC-USDT-SWAP", "short"): 5.0,
    }
    assert ingest.stats.latency_p99() is not None
    async with sessions() as session:
        minutes = await liq_repo.side_minutes(
            session, [("okx", "BTC-USDT-SWAP"), ("okx", "ETH-USDT-SWAP")], T0, T0 + 120_000
        )
    assert minutes == [(T0, "long", 10_010.0), (T0 + 60_000, "short", 5.0)]


async def test_a_new_holder_writes_beside_the_old_and_a_fenced_out_one_writes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    old = LiqIngest(sessions, lambda: 1, wall_ms=lambda: T0 + 30_000)
    old.on_events([ev(T0 + 1_000, 100.0)], time.monotonic())
    await old.flush()
    refused = LiqIngest(sessions, lambda: 1, fence=_refuse, wall_ms=lambda: T0 + 40_000)
    refused.on_events([ev(T0 + 35_000, 7.0)], time.monotonic())  # after it lost the lease
    assert not await refused.flush()
    assert refused.stats.fenced_out == 1 and not refused.book.buckets
    new = LiqIngest(sessions, lambda: 2, wall_ms=lambda: T0 + 50_000)
    new.on_events([ev(T0 + 45_000, 50.0)], time.monotonic())
    await new.flush()
    await new.flush()
    await old.flush()
    assert await totals(sessions) == {("okx", "BTC-USDT-SWAP", "long"): 150.0}
    not_holding = LiqIngest(sessions, lambda: None, wall_ms=lambda: T0 + 50_000)
    not_holding.on_events([ev(T0 + 45_000, 50.0)], time.monotonic())
    assert not await not_holding.flush()


async def _refuse(session: AsyncSession) -> bool:
    return False


async def test_retention_prunes_past_30_days(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = T0 + RETENTION_MS + 120_000
    ingest = LiqIngest(sessions, lambda: 1, wall_ms=lambda: now, lateness_ms=RETENTION_MS * 2)
    ingest.on_events([ev(T0, 1.0), ev(now - 60_000, 2.0)], time.monotonic())
    ingest.clock_for("okx").up(now - 30_000)
    await ingest.flush()
    await ingest._prune()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LiqBucket)) == 1


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx"])
async def test_stored_totals_equal_what_the_fakes_sent(
    sessions: async_sessionmaker[AsyncSession], venue: str
) -> None:
    now = int(time.time() * 1000)
    fake, rules, sizes = _venue(venue)
    await fake.start()
    ingest = LiqIngest(sessions, lambda: 1, flush_seconds=0.05)
    stop = asyncio.Event()
    writer = asyncio.create_task(ingest.run(stop))
    try:
        async with running(rules, fake, ingest) as (stream, _got):
            await until(stream, lambda s: s.lives == 1)
            await _send(fake, venue, now)
            await until(stream, lambda s: s.events == len(fake.sent))
            await ingest.wait_flushed()
            await ingest.wait_flushed()
    finally:
        stop.set()
        await writer
        await fake.stop()
    # Bucket by bucket: (symbol, side, minute) -> USD and events, as the fake pushed them.
    expected: dict[tuple[str, str, int], list[float]] = defaultdict(lambda: [0.0, 0])
    for liq in fake.sent:
        key = (liq.symbol, liq.side, liq.ts_ms - liq.ts_ms % 60_000)
        expected[key][0] += liq.qty * sizes.get(liq.symbol, 1.0) * liq.price
        expected[key][1] += 1
    async with sessions() as session:
        rows = (await session.execute(select(LiqBucket).where(LiqBucket.venue == venue))).scalars()
        got = {(r.symbol, r.side, r.minute_ms): [r.usd, r.events] for r in rows}
    assert got.keys() == expected.keys()
    for key, (usd, events) in expected.items():
        assert got[key][0] == pytest.approx(usd) and got[key][1] == events
    async with sessions() as session:
        cover = await liq_repo.live_ms_by_minute(session, 0, 2**62)
    assert sum(cover[venue].values()) > 0


def _venue(venue: str) -> tuple[LiqStreamFake, VenueRules, dict[str, float]]:
    """The fake, the rules, and the coins per unit of size of each symbol."""
    if venue == "binance":
        return FakeBinanceLiq(), BinanceRules(), {}
    if venue == "bybit":
        return FakeBybitLiq(), BybitRules(["BTCUSDT", "ETHUSDT"]), {}
    sizes = {"BTC-USDT-SWAP": 0.01, "ETH-USDT-SWAP": 0.1}
    return FakeOkxLiq(), OkxRules(lambda: sizes), sizes


async def _send(fake: LiqStreamFake, venue: str, now: int) -> None:
    names = {"okx": ("BTC-USDT-SWAP", "ETH-USDT-SWAP")}.get(venue, ("BTCUSDT", "ETHUSDT"))
    liqs = [
        Liq(names[i % 2], "long" if i % 3 else "short", 1 + i % 7, 100.0 + i, now - i * 10)
        for i in range(300)
    ]
    if isinstance(fake, FakeBinanceLiq):
        for second in range(0, 300, 50):  # 50 liquidations a second: a sample is pushed
            for liq in liqs[second : second + 50]:
                fake.liquidate(liq)
            await fake.tick()
        assert len(fake.sent) == 12
    elif isinstance(fake, FakeBybitLiq):
        await fake.wait(lambda f: len(f.subscribed()) == 2)
        await fake.push(liqs)
    elif isinstance(fake, FakeOkxLiq):
        await fake.push(liqs)
