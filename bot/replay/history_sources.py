"""The recorded history a running bot reads, loaded once per process, in a thread, on
first use, in ONE pass (reading and scoring the shipped file costs about 11 s of CPU and
400 MB at its peak, so two users of it must never score it twice or at once): the rule
backtest's rows (`/rule test`, `/rule on`, and the built-in rules' evidence on
`/rule builtin` and the web page) and the lookalike states (cards and pushes,
bot/views/lookalike.py). Nothing here is read at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.alerts.rules.backtest import HistoryRows
from bot.config import Settings
from bot.replay.data import SHIPPED_HISTORY, ReplayInputError, read_history
from bot.replay.lookalike_history import hour_states
from bot.replay.rule_history import LoadOnce, history_rows
from bot.replay.rule_store import StoreHistory
from bot.replay.run import BasisOptions, score_history
from bot.views.builtin_rules import BuiltinEvidence
from bot.views.lookalike import PushLookalikes, StateLibrary, build_library
from bot.views.rule_actions import HistorySource

logger = logging.getLogger(__name__)
Loaded = tuple[HistoryRows, StateLibrary | None] | None


@dataclass(frozen=True, slots=True)
class HistorySources:
    rule_history: HistorySource
    builtin_evidence: BuiltinEvidence
    lookalikes: Callable[[], StateLibrary | None] | None  # None: `[telegram] lookalikes` off
    pushes: PushLookalikes | None  # the outbox worker's per-event lines over `lookalikes`

    def attach(self, deps: Any) -> None:
        """Give the bot's handlers (`bot.telegram.deps.Deps`) what they read."""
        deps.rule_history = self.rule_history
        # /rule test|add|on: the hourly store merged with it (bot/replay/rule_store.py).
        deps.backtest_rows = StoreHistory(deps.sessions, deps.now_ms, self.rule_history)
        deps.builtin_evidence = self.builtin_evidence
        deps.lookalikes = self.lookalikes


def load_both(settings: Settings, path: str | None = None) -> Loaded:
    """The file read and scored once: the rule rows, and (if on) the lookalike states.
    None when there is no file to read (an installed wheel carries no data/)."""
    path = path or str(SHIPPED_HISTORY)
    try:
        history = read_history(path)
    except ReplayInputError as exc:
        logger.warning("no recorded history for /rule test or lookalikes: %s", exc)
        return None
    tolerance_ms = settings.scorer.window_tolerance_seconds * 1000
    scored, _ = score_history(
        history, settings.scoring, tolerance_ms=tolerance_ms, basis=BasisOptions()
    )
    source = path.rsplit("/", 1)[-1]
    states = build_library(hour_states(scored), source) if settings.telegram.lookalikes else None
    return history_rows(scored, source), states


def history_sources(settings: Settings, load: Callable[[], Loaded] | None = None) -> HistorySources:
    shared: LoadOnce[Loaded] = LoadOnce(load or (lambda: load_both(settings)))

    async def rule_rows() -> HistoryRows | None:
        loaded = await shared()
        return None if loaded is None else loaded[0]

    def states() -> StateLibrary | None:
        loaded = shared.peek()  # never waits: starts the load on first use
        return None if loaded is None else loaded[1]

    looks = states if settings.telegram.lookalikes else None
    base = settings.scoring.funding_base_8h
    return HistorySources(
        rule_rows,
        BuiltinEvidence(rule_rows),
        looks,
        None if looks is None else PushLookalikes(looks, base),
    )
