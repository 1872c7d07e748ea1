"""Streams -> one-minute buckets -> batched, fenced writes.

`LiqIngest.on_events` is what every venue's stream calls with the events of a frame:
it only adds them to the in-memory `BucketBook` (microseconds, no I/O). `run` flushes
the changed buckets and coverage minutes every `flush_seconds` in one transaction, so
the write rate does not grow with the event rate, and prunes past the retention once
an hour.

Under replicas the writes are fenced by the stream lease (`fence`, as the scorer's
cycles are): a holder that lost the lease has its transaction refused, drops what it
held in memory and writes nothing more; the next holder writes under its own epoch.
A handover is a coverage gap, never a bucket counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.liquidations.buckets import DEFAULT_LATENESS_MS, BucketBook, CoverageClock
from bot.liquidations.events import LiqEvent
from bot.storage import liq_repo

logger = logging.getLogger(__name__)

RETENTION_MS = 30 * 86_400_000
# A flush every quarter second: a frame is stored within about that plus one write
# (bench/liquidations.py), and the write rate stays four a second however busy the market.
FLUSH_SECONDS = 0.25
PRUNE_EVERY_S = 3600.0
Fence = Callable[[AsyncSession], Awaitable[bool]]


class FenceRefused(Exception):
    """The stream lease moved on: this writer's buckets must not be written."""


@dataclass
class IngestStats:
    events: int = 0
    filtered: int = 0  # symbols outside the universe followed
    flushes: int = 0
    rows_written: int = 0
    write_errors: int = 0
    fenced_out: int = 0
    # (seconds from the oldest frame of a flush to its commit, events in it); bounded.
    latencies: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=10_000))
    write_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))

    def latency_p99(self) -> float | None:
        """An upper bound of the frame-to-stored p99: every event of a flush is taken to
        have waited as long as the flush's oldest frame."""
        total = sum(n for _, n in self.latencies)
        if not total:
            return None
        seen = 0
        for latency, n in sorted(self.latencies):
            seen += n
            if seen >= 0.99 * total:
                return latency
        return max(latency for latency, _ in self.latencies)


class LiqIngest:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        epoch: Callable[[], int | None],
        *,
        fence: Fence | None = None,
        flush_seconds: float = FLUSH_SECONDS,
        lateness_ms: int = DEFAULT_LATENESS_MS,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        symbols: Callable[[str], Container[str] | None] = lambda venue: None,
    ) -> None:
        self.sessions = sessions
        self.epoch = epoch
        self.fence = fence
        self.flush_seconds = flush_seconds
        self.wall_ms = wall_ms
        self.symbols = symbols
        self.book = BucketBook(lateness_ms=lateness_ms)
        self.coverage: dict[str, CoverageClock] = {}
        self.stats = IngestStats()
        self._oldest: float | None = None  # monotonic arrival of the oldest unwritten frame
        self._pending = 0
        self._flushed = asyncio.Event()

    def clock_for(self, venue: str) -> CoverageClock:
        """The coverage clock a venue's stream marks its liveness on."""
        return self.coverage.setdefault(venue, CoverageClock(venue))

    def on_events(self, events: list[LiqEvent], received: float) -> None:
        now_ms = self.wall_ms()
        followed = self.symbols(events[0].venue) if events else None
        added = 0
        for event in events:
            if followed is not None and event.symbol not in followed:
                self.stats.filtered += 1
            elif self.book.add(event, now_ms):
                added += 1
        self.stats.events += added
        if added:
            self._pending += added
            if self._oldest is None:
                self._oldest = received

    async def run(self, stop: asyncio.Event) -> None:
        last_prune = -PRUNE_EVERY_S
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.flush_seconds)
            await self.flush()
            if time.monotonic() - last_prune >= PRUNE_EVERY_S:
                last_prune = time.monotonic()
                await self._prune()

    async def wait_flushed(self) -> None:
        """Until the next flush has ended (written or not)."""
        self._flushed.clear()
        await self._flushed.wait()

    async def flush(self) -> bool:
        """Write what changed since the last flush; True when something was written."""
        try:
            return await self._flush()
        finally:
            self._flushed.set()

    async def _flush(self) -> bool:
        epoch = self.epoch()
        now_ms = self.wall_ms()
        if epoch is None:  # not the holder (any more): nothing may be written
            self._drop_all(now_ms)
            return False
        rows = self.book.take_dirty()
        cover = [(v, m, ms) for v, c in self.coverage.items() for m, ms in c.take_dirty(now_ms)]
        if not rows and not cover:
            return False
        oldest, pending = self._oldest, self._pending
        self._oldest, self._pending = None, 0
        began = time.monotonic()
        try:
            async with self.sessions() as session, session.begin():
                if self.fence is not None and not await self.fence(session):
                    raise FenceRefused
                await liq_repo.write_buckets(session, epoch, rows)
                await liq_repo.write_coverage(session, epoch, cover)
        except FenceRefused:
            self.stats.fenced_out += 1
            logger.warning("liquidations: the stream lease moved on; nothing more is written")
            self._drop_all(now_ms)
            return False
        except (SQLAlchemyError, OSError) as exc:
            self.stats.write_errors += 1
            logger.warning("liquidations: write failed (%s); retrying", type(exc).__name__)
            self.book.restore_dirty(rows)
            for clock in self.coverage.values():
                clock.restore_dirty([m for v, m, _ in cover if v == clock.venue])
            self._oldest = oldest if self._oldest is None else min(oldest or 0, self._oldest)
            self._pending += pending
            return False
        self.stats.flushes += 1
        self.stats.rows_written += len(rows) + len(cover)
        self.stats.write_seconds.append(time.monotonic() - began)
        if oldest is not None:
            self.stats.latencies.append((time.monotonic() - oldest, pending))
        self.book.evict(now_ms)
        for clock in self.coverage.values():
            clock.evict(now_ms)
        return True

    def _drop_all(self, now_ms: int) -> None:
        self.book.forget()
        for clock in self.coverage.values():
            clock.forget(now_ms)
        self._oldest, self._pending = None, 0

    async def _prune(self) -> None:
        try:
            async with self.sessions() as session, session.begin():
                deleted = await liq_repo.prune(session, self.wall_ms() - RETENTION_MS)
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("liquidations: retention prune failed (%s)", type(exc).__name__)
            return
        if deleted:
            logger.info("liquidations: pruned %d rows past 30 days", deleted)
