"""The recorded history a running bot reads, loaded once per process, on first use, in a
child process (bot/replay/history_child.py: reading and scoring the shipped file costs
about 13 s of CPU and 410 MB at its peak, none of which the service should carry):
the lookalike states (cards and pushes, bot/views/lookalike.py) and the built-in rules'
evidence (`/rule builtin` and the web page) come back from one load; the rule
backtest's rows (`/rule test`, `/rule on`) from a second one, only when first asked for.
A symbol the recorded history lacks gets its lookalike states from the deployment's
hourly store (bot/replay/store_states.py). Nothing here is read at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.rules.backtest import Backtest, HistoryRows
from bot.config import Settings
from bot.replay.data import ReplayInputError
from bot.replay.history_child import Recorded, in_child, load_recorded
from bot.replay.rule_history import LoadOnce
from bot.replay.rule_store import StoreHistory
from bot.replay.store_states import StoreStates
from bot.views.builtin_rules import BuiltinEvidence
from bot.views.lookalike import PushLookalikes, StateLibrary
from bot.views.rule_actions import HistorySource

logger = logging.getLogger(__name__)
Load = Callable[[bool], Recorded | None]  # rows wanted -> the load (None: no file)


@dataclass(frozen=True, slots=True)
class HistorySources:
    rule_history: HistorySource
    builtin_evidence: BuiltinEvidence
    lookalikes: Callable[[], StateLibrary | None] | None  # None: `[telegram] lookalikes` off
    pushes: PushLookalikes | None  # the outbox worker's per-event lines over `lookalikes`
    store: StoreStates | None = None  # the hourly store's states, beside the history's

    def attach(self, deps: Any) -> None:
        """Give the bot's handlers (`bot.telegram.deps.Deps`) what they read."""
        deps.rule_history = self.rule_history
        # /rule test|add|on: the hourly store merged with it (bot/replay/rule_store.py).
        deps.backtest_rows = StoreHistory(deps.sessions, deps.now_ms, self.rule_history)
        deps.builtin_evidence = self.builtin_evidence
        deps.lookalikes = self.lookalikes


def load_both(settings: Settings, rows: bool = False, path: str | None = None) -> Recorded | None:
    """The file read and scored once in a child process: the lookalike states (if on),
    the built-in rules' evidence and, if `rows`, the rule rows. None when there is no
    file to read (an installed wheel carries no data/)."""
    try:
        return in_child(
            load_recorded,
            settings.scoring,
            settings.scorer.window_tolerance_seconds * 1000,
            path,
            lookalikes=settings.telegram.lookalikes and not rows,
            rows=rows,
        )
    except ReplayInputError as exc:
        logger.warning("no recorded history for /rule test or lookalikes: %s", exc)
        return None
    except BrokenProcessPool:
        # The child died (killed, out of memory): kept as "no history" for this process
        # rather than retried at every card, each retry costing the whole load again.
        logger.warning("scoring the recorded history failed: its process died; going without")
        return None


def history_sources(
    settings: Settings,
    load: Load | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> HistorySources:
    """`sessions`: the deployment's database, whose hourly store gives the lookalike
    states of symbols the recorded history lacks."""
    days = settings.scorer.hourly_retention_days
    store = None if sessions is None else StoreStates(sessions, days)
    loader = load or (lambda rows: load_both(settings, rows))
    shared: LoadOnce[Recorded | None] = LoadOnce(lambda: loader(False))
    with_rows: LoadOnce[Recorded | None] = LoadOnce(lambda: loader(True))

    async def rule_rows() -> HistoryRows | None:
        loaded = await with_rows()
        return None if loaded is None else loaded.rows

    async def evidence() -> dict[str, Backtest | None]:
        loaded = await shared()
        return {} if loaded is None else loaded.evidence

    def states() -> StateLibrary | None:
        loaded = shared.peek()  # never waits: starts the load on first use
        shipped = None if loaded is None else loaded.states
        if store is None or not shared.loaded:
            return shipped
        return replace(shipped or StateLibrary({}, ""), store=store.peek)

    looks = states if settings.telegram.lookalikes else None
    base = settings.scoring.funding_base_8h
    return HistorySources(
        rule_rows,
        BuiltinEvidence(measured=evidence),
        looks,
        None if looks is None else PushLookalikes(looks, base),
        store,
    )
