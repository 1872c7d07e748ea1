"""Flood-control bookkeeping for `bot.telegram.sender`: the global, per-private-chat and
per-group windows, RetryAfter pauses, and the priority gate that lets replies jump the
broadcast queue. Pure bookkeeping on a caller-supplied clock (no sleeping, no I/O), so
the limits can be checked without a network and bench/commands.py can drive it directly.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field


class PriorityGate:
    """A mutex whose waiters are served by (priority, arrival)."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    async def acquire(self, priority: int) -> None:
        if not self._locked and not self._waiters:
            self._locked = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # we were handed the lock while being cancelled
            else:
                self._waiters = [w for w in self._waiters if w[2] is not fut]
                heapq.heapify(self._waiters)
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)  # ownership passes on; stays locked
                return
        self._locked = False


_EPS = 1e-6  # float slack: a wait this short is no wait
_IN_FLIGHT_POLL = 0.01  # every slot of a window is still on the wire: look again soon


@dataclass
class Slot:
    """One message's place in the flood windows: from dispatch until `done` (the
    response) plus the window. Counting from the response, not the dispatch, keeps the
    limits exact whatever the network jitter: when a send is allowed, some earlier one
    in a full window had its response (so it had arrived) a whole window ago."""

    chat_id: int
    sent: float
    done: float | None = None


def _window_wait(slots: deque[Slot], limit: int, window: float, now: float) -> float:
    while slots and slots[0].done is not None and slots[0].done + window <= now + _EPS:
        slots.popleft()
    active = [s for s in slots if s.done is None or s.done + window > now + _EPS]
    if len(active) < limit:
        return 0.0
    frees = [s.done + window for s in active if s.done is not None]
    return max(_EPS * 2, min(frees) - now) if frees else _IN_FLIGHT_POLL


@dataclass
class FloodControl:
    """Bookkeeping of sends; `wait_*` say how long until a send is allowed.

    Global: at most `per_second` messages in any second (plus `margin`), counted from
    each response; and a minimum gap that spreads bursts. Private chats: a token bucket
    of `private_burst`, one token per `private_interval` (plus margin), refilling from
    the last response. Groups: `group_per_minute` in any minute, like the global window.
    """

    per_second: float = 30.0
    private_interval: float = 1.0
    private_burst: int = 3
    group_per_minute: int = 20
    margin: float = 0.01
    _global: deque[Slot] = field(default_factory=deque)
    _last_global: float = float("-inf")
    _paused_until: float = 0.0
    _private: dict[int, tuple[float, float]] = field(default_factory=dict)  # tokens, at
    _groups: dict[int, deque[Slot]] = field(default_factory=dict)
    _chat_paused: dict[int, float] = field(default_factory=dict)
    # A global flood signal: RetryAfter from this many distinct chats within the window.
    global_flood_chats: int = 3
    global_flood_window: float = 10.0
    _flood_hits: deque[tuple[float, int]] = field(default_factory=deque)  # (at, chat)

    @property
    def _n(self) -> int:
        return max(1, int(self.per_second))

    @property
    def _window(self) -> float:
        return self._n / self.per_second + self.margin

    @property
    def window_seconds(self) -> float:
        """The global window: `per_second` sends in any such span."""
        return self._window

    def wait_global(self, now: float) -> float:
        wait = max(
            self._paused_until - now,
            _window_wait(self._global, self._n, self._window, now),
            self._last_global + 0.5 / self.per_second - now,
        )
        return wait if wait > _EPS else 0.0

    def paused_for(self, now: float) -> float:
        """How much longer a RetryAfter pauses every send."""
        return max(0.0, self._paused_until - now)

    def wait_chat(self, chat_id: int, now: float) -> float:
        wait = self._chat_paused.get(chat_id, 0.0) - now
        if chat_id > 0:
            if self.private_interval > 0:
                tokens = self._tokens(chat_id, now)
                if tokens < 1 - _EPS:
                    wait = max(wait, (1 - tokens) * (self.private_interval + self.margin))
        elif chat_id in self._groups:
            window = 60.0 + self.margin
            wait = max(
                wait, _window_wait(self._groups[chat_id], self.group_per_minute, window, now)
            )
        return wait if wait > _EPS else 0.0

    def _tokens(self, chat_id: int, now: float) -> float:
        tokens, at = self._private.get(chat_id, (float(self.private_burst), now))
        refill = max(0.0, now - at) / (self.private_interval + self.margin)
        return min(float(self.private_burst), tokens + refill)

    def record(self, chat_id: int, now: float, *, count_global: bool = True) -> Slot:
        slot = Slot(chat_id, now)
        if count_global:  # not a paid broadcast, which has its own budget
            self._global.append(slot)
            self._last_global = now
        if chat_id > 0:
            if self.private_interval > 0:
                self._private[chat_id] = (max(0.0, self._tokens(chat_id, now) - 1), now)
                if len(self._private) > 50_000:
                    self._prune(now)
        else:
            self._groups.setdefault(chat_id, deque()).append(slot)
        return slot

    def complete(self, slot: Slot, now: float) -> None:
        """The response arrived: windows count from now; the chat's bucket too."""
        slot.done = now
        if slot.chat_id > 0 and slot.chat_id in self._private:
            tokens, at = self._private[slot.chat_id]
            if at <= now:
                self._private[slot.chat_id] = (tokens, now)

    def pause(self, seconds: float, now: float, chat_id: int | None = None) -> bool:
        """A RetryAfter: pause its chat; pause every send on a global flood signal
        (no chat, or 429s from `global_flood_chats` distinct chats within the window).
        Returns True when the pause is global."""
        until = now + seconds
        if chat_id is None:
            self._paused_until = max(self._paused_until, until)
            return True
        self._chat_paused[chat_id] = max(self._chat_paused.get(chat_id, 0.0), until)
        hits = self._flood_hits
        hits.append((now, chat_id))
        while hits and hits[0][0] < now - self.global_flood_window:
            hits.popleft()
        if len({c for _, c in hits}) >= self.global_flood_chats:
            self._paused_until = max(self._paused_until, until)
            return True
        return False

    def _prune(self, now: float) -> None:
        full = [c for c in self._private if self._tokens(c, now) >= self.private_burst]
        for chat_id in full:
            del self._private[chat_id]
        for chat_id in [c for c, t in self._chat_paused.items() if t <= now]:
            del self._chat_paused[chat_id]
        for chat_id in [c for c, slots in self._groups.items() if not slots]:
            del self._groups[chat_id]
