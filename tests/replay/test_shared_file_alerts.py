"""The default subscriber's push budget on the verify period of the shipped history
(docs/scoring.md, Evidence: alert budget).

The alert engine runs from two weeks before the verify period, not from the file's
start: its state at the split then equals the whole-file replay's (band hysteresis,
cooldown, streaks and the daily cap look back hours or a day, not weeks). The verify
figures were compared equal to a whole-file replay's when this was written, and again
to a three-month warm-up's (one and two weeks: equal too) when the warm-up was cut to
two weeks, which saved a seventh of this test's CPU.
"""

from __future__ import annotations

import pytest

from bot.replay.data import parse_time
from tests.replay.shipped import replay_report

pytestmark = [pytest.mark.slow(seconds=60), pytest.mark.timeout(600)]


ALERTS_FROM = parse_time("2025-02-15")  # the engine's warm-up before the split


def test_default_subscriber_gets_at_most_one_push_per_symbol_day_on_verify() -> None:
    verify = replay_report(workers=1, start_ms=ALERTS_FROM)["periods"]["verify"]
    pushes = verify["alerts"]["pushes_per_symbol_day"]
    # Needs the calibrated alert defaults (docs/scoring.md, Evidence: alert budget).
    assert pushes <= 1.0, f"{pushes} pushes per symbol-day on the verify period"
    assert verify["hours"] > 30_000  # the whole verify period was replayed
