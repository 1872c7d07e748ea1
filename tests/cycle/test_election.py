"""One scorer among replicas (bot/cycle/election.py), against the fake exchange and a
real database (SQLite, and PostgreSQL when PRESSUREBOT_TEST_POSTGRES_URL is set).

What an operator would notice: a replica that lost the scorer lease never stores a
cycle (no duplicate cycle, no duplicate alert), the new holder keeps the cadence, and
a single process on SQLite scores as it always did."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle.election import ScorerElection, elected_scorer_loop
from bot.cycle.run import LeaseLost, Scorer
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.storage import leases
from bot.storage.models import Cycle, ScoreSnapshot
from fakes.fake_binance import FakeBinance


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as f:
        now = int(time.time() * 1000)
        for symbol, oi in (("BTCUSDT", 1000.0), ("ETHUSDT", 500.0)):
            f.add_symbol(symbol, mark=100.0, index=100.0, funding_rate=0.0001, oi=oi)
            f.set_oi_history(symbol, [(now - k * 300_000, oi) for k in range(1, 301)])
        yield f


def _settings(fake: FakeBinance, interval: float = 300, lease: float = 2.0) -> Settings:
    return Settings(
        exchange={"venues": ["binance"], "base_url": fake.url, "max_retries": 1},  # type: ignore[arg-type]
        scorer={"interval_seconds": interval},  # type: ignore[arg-type]
        replica={"lease_seconds": lease},  # type: ignore[arg-type]
    )


async def _stored(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session:
        cycles = await session.scalar(select(func.count()).select_from(Cycle))
        snaps = await session.scalar(select(func.count()).select_from(ScoreSnapshot))
    return int(cycles or 0), int(snaps or 0)


class _CycleLines(logging.Handler):
    """Set `seen` once `n` lines starting with `prefix` (stored cycles) are logged."""

    def __init__(self, n: int, prefix: str = "cycle ") -> None:
        super().__init__(logging.INFO)
        self.n = n
        self.prefix = prefix
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.prefix):
            self.n -= 1
            if self.n <= 0:
                self.seen.set()


async def _tick_until_held(election: ScorerElection, within: float = 10.0) -> None:
    """A standby's keeper, tried until the other's lease has run out on the DB clock."""
    async with asyncio.timeout(within):
        while True:
            await election.keeper.tick()
            if election.keeper.held:
                return
            await asyncio.sleep(0.1)


async def test_a_scorer_whose_lease_expired_and_was_taken_over_stores_nothing(
    fake: FakeBinance, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = _settings(fake, lease=2.0)
    first = ScorerElection(sessions, settings, "replica-a")
    second = ScorerElection(sessions, settings, "replica-b")
    await first.keeper.tick()
    assert first.keeper.held
    await second.keeper.tick()
    assert not second.keeper.held  # one holder at a time

    async with binance_client(settings.exchange) as client:
        adapter = BinanceAdapter(client, settings.exchange)
        scorer_a = Scorer(adapter, sessions, settings, fence=first.fence)
        # The first replica stalls (no renewal: a partition, a pause) past its lease...
        await _tick_until_held(second)
        # ...and its cycle reaches the write only now.
        with pytest.raises(LeaseLost):
            await scorer_a.run_cycle()
        assert await _stored(sessions) == (0, 0)

        scorer_b = Scorer(adapter, sessions, settings, fence=second.fence)
        result = await scorer_b.run_cycle()
    assert result.symbols_fetched == 2
    assert await _stored(sessions) == (1, 2)


async def test_the_fence_refuses_on_the_database_even_when_the_loser_thinks_it_holds(
    fake: FakeBinance, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The lease moved on in the database (here: released behind the holder's back)
    while the old holder's own view still says held: the fence inside the cycle's
    transaction is what refuses the write."""
    settings = _settings(fake, lease=60.0)
    first = ScorerElection(sessions, settings, "replica-a")
    second = ScorerElection(sessions, settings, "replica-b")
    await first.keeper.tick()
    async with sessions() as session, session.begin():
        assert await leases.release(session, leases.SCORER, "replica-a")
    await second.keeper.tick()
    assert second.keeper.held and first.keeper.held  # the first has not looked yet
    async with binance_client(settings.exchange) as client:
        adapter = BinanceAdapter(client, settings.exchange)
        with pytest.raises(LeaseLost):
            await Scorer(adapter, sessions, settings, fence=first.fence).run_cycle()
    assert await _stored(sessions) == (0, 0)
    async with sessions() as session:
        info = await leases.current(session, leases.SCORER)
    assert info is not None and info.holder == "replica-b" and info.live


