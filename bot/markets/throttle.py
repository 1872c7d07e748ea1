"""The one request throttle every venue's client uses, and the limits it reads.

Each venue states its budget as data (`VenueLimits`, in its `*_constants.py`): Binance
counts request weight per clock minute and allows openInterestHist 1000 calls per 5 min;
Bybit counts requests per IP over 5 s; OKX per endpoint over 2 s. `Throttle` holds the
state for those budgets and tells the client how long a request must wait, or that a
backfill request should give up (`HistoryBudgetExhausted`) rather than stall a cycle.
The rest of what a venue's limits say (which statuses ban us, the rate-limit answer sent
with HTTP 200) the client reads from the same `VenueLimits`.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bot.markets.base import HistoryBudgetExhausted

logger = logging.getLogger(__name__)

# The venue's clock and ours differ, and latency varies: a slot frees a little after our
# own count says it does, so a request never lands inside the previous window there.
WINDOW_SLACK_SECONDS = 0.25
# Binance's weight resets when the clock minute turns; wake a little after, so a slightly
# slow local clock does not send into the old minute and wait another whole one.
MINUTE_ROLL_SLACK_SECONDS = 0.25
MINUTE_SECONDS = 60.0


@dataclass(frozen=True)
class Window:
    """At most `limit` requests per `seconds`, sliding."""

    limit: int
    seconds: float


@dataclass(frozen=True)
class MinuteWeight:
    """Request weight per clock minute (Binance): keep below `limit - margin`; the
    server's count (`header`) includes other processes on the same IP."""

    limit: int
    margin: int
    header: str


@dataclass(frozen=True)
class VenueLimits:
    """A venue's request budget and how it says no.

    - `windows`: path prefix -> its own sliding window ("" is the whole venue); a
      request takes a slot in every window whose prefix matches.
    - `minute_weight`: a weight budget per clock minute, or None.
    - `history_max_wait_seconds`: the longest a backfill request waits for a slot before
      it gives up for this cycle (0: it never waits).
    - `rate_ban_statuses`: statuses after which nothing is sent for Retry-After (or
      `rate_ban_seconds`): a rate ban (Binance's 418). Carrying on would extend it.
    - `block_statuses`: statuses that mean the venue refuses this IP (a rate ban or a
      region block, HTTP 403/451): nothing is sent for `block_seconds` and requests fail
      with `VenueBlocked`, which takes the venue out of the aggregates at once.
    - `envelope_code_key`, `envelope_rate_limited`: a "too many requests" sent with HTTP
      200 inside the venue's envelope (Bybit `retCode` 10006, OKX `code` 50011).
    """

    venue: str
    windows: Mapping[str, Window] = field(default_factory=dict)
    minute_weight: MinuteWeight | None = None
    history_max_wait_seconds: float = 5.0
    rate_ban_statuses: frozenset[int] = frozenset({418})
    rate_ban_seconds: float = 120.0
    block_statuses: frozenset[int] = frozenset()
    block_seconds: float = 600.0
    envelope_code_key: str | None = None
    envelope_rate_limited: frozenset[str] = frozenset()

    def rate_limited_envelope(self, body: object) -> bool:
        """Whether an HTTP 200 body is the venue saying "too many requests"."""
        if self.envelope_code_key is None or not isinstance(body, dict):
            return False
        return str(body.get(self.envelope_code_key)) in self.envelope_rate_limited


