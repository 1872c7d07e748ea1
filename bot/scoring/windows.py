"""Open-interest windows: which stored sample anchors the 1h/4h/24h change. Pure.

A window's anchor is the stored sample closest to its target (now - 1h/4h/24h), earlier
or later, within the window's tolerance. Samples are what earlier cycles stored, stamped
with the exchange's own `time`, which lands a little after the local cycle start: the
sample taken exactly one hour ago sits a few hundred milliseconds *after* the 1h target,
and must still anchor it. At a cadence that does not divide the hour (say 40 min) the
nearest sample can be up to half an interval away on either side, so the tolerance is
never less than that. docs/scoring.md ("How windows are anchored") explains the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HOUR_MS = 3_600_000
WINDOWS_HOURS = (1, 4, 24)
# Cycle starts drift by scheduling delays, and a cycle's samples are stamped over the
# seconds it takes to fetch them: room for that on top of half an interval.
JITTER_MS = 60_000


@dataclass(frozen=True, slots=True)
class Window:
    hours: int
    target_ms: int  # now - hours
    earliest_ms: int  # oldest sample that may still stand for the target
    latest_ms: int  # newest sample that may still stand for the target


def tolerance_for(tolerance_ms: int, interval_ms: int) -> int:
    """The configured tolerance, but at least half an interval (plus jitter).

    In steady state the sample nearest any target is then always within reach, whatever
    the cadence; a window is null only when samples are really missing around it.
    """
    return max(tolerance_ms, interval_ms // 2 + JITTER_MS)


def windows(now_ms: int, tolerance_ms: int, *, interval_ms: int) -> list[Window]:
    """The 1h/4h/24h windows ending at `now_ms` for a scorer running every `interval_ms`."""
    radius = tolerance_for(tolerance_ms, interval_ms)
    out = []
    for h in WINDOWS_HOURS:
        target = now_ms - h * HOUR_MS
        out.append(Window(h, target, target - radius, target + radius))
    return out


def anchor(samples: Sequence[tuple[int, float]], window: Window) -> float | None:
    """Contracts at the sample closest to the target within the window's bounds.

    On a tie the earlier sample wins. No sample within the bounds means the honest answer
    is "unknown" (None), never 0: a far-off sample would over- or understate the change.
    """
    best: tuple[int, int, float] | None = None  # (distance, time, contracts)
    for ts, contracts in samples:
        if window.earliest_ms <= ts <= window.latest_ms:
            candidate = (abs(ts - window.target_ms), ts, contracts)
            if best is None or candidate[:2] < best[:2]:
                best = candidate
    return None if best is None else best[2]


def could_exist(window: Window, onboard_ms: int | None) -> bool:
    """A symbol listed after the window's target has no sample to find, ever."""
    return onboard_ms is None or onboard_ms <= window.target_ms
