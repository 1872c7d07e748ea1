""" "The last N times this symbol looked like this" (issue 18 §5): the N past hours of
the same symbol nearest to its state now, and what the price did in the 24 hours after
them.

A state is the score's five inputs: OI change over 1h, 4h and 24h, the funding premium
over the base rate, and the basis. Each is ranked within the symbol's own history (its
percentile among all the symbol's hours: "OI 24h in its top 3%"), so a symbol is
compared with itself whatever its usual level; the distance is Euclidean over the ranks
(an input unknown now is left out). Neighbours are at least `SPACING_HOURS` apart, so 20
neighbours are 20 different moments and not one afternoon counted 20 times. What
followed: the median |24h| move (close to close) and how many moved ≥ 5% at some point
within 24h on the recorded highs and lows, both as `pressurebot replay --evaluate`
measures them (bot/replay/moves.py), beside the symbol's share of all hours that did.

Pure over a sequence of hourly states (`HourState`), whatever their source: the shipped
history (bot/replay/lookalike_history.py), and for a symbol it lacks, the deployment's
own hourly store (bot/replay/store_states.py; `StateLibrary.store`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

INPUTS = ("oi_1h", "oi_4h", "oi_24h", "funding_premium", "basis")
NEIGHBOURS = 20
SPACING_HOURS = 24
MIN_STATES = 30 * 24  # a symbol with less usable history gets no line
BIG_MOVE_PCT = 5.0
HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class HourState:
    """One symbol-hour: the score's inputs (percent; None unknown) and what followed."""

    symbol: str
    ts_ms: int
    oi_1h: float | None
    oi_4h: float | None
    oi_24h: float | None
    funding_premium: float | None  # funding per 8h minus the 0.01% base, percent
    basis: float | None
    move_24h: float | None  # signed, t -> t+24h, percent
    excursion_24h: float | None  # largest rise or fall within (t, t+24h], >= 0, percent


@dataclass(frozen=True, slots=True)
class SymbolStates:
    """One symbol's usable hours (every input and both moves known), with each input's
    sorted values for ranking and each hour's rank of each input."""

    symbol: str
    ts_ms: npt.NDArray[np.int64]
    ranks: npt.NDArray[np.float64]  # (hours, len(INPUTS)), 0..1
    sorted_inputs: tuple[npt.NDArray[np.float64], ...]
    move_24h: npt.NDArray[np.float64]
    excursion_24h: npt.NDArray[np.float64]
    source: str = ""  # what they came from: a file name, or "store:<exchange>"

    def rank(self, column: int, value: float) -> float:
        """The share of the symbol's hours below `value` (ties count half)."""
        values = self.sorted_inputs[column]
        below = np.searchsorted(values, value, side="left")
        upto = np.searchsorted(values, value, side="right")
        return float(below + upto) / (2 * len(values))


StoreLookup = Callable[[str, str], "SymbolStates | None"]  # (exchange, symbol) -> states


@dataclass(frozen=True, slots=True)
class StateLibrary:
    by_symbol: dict[str, SymbolStates]
    source: str  # what the states came from, e.g. "perp_hourly_5coins_binance.csv.gz"
    # A symbol the recorded history lacks: its states from the deployment's hourly store
    # (never waits: None until read, bot/replay/store_states.py).
    store: StoreLookup | None = None

    def find(self, symbol: str, exchange: str | None = None) -> SymbolStates | None:
        """`SOLUSDT` on a venue, `SOL` on the aggregate, `1000SHIBUSDT` as written; then
        the store's hours of `symbol` on `exchange`."""
        if symbol in self.by_symbol:
            return self.by_symbol[symbol]
        coin = symbol.upper().removesuffix("USDT")
        for name, states in self.by_symbol.items():
            if name.removesuffix("USDT") == coin:
                return states
        if self.store is not None and exchange is not None:
            return self.store(exchange, symbol)
        return None


@dataclass(frozen=True, slots=True)
class Lookalike:
    """What followed the `n` nearest past states of `symbol` (of `hours` usable hours
    from `first_ms` to `last_ms` in `source`)."""

    symbol: str
    n: int
    median_abs_24h: float
    big: int  # of the n, how many moved >= 5% within 24h
    usual_big: float  # the share of all the symbol's usable hours that did
    hours: int
    first_ms: int
    last_ms: int
    source: str


def build_library(states: Iterable[HourState], source: str) -> StateLibrary:
    """Group hourly states by symbol; a symbol keeps only hours with every input and both
    moves known, and is left out with fewer than MIN_STATES of them."""
    grouped: dict[str, list[HourState]] = {}
    for s in states:
        if _usable(s):
            grouped.setdefault(s.symbol, []).append(s)
    out: dict[str, SymbolStates] = {}
    for symbol, hours in grouped.items():
        if len(hours) >= MIN_STATES:
            out[symbol] = _symbol_states(symbol, sorted(hours, key=lambda h: h.ts_ms), source)
    return StateLibrary(out, source)


def _usable(s: HourState) -> bool:
    values = (*current_inputs(s).values(), s.move_24h, s.excursion_24h)
    return all(v is not None and math.isfinite(v) for v in values)


