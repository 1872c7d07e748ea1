"""The recorded history a running bot reads, each part loaded once per process, in a
thread, on first use: the rule backtest's rows (`/rule test`, `/rule on`, and the
built-in rules' evidence on `/rule builtin` and the web page) and the lookalike states
(cards and pushes, bot/views/lookalike.py). Nothing here is read at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.alerts.rules.backtest import HistoryRows
from bot.config import Settings
from bot.replay.lookalike_history import lookalike_source
from bot.replay.rule_history import LoadOnce, shipped_rule_history
from bot.views.builtin_rules import BuiltinEvidence
from bot.views.lookalike import PushLookalikes, StateLibrary


@dataclass(frozen=True, slots=True)
class HistorySources:
    rule_history: LoadOnce[HistoryRows | None]
    builtin_evidence: BuiltinEvidence
    lookalikes: Callable[[], StateLibrary | None] | None  # None: `[telegram] lookalikes` off
    pushes: PushLookalikes | None  # the outbox worker's per-event lines over `lookalikes`

    def attach(self, deps: Any) -> None:
        """Give the bot's handlers (`bot.telegram.deps.Deps`) what they read."""
        deps.rule_history = self.rule_history
        deps.builtin_evidence = self.builtin_evidence
        deps.lookalikes = self.lookalikes


def history_sources(settings: Settings) -> HistorySources:
    rules = shipped_rule_history(settings)
    looks = lookalike_source(settings)
    base = settings.scoring.funding_base_8h
    return HistorySources(
        rules,
        BuiltinEvidence(rules),
        looks,
        None if looks is None else PushLookalikes(looks, base),
    )
