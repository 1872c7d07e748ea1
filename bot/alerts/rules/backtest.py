"""What a rule would have done over recorded hours: how often it fires, when it last
fired, and what followed, against all hours. Pure (numpy); the hours come from
`bot.replay.rule_history` (the shipped history, scored by the live code).

A fire is what the live engine pushes (bot/alerts/rules/state.py): the condition held
for `for N cycles` consecutive hours of a symbol, and the rule had exited before (2
hours without it). What followed is the symbol's perp price move from the fire hour to
24 hours later: the median of its size, and the share of fires followed by a move of
at least 5% either way (`P(>=5%)`), beside the same over every hour in scope; `n` is
how many hours (or fires) had a price 24 hours later. Rates are per symbol-day: fires
divided by scored hours / 24. Moves are close to close: the history has no highs and
lows, so an excursion inside the day is not seen.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bot.alerts.rules.compiler import Frame, RuleBook, Target, compile_condition
from bot.alerts.rules.tree import Condition

BIG_MOVE_PCT = 5.0
HISTORY = "history"  # the Frame's one exchange


@dataclass(frozen=True, slots=True)
class HistoryRows:
    """Scored hours sorted by (symbol, time): `values[field, row]` as in a Frame, the
    signed 24h forward move in percent (NaN when unknown)."""

    symbols: list[str]
    ts_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    fwd_24h: npt.NDArray[np.float64]
    source: str = ""

    def __len__(self) -> int:
        return len(self.symbols)


@dataclass(frozen=True, slots=True)
class MoveStats:
    n: int  # hours (or fires) with a price 24h later
    median_abs_24h: float | None
    p_big: float | None  # share with |move| >= BIG_MOVE_PCT

    @staticmethod
    def of(moves: npt.NDArray[np.float64]) -> MoveStats:
        known = np.abs(moves[~np.isnan(moves)])
        if not len(known):
            return MoveStats(0, None, None)
        big = float(np.count_nonzero(known >= BIG_MOVE_PCT)) / len(known)
        return MoveStats(len(known), float(statistics.median(known.tolist())), big)


@dataclass(frozen=True, slots=True)
class Backtest:
    source: str
    symbols: list[str]  # in scope, with history
    first_ms: int | None
    last_ms: int | None
    hours: int  # scored hours in scope
    holding_hours: int  # of which the condition held
    fires: int
    last_fire_ms: int | None
    last_fire_symbol: str | None
    after: MoveStats  # the fire hours
    baseline: MoveStats  # every hour in scope
    fires_by_symbol: dict[str, int] = field(default_factory=dict)

    @property
    def per_symbol_day(self) -> float | None:
        return self.fires / (self.hours / 24) if self.hours else None


def backtest(
    condition: Condition,
    history: HistoryRows,
    *,
    for_cycles: int = 1,
    symbols: Collection[str] | None = None,
    exit_cycles: int = 2,
) -> Backtest:
    """The rule over every hour of `history` (only `symbols`, if given)."""
    scope = np.ones(len(history), dtype=bool)
    if symbols is not None:
        wanted = set(symbols)
        scope = np.array([s in wanted for s in history.symbols], dtype=bool)
    frame = Frame(
        [HISTORY] * len(history),
        history.symbols,
        history.values,
        spans={HISTORY: (0, len(history))} if len(history) else {},
    )
    book = RuleBook([compile_condition(condition)], [Target(HISTORY)])
    holds = np.zeros(len(history), dtype=bool)
    holds[book.hits(frame)[1]] = True
    holds &= scope
    fired = _fires(history.symbols, holds, scope, for_cycles, exit_cycles)
    idx = np.flatnonzero(fired)
    last = int(idx[np.argmax(history.ts_ms[idx])]) if len(idx) else None
    in_scope = np.flatnonzero(scope)
    by_symbol: dict[str, int] = {}
    for i in idx.tolist():
        by_symbol[history.symbols[i]] = by_symbol.get(history.symbols[i], 0) + 1
    ts = history.ts_ms[in_scope]
    return Backtest(
        source=history.source,
        symbols=sorted({history.symbols[i] for i in in_scope.tolist()}),
        first_ms=int(ts.min()) if len(ts) else None,
        last_ms=int(ts.max()) if len(ts) else None,
        hours=len(in_scope),
        holding_hours=int(np.count_nonzero(holds)),
        fires=len(idx),
        last_fire_ms=int(history.ts_ms[last]) if last is not None else None,
        last_fire_symbol=history.symbols[last] if last is not None else None,
        after=MoveStats.of(history.fwd_24h[idx]),
        baseline=MoveStats.of(history.fwd_24h[in_scope]),
        fires_by_symbol=by_symbol,
    )


def _fires(
    symbols: list[str],
    holds: npt.NDArray[np.bool_],
    scope: npt.NDArray[np.bool_],
    for_cycles: int,
    exit_cycles: int,
) -> npt.NDArray[np.bool_]:
    """The live enter/exit walk over each symbol's hours, in time order (rows are
    sorted by symbol then time). Hours missing from the history are not cycles of that
    symbol, as a failed fetch is not live."""
    fired = np.zeros(len(symbols), dtype=bool)
    current = None
    streak = misses = 0
    active = False
    for i in np.flatnonzero(scope).tolist():
        if symbols[i] != current:
            current, streak, misses, active = symbols[i], 0, 0, False
        if holds[i]:
            misses = 0
            if not active:
                streak += 1
                if streak >= for_cycles:
                    fired[i], active, streak = True, True, 0
        elif active:
            misses += 1
            if misses >= exit_cycles:
                active, misses = False, 0
        else:
            streak = 0
    return fired
