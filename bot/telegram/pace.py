"""The global pace of outbox broadcasts: when the next digest may leave, bot-wide.

Telegram's global budget belongs to the bot token, not to a process. Two paces:

- `SharedPace` (PostgreSQL, where several outbox workers may run): a worker reserves a
  small block of send slots in the `send_pace` row of its budget (`bot.storage.pace_repo`,
  one upsert on the database clock), then spends them locally, evenly spaced. A block is
  at most `batch_seconds` (0.25 s) of the budget, so a worker killed holding one wastes
  at most that much; blocks are sized by the sends waiting, so a quiet worker takes one
  slot at a time. If the database cannot be reached the pace falls back to local
  spacing (logged) rather than stall sends that are already claimed.
- `LocalPace` (SQLite: one process): the same even spacing, in process. With paid
  broadcast off, SQLite keeps the sender's own window (`FloodControl`), as before; this
  is only the paid budget's pace.

Replies to commands (`Priority.REPLY`) do not take shared slots: a database round trip
before every answer would make answers wait on the database and on broadcast traffic.
They stay on the sender's local window (fast, ahead of broadcasts), and each reply sent
is *charged* to the shared free budget at the next reservation (`charge`), so the
broadcasts of every worker make room for the replies afterwards. Paid broadcasts use
their own budget, so replies are not charged to it.

The spacing keeps a margin below the configured rate, 2 % but at least 1.5 messages a
second (5 % at 30 msg/s): a slot is taken at dispatch, and a busy event loop or the
network may bunch requests a little on their way to Telegram, whose limit counts them
as they arrive. (The sender's own window avoids this by counting from each response;
workers cannot see each other's responses.)
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import TelegramSettings
from bot.storage import pace_repo
from bot.telegram.outage import short_error

logger = logging.getLogger(__name__)


class Pace(Protocol):
    async def take(self, abort: asyncio.Event | None = None) -> None:
        """Wait for the next send slot; SendAborted when `abort` is set meanwhile."""

    def charge(self, n: int = 1) -> None:
        """`n` messages were sent outside the pace (replies): count them against it."""


class SendAborted(Exception):
    """The caller's abort event was set while the send waited for its slot: the message
    was never handed to Telegram, so it is safe to send again later."""


async def sleep_or_abort(seconds: float, abort: asyncio.Event | None) -> None:
    if abort is None:
        await asyncio.sleep(seconds)
        return
    if abort.is_set():
        raise SendAborted
    try:
        await asyncio.wait_for(abort.wait(), timeout=seconds)
    except TimeoutError:
        return
    raise SendAborted


def default_margin(rate: float, margin: float | None = None) -> float:
    """The share of the rate kept free (module doc): 2 %, at least 1.5 messages/s."""
    if margin is not None:
        return margin
    return min(0.5, max(0.02, 1.5 / rate))


class LocalPace:
    """Even spacing at `rate` messages/s, in this process."""

    def __init__(
        self,
        rate: float,
        *,
        margin: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gap = 1.0 / (rate * (1 - default_margin(rate, margin)))
        self._next = float("-inf")
        self._clock = clock

    async def take(self, abort: asyncio.Event | None = None) -> None:
        now = self._clock()
        at = max(self._next, now)
        self._next = at + self.gap
        if at > now:
            await sleep_or_abort(at - now, abort)

    def charge(self, n: int = 1) -> None:
        self._next = max(self._next, self._clock()) + n * self.gap


class SharedPace:
    """Send slots reserved in blocks from the database (see the module doc)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        budget: str,
        rate: float,
        *,
        batch_seconds: float = 0.25,
        margin: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self.budget = budget
        self.rate = rate * (1 - default_margin(rate, margin))
        self.max_batch = max(1, math.floor(self.rate * batch_seconds))
        self._clock = clock
        self._slots: deque[float] = deque()  # local clock times of reserved slots
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._debt = 0  # replies sent since the last reservation
        self._fallback = LocalPace(rate, margin=margin, clock=clock)
        self._failing = False
        self._offset = float("inf")
        self._last = float("-inf")
        self.reservations = 0
        self.reserved = 0
        # Called with each slot reserved, in seconds on the database clock every worker
        # shares: what tests check the pace on, not when sends ran on a busy machine.
        self.on_slot: Callable[[float], None] | None = None

    def charge(self, n: int = 1) -> None:
        self._debt += n

    async def take(self, abort: asyncio.Event | None = None) -> None:
        at = await self._next_slot()
        if at is None:
            await self._fallback.take(abort)
            return
        wait = at - self._clock()
        if wait > 0:
            await sleep_or_abort(wait, abort)

    async def _next_slot(self) -> float | None:
        """The local time of our next slot; None when the database cannot reserve."""
        self._waiting += 1
        try:
            while not self._slots:
                async with self._lock:
                    if not self._slots and not await self._reserve():
                        return None
            return self._slots.popleft()
        finally:
            self._waiting -= 1

    async def _reserve(self) -> bool:
        k = min(self.max_batch, max(1, self._waiting))
        debt, self._debt = self._debt, 0
        units = k + debt
        cost_ms = max(1, math.ceil(units * 1000 / self.rate))
        try:
            async with self._sessions() as session, session.begin():
                got = await pace_repo.reserve(session, self.budget, cost_ms)
            # local clock - database clock: every sample is late by the time between the
            # database's read and ours, so the smallest is the best estimate, and one
            # steady offset keeps blocks from overlapping when a commit was slow.
            self._offset = min(self._offset, self._clock() - got.now_ms / 1000)
        except Exception as exc:  # a DB blip must not stall sends already claimed
            if not self._failing:
                cause = short_error(exc, 200)
                logger.warning("shared send pace unavailable (%s); pacing locally", cause)
                self._failing = True
            self._fallback.charge(debt)
            return False
        if self._failing:
            logger.info("shared send pace is back")
            self._failing = False
        step = (got.end_ms - got.start_ms) / units
        for i in range(debt, units):
            if self.on_slot is not None:
                self.on_slot((got.start_ms + i * step) / 1000)
            at = self._offset + (got.start_ms + i * step) / 1000
            # Never closer than a gap to our previous slot, should the offset improve.
            self._last = max(at, self._last + 1 / self.rate)
            self._slots.append(self._last)
        self.reservations += 1
        self.reserved += k
        return True


def broadcast_rate(settings: TelegramSettings) -> float:
    """Messages/s outbox digests may leave at, bot-wide."""
    if settings.allow_paid_broadcast:
        return settings.paid_broadcast_messages_per_second
    return settings.max_messages_per_second


def broadcast_pace(
    sessions: async_sessionmaker[AsyncSession], settings: TelegramSettings, *, shared: bool
) -> Pace | None:
    """The pace for outbox broadcasts: shared through the database when several workers
    may send (PostgreSQL), in process for paid broadcast on SQLite, else None (the
    sender's own window, as before)."""
    paid = settings.allow_paid_broadcast
    if shared:
        budget = pace_repo.PAID if paid else pace_repo.GLOBAL
        return SharedPace(sessions, budget, broadcast_rate(settings))
    if paid:
        return LocalPace(broadcast_rate(settings))
    return None


__all__ = [
    "LocalPace",
    "Pace",
    "SendAborted",
    "SharedPace",
    "broadcast_pace",
    "broadcast_rate",
    "sleep_or_abort",
]
