"""One scorer among replicas: cycles run only on the replica holding the scorer lease.

Every replica whose role scores (`all`, `scorer`) keeps trying for the lease
(bot/storage/leases.py, `LeaseKeeper`); the holder runs `scorer_loop`, the others stand
by. When the holder dies (kill -9, partition) its lease runs out after `[replica]
lease_seconds` and a standby takes it at its next try (every third of the lease).

- Schedule: a new holder runs its first cycle at the last good cycle's start plus one
  interval (at once if that has passed), so a takeover or a rolling restart neither
  bursts two cycles together nor skips one it has time for. Failed cycles do not count:
  after an outage, a restart scores at once instead of waiting out the backoff.
- Fence: each cycle's write transaction first calls `ScorerElection.fence`, which
  extends the lease only if it is still ours at the same epoch. If it is not, the
  scorer raises `LeaseLost`, the transaction rolls back, one WARNING line is logged and
  this replica stands by again: a scorer that lost its lease never commits a cycle.

On SQLite there is one process (the database lock), so it simply always holds the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle.loop import CycleRunner, scorer_loop
from bot.health import HealthState
from bot.metrics import Metrics
from bot.replica import news_level
from bot.storage import leases, market_repo
from bot.storage.leases import LeaseKeeper

logger = logging.getLogger(__name__)

LAPSED = (
    "%s: the scorer lease could not be renewed in time (database slow or unreachable): "
    "standing by until it is"
)


class ScorerElection:
    """The scorer lease for one replica, and the fence its cycles write under."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, holder: str
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.keeper = LeaseKeeper(
            sessions,
            leases.SCORER,
            holder,
            settings.replica.lease_seconds,
            news_level=news_level(settings),
        )

    @property
    def holder(self) -> str:
        return self.keeper.holder

    async def fence(self, session: AsyncSession) -> bool:
        """Inside the cycle's write transaction: still ours? (extends the lease if so)."""
        epoch = self.keeper.epoch
        if epoch is None or not self.keeper.held:
            return False
        return await leases.fence(session, leases.SCORER, self.holder, epoch, self.keeper.ttl_ms)

    async def first_cycle_delay(self) -> float:
        """Seconds until the last good cycle's start plus one interval (0 if past, or if
        no cycle has scored yet). A failed cycle is no reason to wait: the data is as
        old as the last good one."""
        interval = self.settings.scorer.interval_seconds
        try:
            async with self.sessions() as session:
                last = await market_repo.latest_cycle(session, self.settings.exchange.default_view)
        except SQLAlchemyError as exc:  # the cycle itself will report the database
            logger.debug("cannot read the last cycle: %s", exc)
            return 0.0
        if last is None:
            return 0.0
        due = last.started_ms / 1000 + interval
        return min(interval, max(0.0, due - time.time()))


async def elected_scorer_loop(
    scorer: CycleRunner,
    election: ScorerElection,
    stop: asyncio.Event,
    after_commit: Callable[[], None] | None = None,
    metrics: Metrics | None = None,
    health: HealthState | None = None,
) -> None:
    """Stand by until this replica holds the scorer lease, score while it does, and
    stand by again when it is lost; until `stop`. The lease is released (a standby
    takes over at once) only after an in-flight write has finished."""
    keeper = election.keeper
    keeper_stop = asyncio.Event()
    keeping = asyncio.create_task(keeper.run(keeper_stop), name="scorer-lease")
    try:
        while not stop.is_set():
            if not await _first(keeper.wait_held(), stop):
                break
            if not keeper.held:  # lapsed by the clock while a renewal is pending
                await _first(keeper.wait_lost(), stop, timeout=keeper.period)
                continue
            term = asyncio.Event()  # this replica's time as the scorer
            watch = asyncio.create_task(_end_term(term, stop, keeper))
            try:
                delay = await election.first_cycle_delay()
                if news_level(election.settings) == logging.DEBUG:  # one process: no names
                    logger.info("first cycle in %.1fs", delay)
                else:
                    logger.info("%s scores: first cycle in %.1fs", election.holder, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(term.wait(), timeout=delay)
                if not term.is_set():
                    await scorer_loop(
                        scorer, election.settings, term, after_commit, metrics, health
                    )
            finally:
                watch.cancel()
            if not stop.is_set() and keeper.held:
                # The fence refused a cycle before the keeper noticed: ask the database.
                await keeper.tick()
    finally:
        keeper_stop.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await keeping


async def _end_term(term: asyncio.Event, stop: asyncio.Event, keeper: LeaseKeeper) -> None:
    """Set `term` on stop or when the lease is no longer safely held. `held` also lapses
    by the clock, when a renewal hangs on an unreachable database."""
    while not stop.is_set() and keeper.held:
        await _first(keeper.wait_lost(), stop, timeout=keeper.period / 2)
    if not stop.is_set() and keeper.epoch is not None:  # not lost: the renewal is late
        logger.warning(LAPSED, keeper.holder)
    term.set()


async def _first(
    awaitable: Coroutine[Any, Any, None], stop: asyncio.Event, timeout: float | None = None
) -> bool:
    """Await `awaitable` until it completes (True), `stop` is set or `timeout` passes
    (False)."""
    task = asyncio.create_task(awaitable)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        return task.done() and not stop.is_set()
    finally:
        for t in (task, stopper):
            t.cancel()
