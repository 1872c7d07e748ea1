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
from typing import TYPE_CHECKING

from bot.scoring.percentile import trailing_percentiles

if TYPE_CHECKING:
    from bot.replay.run import ScoredHour

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


def own_percentiles(
    scored: Sequence[ScoredHour],
) -> list[tuple[int | None, int | None, int | None]]:
    """Per scored hour (any order): the live rows' `funding_pctl_90d`, `oi_24h_pctl_90d`
    and `basis_pctl_90d`, computed as the scorer computes them (bot/scoring/percentile.py:
    the 90 days of hours before this one, at least 14 days of them)."""
    out: list[tuple[int | None, int | None, int | None]] = [(None, None, None)] * len(scored)
    by_symbol: dict[str, list[int]] = {}
    for i, h in enumerate(scored):
        by_symbol.setdefault(h.symbol, []).append(i)
    for idx in by_symbol.values():
        idx.sort(key=lambda i: scored[i].ts_ms)
        columns = [
            trailing_percentiles((scored[i].ts_ms, get(scored[i])) for i in idx)
            for get in (_funding_8h, _oi_24h, _basis)
        ]
        for k, i in enumerate(idx):
            out[i] = (columns[0][k], columns[1][k], columns[2][k])
    return out


def _funding_8h(h: ScoredHour) -> float | None:
    return h.score.funding_8h_pct


def _oi_24h(h: ScoredHour) -> float | None:
    return h.inputs.oi_24h


def _basis(h: ScoredHour) -> float | None:
    return h.inputs.basis_pct
