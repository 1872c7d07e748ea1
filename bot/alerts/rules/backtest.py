"""What a rule would have done over recorded hours: how often it fires, when it last
fired, and what followed, against all hours. Pure (numpy); the hours come from
`bot.replay.rule_history` (the shipped history, scored by the live code) and
`bot.replay.rule_store` (the deployment's hourly store, as the live rows were), merged
by `merge` without counting an hour twice.

A fire is what the live engine pushes (bot/alerts/rules/state.py): the condition held
for `for N cycles` consecutive hours of a symbol, and the rule had exited before (2
hours without it). What followed is the symbol's perp price move from the fire hour to
24 hours later: the median of its size, and the share of fires followed by a move of
at least 5% either way (`P(>=5%)`), beside the same over every hour in scope; `n` is
how many hours (or fires) had a price 24 hours later. Rates are per symbol-day: fires
divided by scored hours / 24. The size is close to close (|24h move|); P(>=5%) is the
excursion `replay --evaluate` measures (bot/replay/lift.py): the price rose or fell at
least 5% at some point within the 24 hours, from the highs and lows
(bot/replay/moves.py).
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
CHUNK_ROWS = 100_000


Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class HistoryRows:
    """Scored hours sorted by (symbol, time): `values[field, row]` as in a Frame, the
    signed 24h forward move and the largest 24h excursion either way, in percent (NaN
    when unknown), and which of `sources` each row came from (`origin`)."""

    symbols: list[str]
    ts_ms: npt.NDArray[np.int64]
    values: Floats
    fwd_24h: Floats
    excursion_24h: Floats
    sources: tuple[str, ...] = ("",)
    origin: npt.NDArray[np.int8] | None = None  # index into `sources`; None: all the first

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def source(self) -> str:
        return " + ".join(s for s in self.sources if s)

    def origins(self) -> npt.NDArray[np.int8]:
        return np.zeros(len(self), np.int8) if self.origin is None else self.origin


@dataclass(frozen=True, slots=True)
class RuleRows:
    """The hours a rule is tested on (None: none at all), and what the deployment's
    store held for the exchange: its name and how many days it spans (0: nothing)."""

    rows: HistoryRows | None
    exchange: str | None = None
    stored_days: float = 0.0


def merge(first: HistoryRows, second: HistoryRows) -> HistoryRows:
    """Both, sorted by (symbol, time); where a symbol is in both, `second` keeps only
    its hours before `first`'s earliest hour of that symbol, so no hour counts twice and
    each symbol's hours stay one run per source (its enter/exit walk and its previous
    cycle are never interleaved from two sources)."""
    if not len(second):
        return replace_sources(first, first.sources + second.sources)
    starts: dict[str, int] = {}
    for sym, t in zip(first.symbols, first.ts_ms.tolist(), strict=True):
        starts[sym] = min(t, starts.get(sym, t))
    keep = np.array(
        [
            t < starts.get(sym, t + 1)
            for sym, t in zip(second.symbols, second.ts_ms.tolist(), strict=True)
        ],
        dtype=bool,
    )
    offset = len(first.sources)
    symbols = first.symbols + [s for s, k in zip(second.symbols, keep.tolist(), strict=True) if k]
    ts = np.concatenate([first.ts_ms, second.ts_ms[keep]])
    origin = np.concatenate([first.origins(), second.origins()[keep] + offset]).astype(np.int8)
    order = np.lexsort((ts, np.array(symbols)))
    return HistoryRows(
        [symbols[i] for i in order.tolist()],
        ts[order],
        np.concatenate([first.values, second.values[:, keep]], axis=1)[:, order],
        np.concatenate([first.fwd_24h, second.fwd_24h[keep]])[order],
        np.concatenate([first.excursion_24h, second.excursion_24h[keep]])[order],
        first.sources + second.sources,
        origin[order],
    )


def replace_sources(rows: HistoryRows, sources: tuple[str, ...]) -> HistoryRows:
    return HistoryRows(
        rows.symbols,
        rows.ts_ms,
        rows.values,
        rows.fwd_24h,
        rows.excursion_24h,
        sources,
        rows.origin,
    )


@dataclass(frozen=True, slots=True)
class MoveStats:
    n: int  # hours (or fires) with a price 24h later
    median_abs_24h: float | None
    p_big: float | None  # share with a 24h excursion >= BIG_MOVE_PCT either way

    @staticmethod
    def of(moves: Floats, excursions: Floats) -> MoveStats:
        known = ~np.isnan(moves)
        size = np.abs(moves[known])
        if not len(size):
            return MoveStats(0, None, None)
        reach = excursions[known]
        reach = reach[~np.isnan(reach)]
        big = float(np.count_nonzero(reach >= BIG_MOVE_PCT)) / len(reach) if len(reach) else None
        return MoveStats(len(size), float(statistics.median(size.tolist())), big)


@dataclass(frozen=True, slots=True)
class SourceSpan:
    """What one source gave the backtest (in scope, after the merge)."""

    name: str
    symbols: int
    first_ms: int | None
    last_ms: int | None
    hours: int
    fires: int
    baseline_n: int  # of `hours`, those with a price 24h later


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
    sources: list[SourceSpan] = field(default_factory=list)

    @property
    def per_symbol_day(self) -> float | None:
        return self.fires / (self.hours / 24) if self.hours else None

    @property
    def lift(self) -> float | None:
        """P(>=5%) after a fire over P(>=5%) over all hours."""
        a, b = self.after.p_big, self.baseline.p_big
        return None if a is None or not b or not self.after.n else a / b


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
    book = RuleBook([compile_condition(condition)], [Target(HISTORY)])
    holds = np.zeros(len(history), dtype=bool)
    # In slices, as the rule engine copies its frame: a large store is never copied whole.
    for lo in range(0, len(history), CHUNK_ROWS):
        hi = min(lo + CHUNK_ROWS, len(history))
        frame = Frame(
            [HISTORY] * (hi - lo),
            history.symbols[lo:hi],
            history.values[:, lo:hi],
            spans={HISTORY: (0, hi - lo)},
        )
        holds[book.hits(frame)[1] + lo] = True
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
        after=MoveStats.of(history.fwd_24h[idx], history.excursion_24h[idx]),
        baseline=MoveStats.of(history.fwd_24h[in_scope], history.excursion_24h[in_scope]),
        fires_by_symbol=by_symbol,
        sources=_spans(history, scope, fired),
    )


def _spans(
    history: HistoryRows, scope: npt.NDArray[np.bool_], fired: npt.NDArray[np.bool_]
) -> list[SourceSpan]:
    origin = history.origins()
    known = ~np.isnan(history.fwd_24h)
    out = []
    for k, name in enumerate(history.sources):
        mine = scope & (origin == k)
        ts = history.ts_ms[mine]
        out.append(
            SourceSpan(
                name,
                len({history.symbols[i] for i in np.flatnonzero(mine).tolist()}),
                int(ts.min()) if len(ts) else None,
                int(ts.max()) if len(ts) else None,
                int(np.count_nonzero(mine)),
                int(np.count_nonzero(fired & mine)),
                int(np.count_nonzero(known & mine)),
            )
        )
    return out


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
