"""The same history replayed twice gives the same figures: the replay's parallel
chunks and the engine are deterministic (tests/replay/test_alerts_replay.py checks the
chunks against one sequential run)."""

from __future__ import annotations

import pytest

from bot.replay.data import parse_time
from tests.replay.shipped import replay_report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_replaying_twice_gives_identical_figures() -> None:
    window = {
        "symbols": ["BNBUSDT", "SOLUSDT"],
        "start_ms": parse_time("2025-06-01"),
        "end_ms": parse_time("2025-07-15"),  # one chunk: test_alerts_replay.py checks chunks
    }
    first = replay_report(**window)
    assert first["periods"]["all"]["alerts"]["band_changes_per_symbol_day"] > 0
    assert replay_report(**window) == first
