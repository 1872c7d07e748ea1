"""Faults around the OI history and the cycle itself, through whole cycles.

The scorer runs with the real alert engine against the fake exchange and a real
database: a history outage must not fake a "calmed down" alert, a rolled-back write must
not lose the backfill, a failing history endpoint must not burn its budget, and a hanging
request must not hold a cycle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle.alert_hook import AlertEngine
from bot.cycle.loop import scorer_loop
from bot.cycle.run import Scorer
from bot.markets.base import ExchangeUnavailable
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.markets.rest_client import HISTORY_BREAKER_FAILURES, RestClient
from bot.storage.models import AlertEvent, Chat, Delivery, OiSample, Subscription
from fakes.fake_binance import OPEN_INTEREST, OPEN_INTEREST_HIST, PREMIUM_INDEX, FakeBinance

NOW_S = 1_767_225_600.0
NOW = int(NOW_S * 1000)
HOUR = 3_600_000
FIVE_MIN = 300_000


class Clock:
    """Wall and monotonic time for the scorer, the exchange and the HTTP client."""

    def __init__(self) -> None:
        self.now = NOW_S

    def time(self) -> float:
        return self.now

    def ms(self) -> int:
        return int(self.now * 1000)


async def no_sleep(_: float) -> None:
    return None


@dataclass
class Rig:
    fake: FakeBinance
    clock: Clock
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    clients: list[RestClient]

    async def scorer(self, *, alerts: bool = True) -> Scorer:
        """A freshly started scorer (a restart forgets everything but the database)."""
        client = binance_client(
            self.settings.exchange,
            sleep=no_sleep,
            clock=self.clock.time,
            wall_clock=self.clock.time,
        )
        self.clients.append(client)
        adapter = BinanceAdapter(client, self.settings.exchange, clock=self.clock.time)
        hook = AlertEngine(self.settings).in_cycle_transaction if alerts else None
        return Scorer(
            adapter, self.sessions, self.settings, in_cycle_transaction=hook, clock=self.clock.time
        )

    async def counts(self) -> tuple[int, int]:
        async with self.sessions() as session:
            events = await session.scalar(select(func.count()).select_from(AlertEvent))
            deliveries = await session.scalar(select(func.count()).select_from(Delivery))
        return int(events or 0), int(deliveries or 0)


def make_rig_settings(url: str, **scorer: object) -> Settings:
    return Settings(
        exchange={
            "venues": ["binance"],
            "base_url": url,
            "max_retries": 1,
            "request_timeout_seconds": 1.0,
        },  # type: ignore[arg-type]
        scorer=scorer,  # type: ignore[arg-type]
    )


@pytest.fixture
async def rig(sessions) -> AsyncIterator[Rig]:
    clock = Clock()
    async with FakeBinance(now_ms=clock.ms, decoys=False, timeout_delay=3.0) as fake:
        r = Rig(fake, clock, sessions, make_rig_settings(fake.url), [])
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
        try:
            yield r
        finally:
            for client in r.clients:
                await client.close()


def flat_history(value: float, hours_back: float, hours_ahead: float) -> list[tuple[int, float]]:
    """The exchange's 5-minute history, as it stands at any moment of the test."""
    start = NOW - int(hours_back * HOUR)
    return [(t, value) for t in range(start, NOW + int(hours_ahead * HOUR), FIVE_MIN)]


# Item: a history outage after a restart gap must not fake a "calmed down" alert.


