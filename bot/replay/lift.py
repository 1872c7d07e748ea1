"""Statistics of what followed a set of hours, as a lift over all hours of the same
period, with a bootstrap confidence interval resampled by symbol-day.

Why by symbol-day: hours of one symbol on one day share their future (the next 24h
overlap), so resampling single hours would treat ~24 copies of one move as independent
evidence and make the interval far too narrow. Each replicate draws the period's
symbol-days with replacement; an hour (and an alert in it) counts as often as its
symbol-day was drawn. The all-hours baseline is recomputed on the same replicate, so a
lift's interval carries the uncertainty of both sides.

Definitions (docs/scoring.md, Evidence):
- p50 / p90: the smallest value with at least 50% / 90% of the (resampled) weight at or
  below it; hours whose move is unknown (the end hour is missing) are left out.
- P(excursion >= 5%): the price rose or fell at least 5% from the hour's price at some
  point within the next 24h (highs and lows), over hours whose excursion is known.
- Implied direction (+1 up, -1 down, 0 none): P(a >= 3% excursion that way) against
  P(a >= 3% excursion the other way), and their difference.
- The interval is the 5th-95th percentile of the replicates (90%); a fixed seed makes
  the whole evaluation reproducible to the digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

REPLICATES = 400
SEED = 18
BIG_MOVE_PCT = 5.0
DIRECTION_PCT = 3.0
QUANTILE_METRICS = (
    ("p50_4h", "abs4", 0.5),
    ("p90_4h", "abs4", 0.9),
    ("p50_24h", "abs24", 0.5),
    ("p90_24h", "abs24", 0.9),
)
LIFTS = ("p50_4h", "p90_4h", "p50_24h", "p90_24h", "p_big")
_CHUNK = 64  # replicates per pass over a large set (memory: chunk x hours floats)
WINDOW = 0.05  # rank window summed row by row around a quantile (see _quantile)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PeriodSample:
    """One period's hours as arrays, row i being one symbol at one hour."""

    unit: Ints  # symbol-day of the row, 0..units-1
    units: int
    abs4: Floats  # |forward 4h move| %, NaN if unknown
    abs24: Floats
    up: Floats  # largest rise within 24h, %, NaN if unknown
    down: Floats
    hours: int

    @property
    def symbol_days(self) -> float:
        return self.hours / 24