class _SlidingWindow:
    """Books each request at the earliest moment the window allows (no bursts)."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self._slots: list[float] = []  # sorted send times, some maybe still to come

    def expire(self, now: float) -> None:
        cutoff = bisect.bisect_right(self._slots, now - self.window.seconds)
        del self._slots[:cutoff]

    def earliest(self, now: float) -> float:
        self.expire(now)
        if len(self._slots) < self.window.limit:
            return now
        free_at = self._slots[-self.window.limit] + self.window.seconds + WINDOW_SLACK_SECONDS
        return max(now, free_at)

    def left(self, now: float) -> int:
        self.expire(now)
        return max(0, self.window.limit - len(self._slots))

    def book(self, at: float) -> None:
        bisect.insort(self._slots, at)


class Throttle:
    """The state of one venue's budgets in this process.

    `clock` is monotonic (the sliding windows); `wall_clock` is epoch seconds (the clock
    minute). `sleep` is injectable so tests never really wait. Budgets are per process:
    a `pressurebot scan` beside the service has its own (docs/operations.md).
    """

    def __init__(
        self,
        limits: VenueLimits,
        *,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        self.limits = limits
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._windows = {prefix: _SlidingWindow(w) for prefix, w in limits.windows.items()}
        self._minute = -1
        self._minute_used = 0
        self._warned_minute = -1
        self.server_used = 0
        # Called with (path, time) for every slot booked: what tests check the pacing
        # on, rather than arrival times at a server, which a busy machine skews.
        self.on_booked: Callable[[str, float], None] | None = None

    async def pace(self, path: str, *, history: bool) -> None:
        """Wait for a slot in every window `path` falls under. A backfill request that
        would wait longer than the venue allows raises HistoryBudgetExhausted instead."""
        matching = [w for prefix, w in self._windows.items() if path.startswith(prefix)]
        now = self._clock()
        at = max((w.earliest(now) for w in matching), default=now)
        if history and at - now > self.limits.history_max_wait_seconds:
            raise HistoryBudgetExhausted(self._spent(path, matching, at - now))
        for window in matching:
            window.book(at)
        if self.on_booked is not None:
            self.on_booked(path, at)
        if at > now:
            await self._sleep(at - now)

    def _spent(self, path: str, matching: list[_SlidingWindow], frees_in: float) -> str:
        full = min(matching, key=lambda w: w.window.limit)
        per = full.window.seconds
        span = f"{per / 60:g} min" if per >= 60 else f"{per:g} s"
        return (
            f"{self.limits.venue} {path} budget of {full.window.limit} calls per {span} "
            f"is spent; next slot in {frees_in:.0f}s"
        )

    def budget_left(self, path: str) -> int:
        """Free slots in the tightest window `path` falls under (a large number if none)."""
        now = self._clock()
        lefts = [w.left(now) for prefix, w in self._windows.items() if path.startswith(prefix)]
        return min(lefts, default=10**9)

    async def reserve_weight(self, weight: int) -> None:
        """Wait for the next clock minute if `weight` would cross limit - margin."""
        budget = self.limits.minute_weight
        if budget is None or weight <= 0:
            return
        limit = budget.limit - budget.margin
        while True:
            self._roll_minute()
            # An empty minute always admits, so an oversized request cannot wait forever.
            if self._minute_used == 0 or self._minute_used + weight <= limit:
                break
            wait = MINUTE_SECONDS - self._wall_clock() % MINUTE_SECONDS + MINUTE_ROLL_SLACK_SECONDS
            if self._warned_minute != self._minute:
                self._warned_minute = self._minute
                logger.warning(
                    "%s weight %d/min near the limit of %d (margin %d): "
                    "waiting %.1fs for the next minute",
                    self.limits.venue,
                    self._minute_used,
                    budget.limit,
                    budget.margin,
                    wait,
                )
            await self._sleep(wait)
        self._minute_used += weight

    def note_server_weight(self, headers: Mapping[str, str]) -> None:
        """The weight the server says this IP has used this minute (other processes too)."""
        budget = self.limits.minute_weight
        raw = headers.get(budget.header) if budget is not None else None
        if raw is None:
            return
        try:
            used = int(raw)
        except ValueError:
            return
        self.server_used = used
        self._roll_minute()
        # Other processes on the same IP count too; our in-flight requests may not yet.
        self._minute_used = max(self._minute_used, used)

    def _roll_minute(self) -> None:
        minute = int(self._wall_clock() // MINUTE_SECONDS)
        if minute != self._minute:
            self._minute = minute
            self._minute_used = 0
