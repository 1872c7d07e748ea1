"""Liquidation cascades: one side forced out fast, now (docs/alerts.md, "Liquidations").

Pure: no I/O, no clock. Each cycle, every symbol's last `window_minutes` of stored
liquidations (a `CascadeReading`, read by bot/cycle/cascade_hook.py) meets its previous
`CascadeState`. A cascade is ON for one side when that side's liquidations over the
window reach BOTH `oi_pct` percent of open interest AND `x_normal` times normal (the
symbol's trailing-30-day median hour of liquidations, both sides, scaled to the window).

- Entry is at once (like a squeeze entry), never from a window whose stream coverage is
  under `min_coverage`, and never without a normal (fewer than 24 covered hours stored):
  "x normal" must mean something.
- Exit needs `confirm_cycles` cycles in a row with the side's window under the exit
  thresholds (`exit_share` of each entry threshold): the same hysteresis as a squeeze.
  A cycle with low coverage moves nothing: a gap must not read as calm.
- The other side qualifying while one is on is a switch: an entry for the new side.
- Squeeze resolution: a cascade of the side the confirmed regime says is crowded (Long
  squeeze risk: longs) resolves that squeeze. Its entry says the squeeze is under way;
  its exit says the squeeze is flushed and how much of OI was forced out, and the state
  keeps saying "flushed" for `flushed_cycles` cycles.

Everything here describes the last minutes, which the data supports directly; nothing
says what price does next.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from bot.alerts.types import CascadeSide, CascadeState, Direction, Event, EventKind
from bot.scoring.formula import Bias, Regime

# The side a squeeze-risk regime calls crowded (docs/scoring.md, "Regimes").
CROWDED: dict[Regime, CascadeSide] = {
    Regime.LONG_SQUEEZE: CascadeSide.LONG,
    Regime.SHORT_SQUEEZE: CascadeSide.SHORT,
}


@dataclass(frozen=True, slots=True)
class CascadeRules:
    """`[alerts] cascade_*` (bot/config_sections.py; defaults and why: docs/alerts.md)."""

    oi_pct: float = 0.3
    x_normal: float = 5.0
    window_minutes: int = 15
    min_coverage: float = 0.9
    exit_share: float = 0.5
    confirm_cycles: int = 2
    flushed_cycles: int = 6


class CascadeReading(NamedTuple):
    """One symbol's window: USD liquidated per side, OI in USD, the normal for a window
    of this length (both sides; None: not enough covered history), stream coverage
    (0-1, the weakest venue's), and while a cascade is on, the USD of its side since
    the window its entry saw began (`run_usd`)."""

    long_usd: float
    short_usd: float
    oi_usd: float | None
    normal_usd: float | None
    coverage: float
    run_usd: float | None = None

    def usd(self, side: CascadeSide) -> float:
        return self.long_usd if side is CascadeSide.LONG else self.short_usd

    def oi_pct(self, side: CascadeSide) -> float | None:
        if not self.oi_usd or self.oi_usd <= 0:
            return None
        return 100.0 * self.usd(side) / self.oi_usd

    def x_normal(self, side: CascadeSide) -> float | None:
        """The side's USD over the normal; inf when the normal is 0 and some was
        liquidated (a symbol normally never liquidated); None without a normal."""
        if self.normal_usd is None:
            return None
        if self.normal_usd <= 0:
            return math.inf if self.usd(side) > 0 else 0.0
        return self.usd(side) / self.normal_usd


class CascadeAsk(NamedTuple):
    """One symbol (or coin) the cascade hook asks about: its (venue, symbol)s, its OI in
    USD, and while a cascade is on, its side and the first minute of its run."""

    keys: tuple[tuple[str, str], ...]
    oi_usd: float | None
    run_start_ms: int | None = None
    run_side: str | None = None


@dataclass(slots=True)
class CascadeOutcome:
    states: dict[str, CascadeState] = field(default_factory=dict)  # changed only
    events: list[Event] = field(default_factory=list)


def qualifies(
    reading: CascadeReading, side: CascadeSide, rules: CascadeRules, share: float
) -> bool:
    """Both thresholds (times `share`) met by `side`, on a covered window with a normal."""
    oi_pct, times = reading.oi_pct(side), reading.x_normal(side)
    return (
        oi_pct is not None
        and times is not None
        and reading.usd(side) > 0
        and oi_pct >= rules.oi_pct * share
        and times >= rules.x_normal * share
    )


def step(
    prev: CascadeState | None,
    symbol: str,
    reading: CascadeReading,
    *,
    regime: Regime,
    score: int,
    bias: Bias,
    cycle_id: int,
    now_ms: int,
    rules: CascadeRules = CascadeRules(),
) -> tuple[CascadeState, Event | None]:
    """Advance one symbol by one cycle; a cycle already applied changes nothing."""
    state = prev or CascadeState()
    if prev is not None and cycle_id <= prev.last_cycle_id:
        return prev, None
    state = replace(state, last_cycle_id=cycle_id)
    if state.flushed_left > 0:
        state = replace(state, flushed_left=state.flushed_left - 1)
    if reading.coverage < rules.min_coverage:
        return state, None  # a gap is neither a cascade nor calm
    head = _Head(symbol, score, bias, regime, reading)
    entering = [s for s in CascadeSide if s is not state.side and qualifies(reading, s, rules, 1.0)]
    if entering:
        side = max(entering, key=lambda s: reading.usd(s))
        return _enter(state, head, side, now_ms, rules)
    if state.side is None:
        return state, None
    forced = max(state.forced_usd, reading.run_usd or 0.0, reading.usd(state.side))
    if qualifies(reading, state.side, rules, rules.exit_share):
        return replace(state, calm_count=0, forced_usd=forced), None
    calm = state.calm_count + 1
    if calm < rules.confirm_cycles:
        return replace(state, calm_count=calm, forced_usd=forced), None
    return _exit(replace(state, forced_usd=forced), head, rules)


class _Head(NamedTuple):
    symbol: str
    score: int
    bias: Bias
    regime: Regime
    reading: CascadeReading


def _enter(
    state: CascadeState, head: _Head, side: CascadeSide, now_ms: int, rules: CascadeRules
) -> tuple[CascadeState, Event]:
    r = head.reading
    squeeze = head.regime if CROWDED.get(head.regime) is side else None
    window_ms = rules.window_minutes * 60_000
    start = now_ms - window_ms
    new = CascadeState(
        side=side,
        since_ms=now_ms,
        window_start_ms=start - start % 60_000,
        forced_usd=r.usd(side),
        squeeze=squeeze,
        last_cycle_id=state.last_cycle_id,
    )
    detail = {
        "usd": r.usd(side),
        "oi_pct": r.oi_pct(side),
        "x_normal": _finite(r.x_normal(side)),
        "coverage": r.coverage,
        "minutes": rules.window_minutes,
        "switched_from": None if state.side is None else str(state.side),
    }
    return new, _event(head, Direction.ENTER, side, squeeze, detail)


def _exit(state: CascadeState, head: _Head, rules: CascadeRules) -> tuple[CascadeState, Event]:
    side = state.side
    assert side is not None
    oi = head.reading.oi_usd
    forced_pct = 100.0 * state.forced_usd / oi if oi and oi > 0 else None
    new = CascadeState(
        flushed=state.squeeze,
        flushed_left=rules.flushed_cycles if state.squeeze is not None else 0,
        flushed_oi_pct=forced_pct if state.squeeze is not None else None,
        last_cycle_id=state.last_cycle_id,
    )
    detail = {
        "forced_usd": state.forced_usd,
        "forced_oi_pct": forced_pct,
        "since_ms": state.since_ms,
        "coverage": head.reading.coverage,
    }
    return new, _event(head, Direction.EXIT, side, state.squeeze, detail)


def _event(
    head: _Head,
    direction: Direction,
    side: CascadeSide,
    squeeze: Regime | None,
    detail: Mapping[str, object],
) -> Event:
    """A cascade event; `to_regime` (entry) or `from_regime` (exit) names the squeeze it
    resolves, so squeeze subscribers hear of it too (bot/alerts/fanout.py)."""
    return Event(
        symbol=head.symbol,
        kind=EventKind.LIQUIDATIONS,
        direction=direction,
        score=head.score,
        bias=head.bias,
        regime=head.regime,
        from_regime=squeeze if direction is Direction.EXIT else None,
        to_regime=squeeze if direction is Direction.ENTER else None,
        side=str(side),
        detail=json.dumps(detail, separators=(",", ":")),
    )


def _finite(x: float | None) -> float | None:
    """JSON has no infinity: a multiple of a zero normal is stored as null."""
    return None if x is None or math.isinf(x) else x


class CascadeInput(NamedTuple):
    symbol: str
    reading: CascadeReading
    regime: Regime
    score: int
    bias: Bias


def run_cycle(
    states: Mapping[str, CascadeState],
    inputs: Iterable[CascadeInput],
    *,
    cycle_id: int,
    now_ms: int,
    rules: CascadeRules = CascadeRules(),
) -> CascadeOutcome:
    out = CascadeOutcome()
    for symbol, reading, regime, score, bias in inputs:
        prev = states.get(symbol)
        new, event = step(
            prev,
            symbol,
            reading,
            regime=regime,
            score=score,
            bias=bias,
            cycle_id=cycle_id,
            now_ms=now_ms,
            rules=rules,
        )
        # Only symbols with something to remember keep a row: a quiet one (no cascade
        # on, nothing flushed to show) is handed back once, for its row to go.
        if new.quiet() and prev is None:
            pass
        elif new.quiet() or new != prev:
            out.states[symbol] = new
        if event is not None:
            out.events.append(event)
    return out


def decode_detail(text: str | None) -> dict[str, float | str | None]:
    """An event's stored detail (the renderer's input); {} when absent or unreadable."""
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
