"""One-minute liquidation buckets and stream coverage, kept in memory between writes.

Pure: no I/O and no clock of its own (the caller passes times in). The ingest
(bot/liquidations/ingest.py) adds every event here and writes the changed buckets in
one batch every flush; nothing is written per event.

- A bucket is (venue, symbol, side, minute): USD notional, size in base-asset units and
  the number of events. Only buckets that saw an event exist, so only those are stored.
- Each row written carries the bucket's *total so far* from this writer, not an
  increment: writing the same bucket again (a retried flush, a flush that found it
  changed) replaces the row, so nothing adds up twice. The row key includes the writer's
  lease epoch, so a new stream holder writes rows of its own beside the old holder's
  instead of overwriting them, and a window sums the epochs.
- Events may arrive late or out of order (OKX says so): a bucket stays in memory
  `lateness_ms` past its minute, so a late event lands in its own minute. Older events
  are counted in `late_dropped` and left out (they would overwrite a stored total with
  a smaller one). Buckets past that horizon are dropped once written: memory stays flat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from bot.liquidations.events import LiqEvent

MINUTE_MS = 60_000
# Buckets (and coverage minutes) kept in memory past their minute for late events.
DEFAULT_LATENESS_MS = 10 * MINUTE_MS
# Events stamped further ahead of our clock than this are not trusted (a bad clock).
MAX_AHEAD_MS = 5 * MINUTE_MS

BucketKey = tuple[str, str, str, int]  # venue, symbol, side, minute start (ms)


class BucketRow(NamedTuple):
    """A bucket's totals so far, in the column order bot/storage/liq_repo.py writes."""

    venue: str
    symbol: str
    side: str
    minute_ms: int
    usd: float
    qty: float
    events: int


@dataclass(slots=True)
class _Bucket:
    usd: float = 0.0
    qty: float = 0.0
    events: int = 0
    dirty: bool = True


@dataclass
class BucketBook:
    lateness_ms: int = DEFAULT_LATENESS_MS
    buckets: dict[BucketKey, _Bucket] = field(default_factory=dict)
    late_dropped: int = 0
    ahead_dropped: int = 0
    _dirty: set[BucketKey] = field(default_factory=set)

    def add(self, event: LiqEvent, now_ms: int) -> bool:
        """Count `event` in its minute; False when it is too late or too far ahead."""
        if event.ts_ms < now_ms - self.lateness_ms:
            self.late_dropped += 1
            return False
        if event.ts_ms > now_ms + MAX_AHEAD_MS:
            self.ahead_dropped += 1
            return False
        key = (event.venue, event.symbol, event.side, event.ts_ms - event.ts_ms % MINUTE_MS)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = _Bucket()
        bucket.usd += event.usd
        bucket.qty += event.qty
        bucket.events += 1
        bucket.dirty = True
        self._dirty.add(key)
        return True

    def take_dirty(self) -> list[BucketRow]:
        """The buckets changed since the last take, with their totals so far."""
        rows = []
        for key in self._dirty:
            bucket = self.buckets[key]
            bucket.dirty = False
            rows.append(BucketRow(*key, bucket.usd, bucket.qty, bucket.events))
        self._dirty = set()
        return rows

    def restore_dirty(self, rows: list[BucketRow]) -> None:
        """A write failed: these rows must go out with the next flush."""
        for row in rows:
            key = (row.venue, row.symbol, row.side, row.minute_ms)
            if key in self.buckets:
                self.buckets[key].dirty = True
                self._dirty.add(key)

    def forget(self) -> None:
        """The lease is lost: nothing in memory may be written under a new epoch."""
        self.buckets.clear()
        self._dirty.clear()

    def evict(self, now_ms: int) -> int:
        """Drop written buckets past the lateness horizon; returns how many."""
        horizon = now_ms - self.lateness_ms - MINUTE_MS
        old = [k for k, b in self.buckets.items() if k[3] < horizon and not b.dirty]
        for key in old:
            del self.buckets[key]
        return len(old)


@dataclass
class CoverageClock:
    """When one venue's stream was live, as milliseconds per minute.

    `up`/`down` mark the stream going live (connected and subscribed) and dropping;
    `take_dirty` closes the open interval at `now_ms` and returns each touched minute's
    live milliseconds so far (a total, like the buckets: rewriting is harmless)."""

    venue: str
    live_since_ms: int | None = None
    minutes: dict[int, int] = field(default_factory=dict)
    _dirty: set[int] = field(default_factory=set)

    @property
    def live(self) -> bool:
        return self.live_since_ms is not None

    def up(self, now_ms: int) -> None:
        if self.live_since_ms is None:
            self.live_since_ms = now_ms

    def down(self, now_ms: int) -> None:
        if self.live_since_ms is not None:
            self._credit(self.live_since_ms, now_ms)
            self.live_since_ms = None

    def _credit(self, start_ms: int, end_ms: int) -> None:
        t = start_ms
        while t < end_ms:
            minute = t - t % MINUTE_MS
            stop = min(end_ms, minute + MINUTE_MS)
            self.minutes[minute] = min(MINUTE_MS, self.minutes.get(minute, 0) + stop - t)
            self._dirty.add(minute)
            t = stop

    def take_dirty(self, now_ms: int) -> list[tuple[int, int]]:
        if self.live_since_ms is not None and now_ms > self.live_since_ms:
            self._credit(self.live_since_ms, now_ms)
            self.live_since_ms = now_ms
        rows = sorted((m, self.minutes[m]) for m in self._dirty)
        self._dirty = set()
        return rows

    def restore_dirty(self, minutes: list[int]) -> None:
        self._dirty.update(m for m in minutes if m in self.minutes)

    def forget(self, now_ms: int) -> None:
        self.minutes.clear()
        self._dirty.clear()
        if self.live_since_ms is not None:
            self.live_since_ms = now_ms

    def evict(self, now_ms: int) -> None:
        horizon = now_ms - 2 * MINUTE_MS
        for minute in [m for m in self.minutes if m < horizon and m not in self._dirty]:
            del self.minutes[minute]
