"""The whole evaluation behind `pressurebot replay --evaluate`: the engine's alert
types, the baselines and the candidate squeeze rules, on the fit and verify periods."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bot.replay.alerts import AlertRecord
from bot.replay.data import format_time
from bot.replay.evaluate import alert_signals, baseline_signals, evaluate, features
from bot.replay.recall import recall
from bot.replay.run import ScoredHour
from bot.replay.squeeze_candidates import rule_signals

DEFAULT_SPLIT = "2025-03-01"  # fit before, verify from (docs/scoring.md, Evidence)
MARKDOWN_COMMAND = "pressurebot replay --evaluate --markdown"


def evaluate_replay(
    scored: Sequence[ScoredHour], records: Sequence[AlertRecord], split_ms: int
) -> dict[str, Any]:
    """Every signal on the fit (before `split_ms`) and verify periods."""
    f = features(scored)
    signals = [
        *alert_signals(scored, records),
        *baseline_signals(scored, f),
        *rule_signals(scored, f),
    ]
    periods: dict[str, Callable[[int], bool]] = {
        "fit": lambda t: t < split_ms,
        "verify": lambda t: t >= split_ms,
    }
    out = evaluate(scored, signals, periods)
    out["split"] = format_time(split_ms)
    out["recall_verify"] = recall(scored, records, periods["verify"])
    return out
