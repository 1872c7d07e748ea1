"""Replicas: one holds the liquidation streams under a lease; killing it hands them to a
standby within the lease time, the gap shows as coverage, nothing counts twice."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ExchangeSettings, LiquidationSettings, ReplicaSettings, Settings
from bot.liquidations.metrics import LiqCollector
from bot.liquidations.runner import LiqRunner
from bot.storage import liq_repo
from fakes.fake_liquidations import FakeBinanceLiq, FakeBybitLiq, FakeOkxLiq, Liq
from tests.liquidations.stream_helpers import FAST, WITHIN, until

LEASE_S = 2.0
Fakes = tuple[FakeBinanceLiq, FakeBybitLiq, FakeOkxLiq]


class FixedUniverse:
    """The venues' listings, as the adapters would report them."""

    async def symbols(self, venue: str) -> list[str]:
        return ["BTC-USDT-SWAP"] if venue == "okx" else ["BTCUSDT"]

    async def contract_sizes(self) -> dict[str, float]:
        return {"BTC-USDT-SWAP": 0.01}


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    found = (FakeBinanceLiq(), FakeBybitLiq(), FakeOkxLiq())
    for fake in found:
        await fake.start()
    yield found
    for fake in found:
        await fake.stop()


def _settings(binance: FakeBinanceLiq, bybit: FakeBybitLiq, okx: FakeOkxLiq) -> Settings:
    return Settings(
        exchange=ExchangeSettings(venues=["binance", "bybit", "okx"]),
        liquidations=LiquidationSettings(
            binance_ws_url=binance.url, bybit_ws_url=bybit.url, okx_ws_url=okx.url
        ),
        replica=ReplicaSettings(lease_seconds=LEASE_S),
    )


async def _holder(runners: list[LiqRunner]) -> LiqRunner:
    """The runner that holds the streams, once all three venues are live."""
    waits = {asyncio.create_task(r.holding.wait()): r for r in runners}
    try:
        async with asyncio.timeout(WITHIN):
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
    holder = waits[done.pop()]
    for stream in holder.streams:
        await until(stream, lambda s: s.lives >= 1)
    return holder


async def _stored(holder: LiqRunner, fakes: Fakes, before: dict[str, int]) -> None:
    """Until each of the holder's streams has every event its fake pushed since
    `before`, and the holder has written them: two flushes after the last arrived."""
    sent = {f.PATH: len(f.sent) - before.get(f.PATH, 0) for f in fakes}
    for stream in holder.streams:
        want = sent[stream.rules.path]
        await until(stream, lambda s, want=want: s.events >= want)  # type: ignore[misc]
    assert holder.ingest is not None
    await holder.ingest.wait_flushed()
    await holder.ingest.wait_flushed()


async def _push_all(fakes: Fakes, n: int) -> None:
    binance, bybit, okx = fakes
    now = int(time.time() * 1000)
    await bybit.wait(lambda f: "allLiquidation.BTCUSDT" in f.subscribed())
    for i in range(n):
        binance.liquidate(Liq("BTCUSDT", "long", 0.5, 40_000 + i, now + i))
        await binance.tick()
    await bybit.push([Liq("BTCUSDT", "short", 0.1, 40_000, now + i) for i in range(n)])
    await okx.push([Liq("BTC-USDT-SWAP", "long", 10, 40_000, now + i) for i in range(n)])


async def _totals(sessions: async_sessionmaker[AsyncSession]) -> dict[str, float]:
    got: dict[str, float] = defaultdict(float)
    async with sessions() as session:
        totals = await liq_repo.window_totals(session, 0, 2**62)
    for (venue, _symbol, _side), (usd, _qty, _n) in totals.items():
        got[venue] += usd
    return dict(got)


def _scrape(runner: LiqRunner) -> str:
    registry = CollectorRegistry()
    registry.register(LiqCollector(runner))
    return generate_latest(registry).decode()


def _sent(fakes: Fakes) -> dict[str, float]:
    binance, bybit, okx = fakes
    return {
        "binance": sum(x.qty * x.price for x in binance.sent),
        "bybit": sum(x.qty * x.price for x in bybit.sent),
        "okx": sum(x.qty * 0.01 * x.price for x in okx.sent),
    }


async def test_killing_the_stream_holder_hands_over_within_the_lease_and_counts_once(
    fakes: Fakes, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = _settings(*fakes)
    runners = [
        LiqRunner(settings, sessions, f"r{i}", FixedUniverse(), backoff=FAST, flush_seconds=0.1)
        for i in range(3)
    ]
    stops = [asyncio.Event() for _ in runners]
    tasks = [
        asyncio.create_task(r.run(s, release_on_stop=False))
        for r, s in zip(runners, stops, strict=True)
    ]
    started = int(time.time() * 1000)
    try:
        first = await _holder(runners)
        assert sum(r.keeper.held for r in runners) == 1
        await _push_all(fakes, 20)
        await _stored(first, fakes, {})
        scrape = _scrape(first)
        for venue in ("binance", "bybit", "okx"):
            assert f'pressurebot_liquidation_stream_live{{venue="{venue}"}} 1.0' in scrape
        assert 'pressurebot_liquidation_events_total{venue="okx"} 20.0' in scrape
        killed_at = int(time.time() * 1000)
        stops[runners.index(first)].set()  # as kill -9 would: the lease is not released
        await tasks[runners.index(first)]
        before = {f.PATH: len(f.sent) for f in fakes}
        second = await _holder([r for r in runners if r is not first])
        resumed_at = int(time.time() * 1000)
        assert resumed_at - killed_at <= (LEASE_S + 2.0) * 1000
        await _push_all(fakes, 20)
        await _stored(second, fakes, before)
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*tasks)
    ended = int(time.time() * 1000)
    assert await _totals(sessions) == pytest.approx(_sent(fakes))  # each event once
    async with sessions() as session:
        live = await liq_repo.live_ms_by_minute(session, 0, 2**62)
    for venue in ("binance", "bybit", "okx"):
        covered = sum(live[venue].values())
        # The handover shows as a gap in coverage, no longer than the lease allows.
        assert covered <= ended - started - (resumed_at - killed_at) + 500
        assert covered >= ended - started - (LEASE_S + 2.0) * 1000 - 2_000
