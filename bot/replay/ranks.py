"""Where each hour's value sits in its own symbol's recent history: trailing percentile
ranks, so that "unusual" means unusual for this symbol in its recent months, in a calm
year as in a wild one, and whatever a venue's quirks do to the absolute level.

rank(t) = the share of the symbol's previous values (the last `window` hours that have
one, the value at t excluded) strictly below the value at t; None until `min_history`
values exist. A rank of 0.95 reads "in its top 5% of the last 90 days".
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Sequence

TRAILING_HOURS = 90 * 24
MIN_HISTORY_HOURS = 30 * 24


def trailing_ranks(
    values: Iterable[float | None],
    *,
    window: int = TRAILING_HOURS,
    min_history: int = MIN_HISTORY_HOURS,
) -> list[float | None]:
    """The rank of each value among the `window` known values before it (in order)."""
    recent: deque[float] = deque()
    ordered: list[float] = []
    out: list[float | None] = []
    for value in values:
        if value is None or value != value:
            out.append(None)
            continue
        known = len(ordered) >= min_history
        out.append(bisect_left(ordered, value) / len(ordered) if known else None)
        recent.append(value)
        insort(ordered, value)
        if len(recent) > window:
            old = recent.popleft()
            del ordered[bisect_left(ordered, old)]
    return out


def fresh_entries(flags: Sequence[bool], times: Sequence[int], rearm_ms: int) -> list[bool]:
    """True where a condition holds and did not hold in the `rearm_ms` before: one
    event per episode, as an alert with a cooldown would send it."""
    out: list[bool] = []
    last_true: int | None = None
    for flag, t in zip(flags, times, strict=True):
        out.append(flag and (last_true is None or t - last_true > rearm_ms))
        if flag:
            last_true = t
    return out