def current_inputs(state: object) -> dict[str, float | None]:
    """The five inputs of anything carrying them under INPUTS' names."""
    return {name: getattr(state, name, None) for name in INPUTS}


def _symbol_states(symbol: str, hours: list[HourState], source: str) -> SymbolStates:
    matrix = np.array([[getattr(h, k) for k in INPUTS] for h in hours], dtype=np.float64)
    sorted_inputs = tuple(np.sort(matrix[:, j]) for j in range(len(INPUTS)))
    ranks = np.empty_like(matrix)
    for j, values in enumerate(sorted_inputs):
        below = np.searchsorted(values, matrix[:, j], side="left")
        upto = np.searchsorted(values, matrix[:, j], side="right")
        ranks[:, j] = (below + upto) / (2 * len(values))
    return SymbolStates(
        symbol,
        np.array([h.ts_ms for h in hours], dtype=np.int64),
        ranks,
        sorted_inputs,
        np.array([h.move_24h for h in hours], dtype=np.float64),
        np.array([h.excursion_24h for h in hours], dtype=np.float64),
        source,
    )


def nearest(
    states: SymbolStates,
    now: Mapping[str, float | None],
    n: int = NEIGHBOURS,
    source: str = "",
) -> Lookalike | None:
    """The `n` past hours nearest to `now` (INPUTS -> value), at least SPACING_HOURS
    apart; None when no input is known now or fewer than `n` such hours exist."""
    columns = [j for j, k in enumerate(INPUTS) if _known(now.get(k))]
    if not columns or n < 1:
        return None
    target = np.array([states.rank(j, float(now[INPUTS[j]])) for j in columns])  # type: ignore[arg-type]
    distance = np.sqrt(((states.ranks[:, columns] - target) ** 2).sum(axis=1))
    chosen = _spaced(np.argsort(distance, kind="stable"), states.ts_ms, n)
    if len(chosen) < n:
        return None
    picked = np.array(chosen)
    return Lookalike(
        symbol=states.symbol,
        n=n,
        median_abs_24h=float(np.median(np.abs(states.move_24h[picked]))),
        big=int(np.count_nonzero(states.excursion_24h[picked] >= BIG_MOVE_PCT)),
        usual_big=float(np.mean(states.excursion_24h >= BIG_MOVE_PCT)),
        hours=len(states.ts_ms),
        first_ms=int(states.ts_ms[0]),
        last_ms=int(states.ts_ms[-1]),
        source=source,
    )


def _known(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _spaced(order: npt.NDArray[np.intp], ts_ms: npt.NDArray[np.int64], n: int) -> list[int]:
    """The first `n` indices in `order` none of which lies within SPACING_HOURS of an
    earlier pick."""
    gap = SPACING_HOURS * HOUR_MS
    picked: list[int] = []
    times: list[int] = []
    for i in order.tolist():
        t = int(ts_ms[i])
        if all(abs(t - u) >= gap for u in times):
            picked.append(i)
            times.append(t)
            if len(picked) == n:
                break
    return picked


def lookalike_for(
    library: StateLibrary | None,
    symbol: str,
    row: object,
    funding_base_8h: float,
    exchange: str | None = None,
) -> Lookalike | None:
    """The line's data for a card or push `row` (duck-typed: oi_1h_pct, oi_4h_pct,
    oi_24h_pct, funding_8h_pct, basis_pct, and `exchange` unless given), the premium
    over `[scoring]`'s base as the history's states were scored with it."""
    if library is None:
        return None
    states = library.find(symbol, exchange or getattr(row, "exchange", None))
    if states is None:
        return None
    f8 = getattr(row, "funding_8h_pct", None)
    now = {
        "oi_1h": getattr(row, "oi_1h_pct", None),
        "oi_4h": getattr(row, "oi_4h_pct", None),
        "oi_24h": getattr(row, "oi_24h_pct", None),
        "funding_premium": None if f8 is None else f8 - funding_base_8h,
        "basis": getattr(row, "basis_pct", None),
    }
    return nearest(states, now, source=states.source or library.source)


class PushLookalikes:
    """The line's data for pushes, per alert event: every chat that gets one event gets
    the same line, so each event is computed once (the last `keep` events are kept).
    `library` returns the states if loaded and never waits; until then pushes go
    without the line."""

    def __init__(
        self, library: Callable[[], StateLibrary | None], funding_base_8h: float, keep: int = 4096
    ) -> None:
        self._library = library
        self._base = funding_base_8h
        self._keep = keep
        self._done: dict[int, Lookalike | None] = {}

    def __call__(self, items: Sequence[Any]) -> dict[int, Lookalike]:
        """event_id -> its lookalike, for the items that have one."""
        library = self._library()
        if library is None:
            return {}
        out: dict[int, Lookalike] = {}
        for item in items:
            if item.event_id not in self._done:
                if len(self._done) >= self._keep:
                    self._done.pop(next(iter(self._done)))  # the oldest event
                found = lookalike_for(library, item.symbol, item, self._base)
                self._done[item.event_id] = found
            if (found := self._done[item.event_id]) is not None:
                out[item.event_id] = found
        return out
