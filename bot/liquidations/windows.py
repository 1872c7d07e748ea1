"""Liquidation windows from stored buckets: pure arithmetic, no I/O.

For one symbol on one venue, or one coin summed over its venues ("all"):
- per window (5m, 1h, 24h, each ending now): USD liquidated by side, the share of the
  window the stream(s) were live (`coverage`, 0-1; for a coin the weakest of its
  venues), the total as a percentage of open interest in USD;
- "x normal" for 1h and 24h: the total against the symbol's own median for that window
  over the trailing 30 days, counting only past windows that were at least 90% covered
  (a gap must not read as a calm hour) and only once 24 covered hours (7 covered days
  for 24h) exist; a median of 0 (a symbol that is rarely liquidated) gives no multiple.
  5m has no multiple: 30 days of 5-minute sums per symbol is too much to read each
  cycle, and a 5-minute normal is mostly zero anyway.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
WINDOWS: dict[str, int] = {"5m": 5 * MINUTE_MS, "1h": HOUR_MS, "24h": 24 * HOUR_MS}
NORMAL_DAYS = 30
COVERED_SHARE = 0.9
# Covered past windows needed before a median means anything, per window.
MIN_NORMAL_SAMPLES = {"1h": 24, "24h": 7}
NORMAL_WINDOWS = tuple(MIN_NORMAL_SAMPLES)


def window_start(now_ms: int, length_ms: int) -> int:
    """The first minute a window ending `now_ms` includes (the minute now-length is in)."""
    start = now_ms - length_ms
    return start - start % MINUTE_MS


def coverage_share(live_by_minute: Mapping[int, int], since_ms: int, now_ms: int) -> float:
    span = now_ms - since_ms
    if span <= 0:
        return 0.0
    live = sum(ms for minute, ms in live_by_minute.items() if since_ms <= minute < now_ms)
    return min(1.0, live / span)


def covered_hours(live_by_minute: Mapping[int, int]) -> set[int]:
    """Hour starts with at least 90% of the hour live."""
    per_hour: dict[int, int] = {}
    for minute, ms in live_by_minute.items():
        hour = minute - minute % HOUR_MS
        per_hour[hour] = per_hour.get(hour, 0) + ms
    return {h for h, ms in per_hour.items() if ms >= COVERED_SHARE * HOUR_MS}


def normals(hourly: Mapping[int, float], covered: set[int], now_ms: int) -> dict[str, float | None]:
    """Median USD liquidated per 1h and per 24h over the trailing 30 days, from hourly
    sums (both sides) and the hours that were covered; the current hour is left out."""
    current = now_ms - now_ms % HOUR_MS
    first = current - NORMAL_DAYS * 24 * HOUR_MS
    hours = sorted(h for h in covered if first <= h < current)
    out: dict[str, float | None] = {"1h": _median([hourly.get(h, 0.0) for h in hours], "1h")}
    days: dict[int, list[float]] = {}
    for h in hours:  # days aligned on the current hour, so the newest is complete
        days.setdefault((current - h - 1) // (24 * HOUR_MS), []).append(hourly.get(h, 0.0))
    out["24h"] = _median([sum(v) for v in days.values() if len(v) == 24], "24h")
    return out


def _median(samples: list[float], window: str) -> float | None:
    if len(samples) < MIN_NORMAL_SAMPLES[window]:
        return None
    return statistics.median(samples)


@dataclass(frozen=True, slots=True)
class LiqWindow:
    long_usd: float
    short_usd: float
    coverage: float

    @property
    def total_usd(self) -> float:
        return self.long_usd + self.short_usd


@dataclass(frozen=True, slots=True)
class LiqFigures:
    """What one row shows: each window, its share of OI and its multiple of normal."""

    windows: dict[str, LiqWindow]
    oi_usd: float | None
    normal_usd: dict[str, float | None]

    def oi_pct(self, window: str) -> float | None:
        if not self.oi_usd or self.oi_usd <= 0:
            return None
        return 100.0 * self.windows[window].total_usd / self.oi_usd

    def x_normal(self, window: str) -> float | None:
        normal = self.normal_usd.get(window)
        if normal is None or normal <= 0:
            return None
        return self.windows[window].total_usd / normal

    def fields(self) -> dict[str, float | None]:
        """The `liq_*` keys of `scan --json` and /api/v1 rows (README)."""
        h1, h24 = self.windows["1h"], self.windows["24h"]
        return {
            "liq_1h_long_usd": h1.long_usd,
            "liq_1h_short_usd": h1.short_usd,
            "liq_24h_long_usd": h24.long_usd,
            "liq_24h_short_usd": h24.short_usd,
            "liq_1h_oi_pct": self.oi_pct("1h"),
            "liq_1h_x_normal": self.x_normal("1h"),
            "liq_coverage_1h": h1.coverage,
        }


LIQ_FIELD_KEYS = (
    "liq_1h_long_usd",
    "liq_1h_short_usd",
    "liq_24h_long_usd",
    "liq_24h_short_usd",
    "liq_1h_oi_pct",
    "liq_1h_x_normal",
    "liq_coverage_1h",
)


def combine(parts: Iterable[LiqFigures], oi_usd: float | None) -> LiqFigures:
    """A coin across venues: sides and normals summed, coverage the weakest venue's."""
    parts = list(parts)
    windows = {
        name: LiqWindow(
            sum(p.windows[name].long_usd for p in parts),
            sum(p.windows[name].short_usd for p in parts),
            min((p.windows[name].coverage for p in parts), default=0.0),
        )
        for name in WINDOWS
    }
    normal: dict[str, float | None] = {}
    for name in NORMAL_WINDOWS:
        values = [p.normal_usd.get(name) for p in parts]
        normal[name] = None if not values or None in values else sum(v or 0.0 for v in values)
    return LiqFigures(windows, oi_usd, normal)


def per_interval(
    times: list[int], minutes: Iterable[tuple[int, str, float]]
) -> tuple[list[float], list[float]]:
    """Longs and shorts liquidated in each chart interval: point i sums the minutes after
    point i-1 up to its own time (the first point: everything before it in `minutes`);
    minutes after the last point are left for the next one."""
    longs, shorts = [0.0] * len(times), [0.0] * len(times)
    for minute, side, usd in minutes:
        i = bisect.bisect_left(times, minute + MINUTE_MS)
        if i < len(times):
            (longs if side == "long" else shorts)[i] += usd
    return longs, shorts
