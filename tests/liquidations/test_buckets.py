"""The pure bucket book and coverage clock."""

from __future__ import annotations

from bot.liquidations.buckets import MINUTE_MS, BucketBook, CoverageClock
from bot.liquidations.events import LiqEvent

T0 = 1_767_225_600_000  # a minute boundary


def ev(ts: int, usd: float = 100.0, side: str = "long", symbol: str = "BTCUSDT") -> LiqEvent:
    return LiqEvent("binance", symbol, side, 50_000.0, usd / 50_000, usd, ts)  # type: ignore[arg-type]


def test_events_sum_into_their_minute_and_side() -> None:
    book = BucketBook()
    for ts, side in [(T0, "long"), (T0 + 59_999, "long"), (T0 + 60_000, "long"), (T0, "short")]:
        assert book.add(ev(ts, side=side), T0 + 61_000)
    rows = sorted(book.take_dirty())
    assert [(r.side, r.minute_ms, r.usd, r.events) for r in rows] == [
        ("long", T0, 200.0, 2),
        ("long", T0 + MINUTE_MS, 100.0, 1),
        ("short", T0, 100.0, 1),
    ]
    assert book.take_dirty() == []  # nothing changed since
    book.add(ev(T0 + 1), T0 + 61_000)
    (row,) = book.take_dirty()
    assert (row.usd, row.events) == (300.0, 3)  # the total so far, not the increment


def test_late_and_future_events_are_counted_and_left_out() -> None:
    book = BucketBook(lateness_ms=10 * MINUTE_MS)
    now = T0 + 30 * MINUTE_MS
    assert not book.add(ev(now - 11 * MINUTE_MS), now)
    assert book.add(ev(now - 9 * MINUTE_MS), now)  # late, but inside the horizon
    assert not book.add(ev(now + 6 * MINUTE_MS), now)
    assert (book.late_dropped, book.ahead_dropped) == (1, 1)


def test_written_buckets_past_the_horizon_are_evicted_memory_stays_flat() -> None:
    book = BucketBook(lateness_ms=2 * MINUTE_MS)
    for minute in range(100):
        now = T0 + minute * MINUTE_MS
        book.add(ev(now), now)
        book.take_dirty()
        book.evict(now)
        assert len(book.buckets) <= 4


def test_a_failed_write_is_retried_with_the_next_flush() -> None:
    book = BucketBook()
    book.add(ev(T0), T0)
    rows = book.take_dirty()
    book.restore_dirty(rows)
    assert book.take_dirty() == rows


def test_coverage_splits_live_time_into_minutes() -> None:
    clock = CoverageClock("bybit")
    clock.up(T0 + 30_000)
    assert clock.take_dirty(T0 + 90_000) == [(T0, 30_000), (T0 + MINUTE_MS, 30_000)]
    clock.down(T0 + 100_000)
    clock.up(T0 + 110_000)
    assert clock.take_dirty(T0 + 120_000) == [(T0 + MINUTE_MS, 50_000)]  # a 10 s gap
    assert not clock.take_dirty(T0 + 120_000)
