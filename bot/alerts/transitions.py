"""Per-symbol alert state machine: pure, no I/O, no clock (docs/alerts.md).

Each cycle, every scored symbol's previous *confirmed* state meets its new `Score`.
The output is the next state plus at most one band event and one squeeze event.

Band confirmation (hysteresis). The score's raw band R differs from the confirmed B:
- R is confirmed at once when the score is at least `points` inside it (>= floor+points
  going up, <= ceiling-points going down);
- otherwise a streak records the raw band of each consecutive cycle on that side of B.
  When it reaches `confirm_cycles` cycles, the band nearest B among them is confirmed
  (the score has been *at least* that far for the whole streak); the streak's trailing
  cycles beyond that band carry over, so a score that stays in a farther band is
  confirmed there after `confirm_cycles` cycles in it.
A move of several bands is one event (from -> to), never one per band crossed.

Squeeze regime. Entering Long/Short squeeze risk is confirmed at once: it is the most
time-critical alert and its inputs (multi-hour OI build) already change slowly. Leaving
it needs `confirm_cycles` consecutive non-squeeze cycles, so one noisy cycle does not
produce an exit followed by a re-entry. Changes between non-squeeze regimes are silent.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field, replace

from bot.alerts.types import (
    Direction,
    Event,
    EventKind,
    SymbolState,
)
from bot.scoring.formula import (
    DEFAULT_PARAMS,
    Band,
    Regime,
    Score,
    ScoringParams,
    band_ceiling,
    band_floor,
    band_for,
)


@dataclass(frozen=True, slots=True)
class Hysteresis:
    """Confirmation rules; built from `AlertSettings` + `ScoringParams` by the service."""

    points: int = 2
    confirm_cycles: int = 2
    params: ScoringParams = DEFAULT_PARAMS


@dataclass(slots=True)
class CycleOutcome:
    states: dict[str, SymbolState] = field(default_factory=dict)  # new or changed only
    events: list[Event] = field(default_factory=list)


def initial_state(score: Score, *, cycle_id: int, now_ms: int) -> SymbolState:
    """First sighting: adopt what we see, silently (no history means no transition)."""
    return SymbolState(
        band=score.band,
        band_since_ms=now_ms,
        regime=score.regime,
        regime_since_ms=now_ms,
        last_cycle_id=cycle_id,
    )


def step(
    prev: SymbolState | None,
    symbol: str,
    score: Score,
    *,
    cycle_id: int,
    now_ms: int,
    rules: Hysteresis = Hysteresis(),
) -> tuple[SymbolState, list[Event]]:
    """Advance one symbol by one cycle. A cycle already applied (replay) changes nothing."""
    if prev is None:
        return initial_state(score, cycle_id=cycle_id, now_ms=now_ms), []
    if cycle_id <= prev.last_cycle_id:
        return prev, []
    state = replace(prev, last_cycle_id=cycle_id)
    events: list[Event] = []
    state, band_event = _step_band(state, symbol, score, now_ms, rules)
    if band_event is not None:
        events.append(band_event)
    state, squeeze_event = _step_regime(state, symbol, score, now_ms, rules)
    if squeeze_event is not None:
        events.append(squeeze_event)
    return state, events


def run_cycle(
    states: Mapping[str, SymbolState],
    scores: Iterable[tuple[str, Score]],
    *,
    cycle_id: int,
    now_ms: int,
    rules: Hysteresis = Hysteresis(),
    skip: Container[str] = (),
) -> CycleOutcome:
    """Step every scored symbol; symbols in `skip` (failed this cycle) are left untouched."""
    out = CycleOutcome()
    for symbol, score in scores:
        if symbol in skip:
            continue
        prev = states.get(symbol)
        new, events = step(prev, symbol, score, cycle_id=cycle_id, now_ms=now_ms, rules=rules)
        if new is not prev:
            out.states[symbol] = new
        out.events.extend(events)
    return out


def is_deep_inside(score: int, band: Band, upward: bool, rules: Hysteresis) -> bool:
    """Is the score at least `points` past the boundary it crossed to enter `band`?"""
    if upward:
        return score >= band_floor(band, rules.params) + rules.points
    return score <= band_ceiling(band, rules.params) - rules.points


def _step_band(
    state: SymbolState, symbol: str, score: Score, now_ms: int, rules: Hysteresis
) -> tuple[SymbolState, Event | None]:
    confirmed = state.band
    raw = band_for(score.score, rules.params)
    if raw == confirmed:
        return _with_streak(state, ()), None

    upward = raw.rank > confirmed.rank
    streak = state.candidate_bands
    if not streak or (streak[0].rank > confirmed.rank) != upward:
        streak = ()  # a new streak, or the score crossed to the other side
    streak = (*streak, raw)[-rules.confirm_cycles :]

    if is_deep_inside(score.score, raw, upward, rules):
        target = raw
    elif len(streak) >= rules.confirm_cycles:
        target = _nearest(streak, upward)  # the band every cycle of the streak reached
    else:
        return _with_streak(state, streak), None

    # Cycles of the streak beyond the confirmed band already count towards the next one,
    # so a score that stays there is confirmed after `confirm_cycles` cycles, not later.
    left: tuple[Band, ...] = ()
    for band in reversed(streak):
        if (band.rank > target.rank) != upward or band == target:
            break
        left = (band, *left)
    event = Event(
        symbol=symbol,
        kind=EventKind.BAND,
        direction=Direction.UP if upward else Direction.DOWN,
        score=score.score,
        bias=score.bias,
        regime=score.regime,
        from_band=confirmed,
        to_band=target,
    )
    new = replace(_with_streak(state, left), band=target, band_since_ms=now_ms)
    return new, event


def _nearest(bands: tuple[Band, ...], upward: bool) -> Band:
    return min(bands, key=lambda b: b.rank) if upward else max(bands, key=lambda b: b.rank)


def _with_streak(state: SymbolState, streak: tuple[Band, ...]) -> SymbolState:
    """The streak, plus the summary kept in candidate_band/candidate_count."""
    if not streak:
        if not state.candidate_bands and state.candidate_band is None and not state.candidate_count:
            return state  # already clear: the common case, and `replace` costs ~5 µs
        return replace(state, candidate_bands=(), candidate_band=None, candidate_count=0)
    upward = streak[0].rank > state.band.rank
    return replace(
        state,
        candidate_bands=streak,
        candidate_band=_nearest(streak, upward),
        candidate_count=len(streak),
    )


def _step_regime(
    state: SymbolState, symbol: str, score: Score, now_ms: int, rules: Hysteresis
) -> tuple[SymbolState, Event | None]:
    confirmed, seen = state.regime, score.regime
    cleared = (
        state  # already clear: the common case (see _with_streak)
        if state.candidate_regime is None and not state.candidate_regime_count
        else replace(state, candidate_regime=None, candidate_regime_count=0)
    )

    if seen.is_squeeze and seen != confirmed:
        # Entry (or a switch of side) is immediate.
        new = replace(cleared, regime=seen, regime_since_ms=now_ms)
        return new, _squeeze_event(symbol, score, Direction.ENTER, confirmed, seen)
    if seen == confirmed:
        return cleared, None
    if not confirmed.is_squeeze:
        # Non-squeeze to non-squeeze: track it silently; nobody is alerted on it.
        return replace(cleared, regime=seen, regime_since_ms=now_ms), None

    # A confirmed squeeze, not seen this cycle: exit only after a streak.
    count = state.candidate_regime_count + 1
    if count < rules.confirm_cycles:
        return replace(state, candidate_regime=seen, candidate_regime_count=count), None
    new = replace(cleared, regime=seen, regime_since_ms=now_ms)
    return new, _squeeze_event(symbol, score, Direction.EXIT, confirmed, seen)


def _squeeze_event(
    symbol: str, score: Score, direction: Direction, old: Regime, new: Regime
) -> Event:
    return Event(
        symbol=symbol,
        kind=EventKind.SQUEEZE,
        direction=direction,
        score=score.score,
        bias=score.bias,
        regime=score.regime,
        from_regime=old,
        to_regime=new,
    )
