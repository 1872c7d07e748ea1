"""Open-interest windows: which stored sample anchors the 1h/4h/24h change. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HOUR_MS = 3_600_000
WINDOWS_HOURS = (1, 4, 24)


@dataclass(frozen=True, slots=True)
class Window:
    hours: int
    target_ms: int  # now - hours
    earliest_ms: int  # oldest sample that may still stand for the target


def windows(now_ms: int, tolerance_ms: int) -> list[Window]:
    return [
        Window(h, now_ms - h * HOUR_MS, now_ms - h * HOUR_MS - tolerance_ms) for h in WINDOWS_HOURS
    ]


def anchor(samples: Sequence[tuple[int, float]], window: Window) -> float | None:
    """Contracts at the newest sample at or before the target, if it is recent enough.

    A sample *after* the target would understate the window; one far before it would
    overstate it. Either way the honest answer is "unknown" (None), never 0.
    """
    best: tuple[int, float] | None = None
    for ts, contracts in samples:
        if window.earliest_ms <= ts <= window.target_ms and (best is None or ts > best[0]):
            best = (ts, contracts)
    return None if best is None else best[1]


def could_exist(window: Window, onboard_ms: int | None) -> bool:
    """A symbol listed after the window's target has no sample to find, ever."""
    return onboard_ms is None or onboard_ms <= window.target_ms