async def test_a_lone_replica_scores_on_its_cadence_and_hands_the_lease_back_on_stop(
    fake: FakeBinance, sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    """One process (SQLite's only case): it takes the lease and scores every interval;
    a previous run's last cycle sets when the first one runs (no burst on restart)."""
    interval = 1.0
    settings = _settings(fake, interval=interval, lease=3.0)
    async with binance_client(settings.exchange) as client:
        adapter = BinanceAdapter(client, settings.exchange)
        election = ScorerElection(sessions, settings, "solo")
        scorer = Scorer(adapter, sessions, settings, fence=election.fence)
        before = await Scorer(adapter, sessions, settings).run_cycle()  # a previous run
        stop = asyncio.Event()
        cycles = _CycleLines(2)
        logging.getLogger("bot.cycle.loop").addHandler(cycles)
        try:
            with caplog.at_level(logging.INFO):
                loop = asyncio.create_task(elected_scorer_loop(scorer, election, stop))
                await asyncio.wait_for(cycles.seen.wait(), 15)
                stop.set()
                await asyncio.wait_for(loop, 10)
        finally:
            logging.getLogger("bot.cycle.loop").removeHandler(cycles)
    async with sessions() as session:
        starts = list(await session.scalars(select(Cycle.started_ms).order_by(Cycle.id)))
        info = await leases.current(session, leases.SCORER)
    assert starts[0] == before.started_ms
    gaps = [(b - a) / 1000 for a, b in itertools.pairwise(starts)]
    # Neither a burst after the previous run's cycle nor a skipped interval.
    assert all(interval * 0.9 <= gap <= interval * 1.8 for gap in gaps), gaps
    assert info is not None and info.holder == "solo" and not info.live  # released
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)


@pytest.mark.postgres
async def test_a_scorer_whose_renewals_hang_stands_by_quietly_and_resumes(
    fake: FakeBinance, sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    """The lease row locked by another transaction: the keeper's renewal hangs as it
    would on an unreachable database. The scorer stops counting on its lease before it
    could run out, waits without spinning, and scores again once renewals go through."""
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("row locks that make a renewal hang: PostgreSQL")
    # Idle between cycles when the renewal hangs (a cycle writing then would wait on
    # the same row lock in its fence).
    settings = _settings(fake, interval=6.0, lease=2.0)
    async with binance_client(settings.exchange) as client:
        adapter = BinanceAdapter(client, settings.exchange)
        election = ScorerElection(sessions, settings, "solo")
        scorer = Scorer(adapter, sessions, settings, fence=election.fence)
        stop = asyncio.Event()
        first, again = _CycleLines(1), _CycleLines(1)
        lapsed = _CycleLines(1, "solo: the scorer lease could not be renewed in time")
        logging.getLogger("bot.cycle.loop").addHandler(first)
        logging.getLogger("bot.cycle.election").addHandler(lapsed)
        with caplog.at_level(logging.INFO):
            loop = asyncio.create_task(elected_scorer_loop(scorer, election, stop))
            try:
                await asyncio.wait_for(first.seen.wait(), 15)
                async with sessions() as blocker, blocker.begin():
                    await blocker.execute(
                        select(leases.Lease).where(leases.Lease.name == "scorer").with_for_update()
                    )
                    await asyncio.wait_for(lapsed.seen.wait(), 10)
                    caplog.clear()
                    await asyncio.sleep(election.keeper.period * 3)  # the window watched
                    spins = sum("first cycle in" in r.getMessage() for r in caplog.records)
                logging.getLogger("bot.cycle.loop").addHandler(again)
                await asyncio.wait_for(again.seen.wait(), 15)
            finally:
                stop.set()
                await asyncio.wait_for(loop, 10)
                for handler in (first, again):
                    logging.getLogger("bot.cycle.loop").removeHandler(handler)
                logging.getLogger("bot.cycle.election").removeHandler(lapsed)
    assert spins <= 1


def _cycle(exchange: str, started_s: float, fetched: int) -> Cycle:
    ms = int(started_s * 1000)
    return Cycle(
        exchange=exchange,
        started_ms=ms,
        finished_ms=ms + 1000,
        status="ok" if fetched else "failed",
        symbols_attempted=fetched,
        symbols_fetched=fetched,
        symbols_failed=0,
        weight_used=0,
        history_calls=0,
    )


async def test_the_first_cycle_waits_for_the_last_good_cycle_not_the_last_failed_one(
    fake: FakeBinance, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """After an outage the last stored cycles are failed ones: they are no reason to
    wait (the data is as old as the last good cycle). A good cycle within one interval
    still is, so a restart does not score twice in one interval."""
    election = ScorerElection(sessions, _settings(fake, interval=300), "replica-a")
    assert await election.first_cycle_delay() == 0.0  # nothing stored yet
    now = time.time()
    async with sessions() as session, session.begin():
        session.add(_cycle("binance", now - 400, fetched=2))  # good, over an interval ago
        session.add(_cycle("binance", now - 5, fetched=0))  # failed, just now
    assert await election.first_cycle_delay() == 0.0
    async with sessions() as session, session.begin():
        session.add(_cycle("binance", now - 100, fetched=2))  # good, within the interval
        session.add(_cycle("binance", now - 2, fetched=0))
    assert 190 < await election.first_cycle_delay() <= 200
