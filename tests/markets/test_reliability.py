"""Reliability (README): exchange faults run through full cycles (scorer + real alert engine).

Each fault must leave the service standing: the cycle completes or fails cleanly, a
partial cycle is flagged, and no alert comes from stale or partial data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.cycle.alert_hook import AlertEngine
from bot.cycle.run import Scorer
from bot.markets.base import ExchangeError
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.storage.models import AlertEvent, Chat, Cycle, Delivery, Subscription
from fakes.fake_binance import (
    EXCHANGE_INFO,
    FUNDING_INFO,
    OPEN_INTEREST,
    PREMIUM_INDEX,
    FakeBinance,
)

NOW_S = 1_767_225_600.0
NOW = int(NOW_S * 1000)
SYMBOLS = [f"C{i:02d}USDT" for i in range(10)]


class Clock:
    def __init__(self) -> None:
        self.now = NOW_S

    def time(self) -> float:
        return self.now

    def ms(self) -> int:
        return int(self.now * 1000)


def lean(fake: FakeBinance, symbol: str) -> None:
    fake.add_symbol(symbol, mark=100.1, index=100.0, funding_rate=0.0003, oi=1000)
    fake.set_oi_history(symbol, [(NOW - k * 300_000, 1000.0) for k in range(1, 301)])


def stress(fake: FakeBinance, symbol: str) -> None:
    fake.set_market(symbol, oi=1300, funding_rate=0.001, mark=100.5)


@pytest.fixture
async def rig(sessions) -> AsyncIterator[tuple[FakeBinance, Scorer, Clock]]:
    clock = Clock()
    async with FakeBinance(now_ms=clock.ms, decoys=False, timeout_delay=3.0) as fake:
        for s in SYMBOLS:
            lean(fake, s)
        settings = Settings(
            exchange={
                "venues": ["binance"],
                "base_url": fake.url,
                "max_retries": 1,
                "request_timeout_seconds": 1.0,
            }  # type: ignore[arg-type]
        )

        async def no_sleep(_: float) -> None:
            return None

        async with binance_client(settings.exchange, sleep=no_sleep) as client:
            adapter = BinanceAdapter(client, settings.exchange, clock=clock.time)
            alerts = AlertEngine(settings)
            scorer = Scorer(
                adapter,
                sessions,
                settings,
                in_cycle_transaction=alerts.in_cycle_transaction,
                clock=clock.time,
            )
            async with sessions() as session, session.begin():
                session.add(Chat(id=42, type="private", created_ms=NOW))
                await session.flush()
                session.add(
                    Subscription(
                        chat_id=42,
                        exchange="binance",
                        symbol="*",
                        kind="bands",
                        min_band="stretched",
                        created_ms=NOW,
                    )
                )
            yield fake, scorer, clock


async def counts(sessions) -> tuple[int, int]:
    async with sessions() as session:
        events = await session.scalar(select(func.count()).select_from(AlertEvent))
        deliveries = await session.scalar(select(func.count()).select_from(Delivery))
    return int(events or 0), int(deliveries or 0)


async def warm_up(scorer: Scorer, clock: Clock) -> None:
    for _ in range(2):
        result = await scorer.run_cycle()
        assert result.status == "ok"
        clock.now += 300


@pytest.mark.parametrize("kind", ["5xx", "timeout", "malformed", "missing_fields", "delisted"])
async def test_partial_cycle_below_80_percent_is_flagged_and_alerts_nothing(
    rig, sessions, kind: str
) -> None:
    fake, scorer, clock = rig
    await warm_up(scorer, clock)
    stress(fake, "C00USDT")
    for s in SYMBOLS[7:]:  # 3 of 10 fail: 70% fetched
        fake.fault(OPEN_INTEREST, kind, times=None, symbol=s)

    result = await scorer.run_cycle()

    assert result.status == "partial" and result.symbols_fetched == 7
    assert result.events_created == 0
    assert await counts(sessions) == (0, 0)
    async with sessions() as session:
        cycle = await session.get(Cycle, result.cycle_id)
    assert cycle.status == "partial" and cycle.symbols_failed == 3

    # Once the exchange recovers, the move that happened meanwhile is alerted once.
    fake.clear_faults()
    clock.now += 300
    recovered = await scorer.run_cycle()
    assert recovered.status == "ok" and recovered.events_created == 1
    assert await counts(sessions) == (1, 1)


async def test_a_failed_symbol_above_the_threshold_keeps_its_state(rig, sessions) -> None:
    fake, scorer, clock = rig
    await warm_up(scorer, clock)
    stress(fake, "C00USDT")
    fake.fault(OPEN_INTEREST, "5xx", times=None, symbol="C00USDT")  # 90% fetched
    result = await scorer.run_cycle()
    assert result.status == "partial" and "C00USDT" in result.failed
    assert await counts(sessions) == (0, 0)


@pytest.mark.parametrize(
    ("endpoint", "kind"),
    [
        (EXCHANGE_INFO, "5xx"),
        (PREMIUM_INDEX, "5xx"),
        (PREMIUM_INDEX, "ban"),
        (PREMIUM_INDEX, "rate_limit"),
        (PREMIUM_INDEX, "malformed"),
        (PREMIUM_INDEX, "timeout"),
    ],
)
async def test_bulk_endpoint_failure_fails_the_cycle_cleanly(
    rig, sessions, endpoint: str, kind: str
) -> None:
    fake, scorer, _ = rig
    fake.fault(endpoint, kind, times=None, retry_after=120)
    with pytest.raises(ExchangeError):
        await scorer.run_cycle()
    await scorer.record_failure("exchange down")
    async with sessions() as session:
        cycles = (await session.scalars(select(Cycle))).all()
    assert [c.status for c in cycles] == ["failed"]
    assert await counts(sessions) == (0, 0)


async def test_funding_info_outage_reuses_the_cached_intervals(rig, sessions) -> None:
    fake, scorer, clock = rig
    fake.set_market("C01USDT", funding_interval_hours=4)
    await warm_up(scorer, clock)
    fake.fault(FUNDING_INFO, "5xx", times=None)
    clock.now += 2 * 3600  # past the cache TTL: a refresh is attempted and fails
    result = await scorer.run_cycle()
    assert result.status == "ok"
    c01 = next(s for s in result.scores if s.symbol == "C01USDT")
    assert c01.funding_interval_hours == 4


async def test_symbol_delisted_between_exchange_info_and_open_interest(rig, sessions) -> None:
    fake, scorer, clock = rig
    await warm_up(scorer, clock)
    fake.delist("C03USDT")  # still in the cached exchangeInfo
    clock.now += 300
    result = await scorer.run_cycle()
    assert result.status == "partial" and set(result.failed) == {"C03USDT"}
    assert result.symbols_fetched == 9
