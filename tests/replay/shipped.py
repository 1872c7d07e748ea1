"""The shipped history (data/) as the replay tests read it: its path, the fit/verify
split, and one replay's report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.replay.big_result import run_for_result
from bot.replay.data import parse_time, read_history
from bot.replay.run import replay
from bot.replay.summary import build_report

DATA = Path(__file__).resolve().parents[2] / "data" / "perp_hourly_5coins_binance.csv.gz"
SPLIT = parse_time("2025-03-01")


def replay_report(workers: int | None = None, **window: Any) -> dict[str, Any]:
    """The shipped file's rows inside `window` (read_history's filters), scored and
    driven through the alert engine, as `pressurebot replay` reports them. `workers=1`:
    one process, which costs the least CPU (the test run is CPU-bound)."""
    history = read_history(DATA, **window)
    result = run_for_result(replay(Settings(), history, workers=workers))
    assert not result.alerts.fallback
    return build_report(result.scored, result.alerts.records, split_ms=SPLIT)