async def test_history_outage_after_a_gap_holds_alert_state_instead_of_calming_down(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    fake, clock = rig.fake, rig.clock
    # Funding +0.05%/8h and basis +0.2%: a lean (31) with flat OI, stressed (77) with
    # +30% in every window, stretched (52) if the 1h and 4h windows go missing.
    fake.add_symbol("AAAUSDT", mark=100.2, index=100.0, funding_rate=0.0005, oi=1000)
    fake.set_oi_history("AAAUSDT", flat_history(1000.0, 26, 8))
    scorer = await rig.scorer()
    first = await scorer.run_cycle()
    assert first.scores[0].score.band.value == "lean"
    fake.set_market("AAAUSDT", oi=1300)
    clock.now += 300
    stressed = await scorer.run_cycle()
    assert stressed.scores[0].score.score == 77
    assert await rig.counts() == (1, 1)  # lean -> stressed, pushed

    # Down for five hours; on restart the history endpoint answers 502.
    clock.now += 5 * 3600
    fake.fault(OPEN_INTEREST_HIST, "5xx", times=None, status=502)
    restarted = await rig.scorer()
    with caplog.at_level(logging.WARNING, logger="bot.cycle.run"):
        gap = await restarted.run_cycle()

    [row] = gap.scores
    assert (row.oi_1h_pct, row.oi_4h_pct) == (None, None)  # shown as "—", never 0
    assert row.oi_24h_pct == pytest.approx(30.0)
    assert row.score.score == 52  # what the old code alerted on
    assert set(gap.held) == {"AAAUSDT"} and gap.status == "ok"
    assert gap.events_created == 0
    assert await rig.counts() == (1, 1)  # no "stressed -> stretched" push
    [line] = [r.getMessage() for r in caplog.records if "keep their alert state" in r.message]
    # One symbol, two attempts: the cause is named; too few failures to trip the breaker.
    assert line.startswith("openInterestHist: HTTP 502 ×2;")

    # The endpoint recovers: the windows come back and nothing was ever announced.
    fake.clear_faults()
    clock.now += 300
    recovered = await restarted.run_cycle()
    assert recovered.held == {} and recovered.history_calls == 1
    assert recovered.scores[0].oi_1h_pct == pytest.approx(30.0)
    assert recovered.scores[0].score.score == 77
    assert await rig.counts() == (1, 1)


async def test_a_new_listing_with_missing_windows_is_not_held(rig: Rig) -> None:
    fake, clock = rig.fake, rig.clock
    fake.add_symbol(
        "NEWUSDT", mark=1.0, index=1.0, funding_rate=0.0001, oi=500, onboard_ms=NOW - 2 * HOUR
    )
    fake.set_oi_history("NEWUSDT", [(t, 400.0) for t in range(NOW - 2 * HOUR, NOW, FIVE_MIN)])
    result = await (await rig.scorer()).run_cycle()
    [row] = result.scores
    assert row.oi_1h_pct == pytest.approx(25.0) and row.oi_4h_pct is None
    assert result.held == {}
    # Nor is a gap the exchange itself has (the backfill answered; nothing to wait for).
    fake.add_symbol("GAPUSDT", mark=1.0, index=1.0, funding_rate=0.0001, oi=500)
    fake.set_oi_history("GAPUSDT", [(NOW - k * FIVE_MIN, 450.0) for k in range(1, 36)])
    clock.now += 300
    scorer = await rig.scorer()
    again = await scorer.run_cycle()
    gap_row = next(s for s in again.scores if s.symbol == "GAPUSDT")
    assert gap_row.oi_4h_pct is None and "GAPUSDT" not in again.held


# Item: a rolled-back write must not block the backfill retry.


async def test_a_rolled_back_cycle_retries_its_backfill_next_cycle(rig: Rig) -> None:
    fake, clock = rig.fake, rig.clock
    names = fake.populate(5, seed=4, history_hours=25)
    scorer = await rig.scorer()
    # The alert engine's table is gone for a moment: the cycle's write fails for real.
    async with rig.sessions() as session, session.begin():
        await session.execute(text("ALTER TABLE alert_state RENAME TO alert_state_away"))
    with pytest.raises(DBAPIError):  # "no such table" / "relation does not exist"
        await scorer.run_cycle()
    async with rig.sessions() as session, session.begin():
        await session.execute(text("ALTER TABLE alert_state_away RENAME TO alert_state"))
        stored = await session.scalar(select(func.count()).select_from(OiSample))
    assert stored == 0  # rolled back, backfilled points included

    clock.now += 300
    fake.reset_counters()
    result = await scorer.run_cycle()
    assert result.history_calls == len(names) == fake.calls[OPEN_INTEREST_HIST]
    assert all(s.oi_1h_pct is not None and s.oi_24h_pct is not None for s in result.scores)


# Item: a failing history endpoint must not burn the history budget.


async def test_history_502_storm_trips_the_breaker_instead_of_burning_the_budget(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    fake = rig.fake
    fake.populate(300, seed=5, history_hours=25)
    fake.fault(OPEN_INTEREST_HIST, "5xx", times=None, status=502)
    concurrency = rig.settings.exchange.concurrency
    service = await rig.scorer(alerts=False)
    with caplog.at_level(logging.WARNING, logger="bot.cycle.run"):
        result = await service.run_cycle()
    sent = fake.calls[OPEN_INTEREST_HIST]
    # At most one wave of concurrent requests: the breaker stops the rest.
    assert HISTORY_BREAKER_FAILURES <= sent <= concurrency + HISTORY_BREAKER_FAILURES
    assert result.history_calls == sent  # every attempt counts against the budget
    assert len(result.held) == 300 and result.symbols_fetched == 300
    [line] = [r.getMessage() for r in caplog.records if "keep their alert state" in r.message]
    assert f"openInterestHist: HTTP 502 ×{sent}; backfill paused until" in line
    assert "300 symbol(s) keep their alert state" in line

    # The service's next cycle, within the pause: nothing sent, still held, still said.
    caplog.clear()
    rig.clock.now += 30
    with caplog.at_level(logging.WARNING, logger="bot.cycle.run"):
        again = await service.run_cycle()
    assert fake.calls[OPEN_INTEREST_HIST] == sent and len(again.held) == 300
    [line] = [r.getMessage() for r in caplog.records if "keep their alert state" in r.message]
    assert line.startswith("openInterestHist: backfill paused until")

    # A `pressurebot scan` next to the service has its own client: one wave more at most.
    await (await rig.scorer(alerts=False)).run_cycle()
    assert fake.calls[OPEN_INTEREST_HIST] - sent <= concurrency + HISTORY_BREAKER_FAILURES


# Item: a cycle ends at its deadline.


async def test_a_hanging_open_interest_ends_at_the_cycle_deadline(sessions) -> None:
    clock = Clock()
    async with FakeBinance(now_ms=clock.ms, decoys=False, timeout_delay=60.0) as fake:
        symbols = [f"C{i:02d}USDT" for i in range(10)]
        for s in symbols:
            fake.add_symbol(s, mark=100.2, index=100.0, funding_rate=0.0005, oi=1000)
            fake.set_oi_history(s, flat_history(1000.0, 26, 8))
        # A 2 s interval: the deadline is 1.6 s; each request may take 30 s (x2 attempts).
        settings = Settings(
            exchange={
                "venues": ["binance"],
                "base_url": fake.url,
                "max_retries": 1,
                "request_timeout_seconds": 30,
            },  # type: ignore[arg-type]
            scorer={"interval_seconds": 2},  # type: ignore[arg-type]
        )
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
            await scorer.run_cycle()
            clock.now += 300
            for s in symbols:
                fake.set_market(s, oi=1300)  # every symbol turns stressed...
            for s in symbols[7:]:  # ...while 3 of 10 hang
                fake.fault(OPEN_INTEREST, "timeout", times=None, symbol=s)
            # The fake answers the hanging ones after 3 s; the deadline (1.6 s) cut them.
            result = await asyncio.wait_for(scorer.run_cycle(), timeout=60)

    assert set(result.failed) == set(symbols[7:])
    assert all("cycle deadline (1.6s)" in reason for reason in result.failed.values())
    assert result.status == "partial" and result.symbols_fetched == 7
    assert result.events_created == 0  # 70% fetched < min_fetched_share: no alerts


async def test_market_wide_data_past_the_deadline_fails_the_cycle(sessions) -> None:
    clock = Clock()
    async with FakeBinance(now_ms=clock.ms, decoys=False, timeout_delay=60.0) as fake:
        fake.add_symbol("AAAUSDT", mark=1.0, index=1.0, funding_rate=0.0001, oi=10)
        settings = Settings(
            exchange={"venues": ["binance"], "base_url": fake.url, "request_timeout_seconds": 30},  # type: ignore[arg-type]
            scorer={"interval_seconds": 1, "cycle_deadline_share": 0.5},  # type: ignore[arg-type]
        )
        fake.fault(PREMIUM_INDEX, "timeout", times=None)
        async with binance_client(settings.exchange, sleep=no_sleep) as client:
            adapter = BinanceAdapter(client, settings.exchange, clock=clock.time)
            scorer = Scorer(adapter, sessions, settings, clock=clock.time)
            with pytest.raises(ExchangeUnavailable, match=r"cycle deadline \(0.5s\)"):
                await asyncio.wait_for(scorer.run_cycle(), timeout=10)


# Item: a failed cycle says why, in one line.


class _Waiter(logging.Handler):
    def __init__(self, needle: str) -> None:
        super().__init__(logging.DEBUG)
        self.needle = needle
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.seen.set()


async def test_a_failed_cycle_logs_its_cause_in_one_warning_line(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.fake.add_symbol("AAAUSDT", mark=1.0, index=1.0, funding_rate=0.0001, oi=10)
    scorer = await rig.scorer()
    async with rig.sessions() as session, session.begin():
        await session.execute(text("ALTER TABLE alert_state RENAME TO alert_state_away"))
    waiter = _Waiter("cycle failed")
    logging.getLogger("bot.cycle.loop").addHandler(waiter)
    stop = asyncio.Event()
    try:
        with caplog.at_level(logging.INFO, logger="bot.cycle.loop"):
            loop = asyncio.create_task(scorer_loop(scorer, rig.settings, stop))
            await asyncio.wait_for(waiter.seen.wait(), timeout=10)
            stop.set()
            await asyncio.wait_for(loop, timeout=10)
    finally:
        logging.getLogger("bot.cycle.loop").removeHandler(waiter)
    [record] = [r for r in caplog.records if "cycle failed" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None  # no traceback at WARNING
    message = record.getMessage()
    assert "\n" not in message
    # SQLite: OperationalError: no such table; PostgreSQL: ProgrammingError: relation...
    assert "(database: " in message and "Error: " in message and "alert_state" in message
    assert "retrying in" in message


# Item: stale exchange data must not be scored as fresh.


async def test_open_interest_whose_exchange_time_stops_is_not_a_new_sample(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """The exchange serves the same OI timestamp and value for six cycles (a stale cache
    in front of it): no sample stored, no window anchored on it, no alert from it, one
    log line for the venue, and one when it advances again."""
    fake, clock = rig.fake, rig.clock
    fake.add_symbol("AAAUSDT", mark=100.2, index=100.0, funding_rate=0.0005, oi=1000)
    fake.add_symbol("BBBUSDT", mark=10.0, index=10.0, funding_rate=0.0001, oi=500)
    fake.set_oi_history("AAAUSDT", flat_history(1000.0, 26, 8))
    fake.set_oi_history("BBBUSDT", flat_history(500.0, 26, 8))
    scorer = await rig.scorer()
    await scorer.run_cycle()
    fake.set_market("AAAUSDT", oi=1300)
    clock.now += 300
    stressed = await scorer.run_cycle()
    assert stressed.scores[0].symbol == "AAAUSDT" and stressed.scores[0].score.score == 77
    assert await rig.counts() == (1, 1)

    # From the next answer on, AAAUSDT's openInterest is that answer, again and again.
    fake.fault(OPEN_INTEREST, "frozen", times=None, symbol="AAAUSDT")
    clock.now += 300
    assert len((await scorer.run_cycle()).scores) == 2  # the first one is news
    caplog.set_level(logging.INFO, logger="bot.cycle.run")
    caplog.clear()
    async with rig.sessions() as session:
        samples = await session.scalar(select(func.count()).select_from(OiSample))
    for _ in range(6):
        clock.now += 300
        fake.set_market("AAAUSDT", oi=1000)  # what the exchange would say: back to flat
        frozen = await scorer.run_cycle()
        assert frozen.failed["AAAUSDT"].startswith("stale open interest: exchange time stuck")
        assert [s.symbol for s in frozen.scores] == ["BBBUSDT"]  # the others score on
        assert "AAAUSDT" in frozen.hold_alert_state and frozen.status == "partial"
    async with rig.sessions() as session:
        after = await session.scalar(select(func.count()).select_from(OiSample))
    assert after == samples + 6  # BBBUSDT's live samples only
    assert await rig.counts() == (1, 1)  # no "stressed -> ..." from a value that stopped
    stale = [r.getMessage() for r in caplog.records if "stale open interest" in r.getMessage()]
    assert len(stale) == 1 and stale[0].startswith("binance serves stale open interest for 1 of 2")

    fake.clear_faults()
    clock.now += 300
    fresh = await scorer.run_cycle()
    assert {s.symbol for s in fresh.scores} == {"AAAUSDT", "BBBUSDT"} and fresh.status == "ok"
    assert sum("advances again" in r.getMessage() for r in caplog.records) == 1