class Resampler:
    """The replicates' weights per symbol-day, shared by every set of the period."""

    def __init__(self, sample: PeriodSample, replicates: int = REPLICATES, seed: int = SEED):
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, max(sample.units, 1), size=(replicates, sample.units))
        weights = np.zeros((replicates, sample.units))
        for b in range(replicates):
            weights[b] = np.bincount(draws[b], minlength=sample.units)
        self.sample = sample
        self.weights = weights
        big = np.fmax(sample.up, sample.down)
        self.big = np.where(np.isnan(big), np.nan, (big >= BIG_MOVE_PCT).astype(float))
        self._all = self.stats(np.arange(sample.hours), np.zeros(sample.hours))

    @property
    def all_hours(self) -> dict[str, Any]:
        return self._all

    def stats(self, rows: Ints, direction: Floats) -> dict[str, Any]:
        """Point values and replicate arrays of every metric over `rows`."""
        s = self.sample
        out: dict[str, Any] = {"n": len(rows)}
        for name, column, q in QUANTILE_METRICS:
            out[name] = self._quantile(getattr(s, column), rows, q)
        out["p_big"] = self._share(self.big[rows], rows)
        if len(rows) and np.any(direction != 0):
            up3 = (s.up[rows] >= DIRECTION_PCT).astype(float)
            down3 = (s.down[rows] >= DIRECTION_PCT).astype(float)
            known = ~np.isnan(s.up[rows]) & (direction != 0)
            implied = np.where(direction > 0, up3, down3)
            opposite = np.where(direction > 0, down3, up3)
            out["p_implied"] = self._share(np.where(known, implied, np.nan), rows)
            out["p_opposite"] = self._share(np.where(known, opposite, np.nan), rows)
        return out

    def _share(self, hits: Floats, rows: Ints) -> tuple[float, Floats]:
        """The share of hits among known rows: the point value and each replicate's."""
        known = ~np.isnan(hits)
        units = self.sample.unit[rows][known]
        count = np.bincount(units, minlength=self.sample.units).astype(float)
        hit = np.bincount(units, weights=hits[known], minlength=self.sample.units)
        with np.errstate(invalid="ignore", divide="ignore"):
            point = float(hit.sum() / count.sum()) if count.sum() else float("nan")
            reps = (self.weights @ hit) / (self.weights @ count)
        return point, reps

    def _quantile(self, column: Floats, rows: Ints, q: float) -> tuple[float, Floats]:
        values = column[rows]
        known = ~np.isnan(values)
        values, units = values[known], self.sample.unit[rows][known]
        if not len(values):
            return float("nan"), np.full(len(self.weights), np.nan)
        order = np.argsort(values, kind="stable")
        values, units = values[order], units[order]
        n = len(values)
        point = float(values[max(int(np.ceil(q * n)) - 1, 0)])
        # A replicate's quantile sits close to the point's rank: the weight below a
        # window around it comes from one matrix product, and only the window is
        # summed row by row (10x less work on all hours). A replicate whose quantile
        # falls outside the window is summed whole.
        lo, hi = max(0, int((q - WINDOW) * n)), min(n, int(np.ceil((q + WINDOW) * n)))
        counts = np.bincount(units, minlength=self.sample.units).astype(float)
        below = np.bincount(units[:lo], minlength=self.sample.units).astype(float)
        target = q * (self.weights @ counts) - 1e-9
        base = self.weights @ below
        reps = np.full(len(self.weights), np.nan)
        for start in range(0, len(self.weights), _CHUNK):
            part = slice(start, start + _CHUNK)
            cum = base[part, None] + np.cumsum(self.weights[part][:, units[lo:hi]], axis=1)
            inside = (base[part] < target[part]) & (cum[:, -1] >= target[part])
            first = np.argmax(cum >= target[part, None], axis=1)
            reps[part] = np.where(inside, values[lo:hi][first], np.nan)
        for b in np.flatnonzero(np.isnan(reps) & (target > 0)):
            cum_all = np.cumsum(self.weights[b][units])
            reps[b] = values[int(np.argmax(cum_all >= target[b]))]
        return point, reps


def summarise(stats: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Plain numbers: each metric, its lift over `base` with a 90% interval, and the
    implied-direction difference with its interval."""
    out: dict[str, Any] = {"n": stats["n"]}
    for name in LIFTS:
        point, reps = stats[name]
        base_point, base_reps = base[name]
        out[name] = _num(point)
        with np.errstate(invalid="ignore", divide="ignore"):
            lift_point = point / base_point if base_point else float("nan")
            ratios = reps / base_reps
        out[f"{name}_lift"] = _num(lift_point)
        out[f"{name}_lift_ci"] = _interval(ratios)
    if "p_implied" in stats:
        (pi, ri), (po, ro) = stats["p_implied"], stats["p_opposite"]
        out["p_implied"], out["p_opposite"] = _num(pi), _num(po)
        out["implied_minus_opposite"] = _num(pi - po)
        out["implied_minus_opposite_ci"] = _interval(ri - ro)
    return out


def _interval(reps: Floats) -> list[float | None]:
    finite = reps[np.isfinite(reps)]
    if len(finite) < len(reps) * 0.9:  # too few replicates had the set at all
        return [None, None]
    lo, hi = np.percentile(finite, [5, 95])
    return [_num(float(lo)), _num(float(hi))]


def _num(value: float) -> float | None:
    return None if value != value or value in (float("inf"), float("-inf")) else round(value, 3)
