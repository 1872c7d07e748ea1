"""The recorded history read and scored in a child process, so the service never holds
it as Python objects.

Reading and scoring the shipped file builds about 200,000 scored hours as Python
objects: about 13 s of CPU and 410 MB at its peak, most of it never returned to the
system afterwards. The service needs only what is computed from them: each symbol's
lookalike states (numpy arrays, bot/views/lookalike.py), the built-in rules' evidence
(a few numbers each, bot/views/builtin_rules.py) and, once someone runs `/rule test`,
the rule rows (numpy, bot/alerts/rules/backtest.py). `in_child` runs the load in a
fresh process (`spawn`: nothing of the service's memory or threads is copied into it),
shut down as soon as it answers, and only those compact results cross back (pickled
arrays: about 21 MB of states, 30 MB of rows).

`load_recorded` is the same work in the calling process (the `replay` commands, and
the test that checks both paths give the same answers).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from bot.alerts.rules.backtest import Backtest, HistoryRows
from bot.replay.data import SHIPPED_HISTORY, read_history
from bot.replay.lookalike_history import hour_states
from bot.replay.rule_history import history_rows
from bot.replay.run import BasisOptions, score_history
from bot.scoring.formula import ScoringParams
from bot.views.builtin_rules import measure
from bot.views.lookalike import StateLibrary, build_library

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the service keeps of a recorded history."""

    source: str  # the file's name, e.g. "perp_hourly_5coins_binance.csv.gz"
    states: StateLibrary | None  # None: lookalikes off
    evidence: dict[str, Backtest | None]  # the built-in rules' backtests (measure())
    rows: HistoryRows | None  # the rule rows, only when asked for (/rule test)


def load_recorded(
    scoring: ScoringParams,
    tolerance_ms: int,
    path: str | None = None,
    *,
    lookalikes: bool = True,
    rows: bool = False,
) -> Recorded:
    """Read and score `path` (default: the shipped history) once and keep the compact
    results. Raises `ReplayInputError` for a missing or malformed file."""
    path = path or str(SHIPPED_HISTORY)
    source = path.rsplit("/", 1)[-1]
    history = read_history(path)
    scored, _ = score_history(history, scoring, tolerance_ms=tolerance_ms, basis=BasisOptions())
    del history
    states = build_library(hour_states(scored), source) if lookalikes else None
    rule_rows = history_rows(scored, source)
    del scored
    return Recorded(source, states, measure(rule_rows), rule_rows if rows else None)


def in_child(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """`fn(*args, **kwargs)` in a fresh child process, which exits when it answers; its
    exceptions are raised here. Blocking: call it from a thread."""
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()
