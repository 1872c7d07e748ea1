"""How unusual a value is for its own symbol: a percentile 0-100 within the symbol's
trailing 90 days of hourly values (docs/scoring.md, "The symbol's own percentiles").

With n hourly values in the window, b of them strictly below v and a of them at or
below v: percentile(v) = (floor(100 * b / n) + floor(100 * a / n)) // 2, a mid-rank in
whole percent: ties count half. Without ties (a = b) it is floor(100 * b / n), so `>= 95`
reads "in its top 5% of 90 days" (at least 95% of the window lies below it) and `< 5`
"in its bottom 5%". Ties matter: BNB's Binance funding sits at exactly the base rate at
half the settlements, and a plain "share below" would call that value its bottom 3%.
None while the window holds fewer than `MIN_HISTORY_HOURS` values.

Live, the window changes once an hour, so the scorer keeps only 100 cut points per
symbol and field (`cut_points`) and bisects them each cycle (`percentile_of`): the
count of cut points strictly below v is exactly floor(100 * b / n), and the count at or
below v exactly floor(100 * a / n). The replay keeps the whole window
(`trailing_percentiles`) and computes the same number from a, b and n; a test holds the
two equal. The window of an hour stamped E (the hour ending at E) is
the hours stamped [E - 90 days, E): the value being ranked is never in its own window.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable, Sequence

HOUR_MS = 3_600_000
WINDOW_DAYS = 90
WINDOW_MS = WINDOW_DAYS * 24 * HOUR_MS
MIN_HISTORY_HOURS = 14 * 24  # two weeks of hourly values before a percentile is shown
STEPS = 100


def from_counts(below: int, n: int) -> int:
    """floor(100 * below / n) in integers (no float rounding at the edges)."""
    return STEPS * below // n


def cut_points(ordered: Sequence[float]) -> tuple[float, ...] | None:
    """The 100 values that stand for a sorted window: the k-th (k = 1..100) is
    ordered[ceil(k * n / 100) - 1]. Then v exceeds the k-th exactly when at least
    k * n / 100 values lie below v (and is at least it when k * n / 100 values are at
    or below v). None when the window is too short."""
    n = len(ordered)
    if n < MIN_HISTORY_HOURS:
        return None
    return tuple(ordered[-(-k * n // STEPS) - 1] for k in range(1, STEPS + 1))


def percentile_of(value: float | None, cuts: Sequence[float] | None) -> int | None:
    """The value's percentile (0-100) among the window `cuts` stands for."""
    if value is None or cuts is None or value != value:
        return None
    return (bisect_left(cuts, value) + bisect_right(cuts, value)) // 2


def from_window(value: float, ordered: Sequence[float]) -> int:
    """The same number from the whole sorted window (at least one value)."""
    n = len(ordered)
    return (
        from_counts(bisect_left(ordered, value), n) + from_counts(bisect_right(ordered, value), n)
    ) // 2


def trailing_percentiles(
    points: Iterable[tuple[int, float | None]],
    *,
    window_ms: int = WINDOW_MS,
    min_history: int = MIN_HISTORY_HOURS,
) -> list[int | None]:
    """Per (hour stamp, value) in time order: its percentile among the values stamped in
    [stamp - window_ms, stamp). A missing value (None, NaN) is neither ranked nor kept."""
    recent: deque[tuple[int, float]] = deque()
    ordered: list[float] = []
    out: list[int | None] = []
    for ts, value in points:
        while recent and recent[0][0] < ts - window_ms:
            _, old = recent.popleft()
            del ordered[bisect_left(ordered, old)]
        if value is None or value != value:
            out.append(None)
            continue
        n = len(ordered)
        out.append(from_window(value, ordered) if n >= min_history else None)
        recent.append((ts, value))
        insort(ordered, value)
    return out
