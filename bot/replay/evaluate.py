"""`pressurebot replay --evaluate`: what followed every alert type the engine sent, and
what followed simple baselines, as lifts over all hours of the same period.

Signals (each a set of symbol-hours, one per event):
- every alert type of the engine: band up / down into each band, squeeze entries and
  exits per side (`AlertRecord`s), and the default subscriber's pushes of that type;
- baselines, each counted once per episode (the condition holds and did not hold in the
  previous 24 hours, as an alert with a day's cooldown would fire): a symbol's OI 24h
  change, |funding premium| and trailing |24h move| each in the symbol's trailing
  90-day top decile (`bot.replay.ranks`), and |funding premium| and OI 24h both there;
- candidate squeeze rules (`bot.replay.squeeze_candidates`), counted the same way;
- all hours.
Statistics and their intervals are `bot.replay.lift`'s. The implied direction of an
alert: a squeeze entry on the long side implies a fall, on the short side a rise; a
funding extreme implies a move against the side that pays; the others imply none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.alerts.types import DeliveryStatus
from bot.replay.alerts import AlertRecord
from bot.replay.data import HOUR_MS, format_time
from bot.replay.lift import PeriodSample, Resampler, summarise
from bot.replay.ranks import fresh_entries, trailing_ranks
from bot.replay.run import ScoredHour
from bot.scoring.formula import Regime
from bot.views.evidence import alert_type

DAY_MS = 24 * HOUR_MS
TOP_DECILE = 0.9
REARM_MS = DAY_MS


@dataclass(frozen=True, slots=True)
class HourFeatures:
    """Per scored hour: trailing 90-day ranks of the baseline inputs (None: too little
    history), in the order of the scored hours."""

    oi_24h: list[float | None]
    abs_premium: list[float | None]
    premium: list[float | None]  # signed: high = longs pay unusually much
    abs_back_24h: list[float | None]


@dataclass(slots=True)
class Signal:
    name: str
    group: str  # alert | baseline | rule
    rows: list[int]  # indices into the scored hours, one per event
    direction: list[int]  # per event: +1 up, -1 down, 0 none implied
    pushes: list[int]  # indices of the events the default subscriber got


def features(scored: Sequence[ScoredHour]) -> HourFeatures:
    """Trailing ranks per symbol (scored hours are sorted by time, then symbol)."""
    columns: dict[str, list[float | None]] = {
        k: [None] * len(scored) for k in ("oi", "abs_fp", "fp", "back")
    }
    by_symbol: dict[str, list[int]] = {}
    for i, h in enumerate(scored):
        by_symbol.setdefault(h.symbol, []).append(i)
    for idx in by_symbol.values():
        raw: dict[str, list[float | None]] = {
            "oi": [scored[i].inputs.oi_24h for i in idx],
            "abs_fp": [abs(scored[i].score.funding_premium) for i in idx],
            "fp": [scored[i].score.funding_premium for i in idx],
            "back": [_abs(scored[i].back_24h) for i in idx],
        }
        for key, values in raw.items():
            for i, rank in zip(idx, trailing_ranks(values), strict=True):
                columns[key][i] = rank
    return HourFeatures(columns["oi"], columns["abs_fp"], columns["fp"], columns["back"])


def alert_signals(scored: Sequence[ScoredHour], records: Sequence[AlertRecord]) -> list[Signal]:
    """One signal per alert type the engine sent, in a stable order."""
    where = {(h.symbol, h.ts_ms): i for i, h in enumerate(scored)}
    signals: dict[str, Signal] = {}
    for r in records:
        row = where.get((r.symbol, r.ts_ms))
        if row is None:
            continue
        name, direction = _alert_type(r)
        signal = signals.setdefault(name, Signal(name, "alert", [], [], []))
        if r.delivery == DeliveryStatus.PENDING:
            signal.pushes.append(len(signal.rows))
        signal.rows.append(row)
        signal.direction.append(direction)
    return [signals[k] for k in sorted(signals, key=_alert_order)]


def _alert_type(r: AlertRecord) -> tuple[str, int]:
    """The alert's type name (shared with the shipped table, `bot.views.evidence`) and the
    direction its label implies: a long squeeze a fall, a short squeeze a rise."""
    # The replay records band and squeeze alerts only; any other kind keeps its own name.
    name = alert_type(r.kind, r.direction, r.to_band, r.from_regime, r.to_regime) or r.kind
    if r.kind != "squeeze" or r.direction != "enter":
        return name, 0
    return name, -1 if r.to_regime == Regime.LONG_SQUEEZE.value else 1


def _alert_order(name: str) -> tuple[int, str]:
    bands = ("neutral", "lean", "stretched", "stressed")
    if name.startswith("band"):
        word = name.split()[-1]
        return (0 if " up " in name else 1, str(bands.index(word)) if word in bands else word)
    return (2, name)


Condition = Callable[[int], tuple[bool, int]]  # row -> (holds, implied direction)


def episode_signal(
    name: str, group: str, scored: Sequence[ScoredHour], condition: Condition
) -> Signal:
    """One event per episode of `condition`, per symbol (see the module doc)."""
    signal = Signal(name, group, [], [], [])
    by_symbol: dict[str, list[int]] = {}
    for i, h in enumerate(scored):
        by_symbol.setdefault(h.symbol, []).append(i)
    for idx in by_symbol.values():
        held = [condition(i) for i in idx]
        entries = fresh_entries([c[0] for c in held], [scored[i].ts_ms for i in idx], REARM_MS)
        for i, (holds, direction), entry in zip(idx, held, entries, strict=True):
            if entry and holds:
                signal.rows.append(i)
                signal.direction.append(direction)
    signal.pushes = list(range(len(signal.rows)))  # as if each were pushed
    signal.rows, signal.direction = _sorted(signal.rows, signal.direction)
    return signal


def _sorted(rows: list[int], direction: list[int]) -> tuple[list[int], list[int]]:
    pairs = sorted(zip(rows, direction, strict=True))
    return [r for r, _ in pairs], [d for _, d in pairs]


def baseline_signals(scored: Sequence[ScoredHour], f: HourFeatures) -> list[Signal]:
    def top(ranks: list[float | None], i: int) -> bool:
        rank = ranks[i]
        return rank is not None and rank >= TOP_DECILE

    def against_payer(i: int) -> int:
        return -1 if scored[i].score.funding_premium > 0 else 1

    return [
        episode_signal("OI 24h top decile", "baseline", scored, lambda i: (top(f.oi_24h, i), 0)),
        episode_signal(
            "|funding premium| top decile",
            "baseline",
            scored,
            lambda i: (top(f.abs_premium, i), against_payer(i)),
        ),
        episode_signal(
            "|24h move| top decile", "baseline", scored, lambda i: (top(f.abs_back_24h, i), 0)
        ),
        episode_signal(
            "|funding premium| and OI 24h top decile",
            "baseline",
            scored,
            lambda i: (top(f.abs_premium, i) and top(f.oi_24h, i), against_payer(i)),
        ),
    ]


def sample(scored: Sequence[ScoredHour], rows: np.ndarray[Any, Any]) -> PeriodSample:
    """The period's hours as arrays, with their symbol-day units."""
    # Units numbered by (symbol, day) in sorted order: the same file gives the same
    # units and so, with the fixed seed, the same replicates.
    symbols = {s: k for k, s in enumerate(sorted({scored[i].symbol for i in rows}))}
    keys = [symbols[scored[i].symbol] * 1_000_000 + scored[i].ts_ms // DAY_MS for i in rows]
    _, unit = np.unique(np.array(keys, dtype=np.int64), return_inverse=True)

    def column(get: Callable[[ScoredHour], float | None]) -> np.ndarray[Any, Any]:
        return np.array([_nan(get(scored[i])) for i in rows], dtype=float)

    return PeriodSample(
        unit=unit.astype(np.int64),
        units=int(unit.max()) + 1 if len(unit) else 0,
        abs4=np.abs(column(lambda h: h.fwd_4h)),
        abs24=np.abs(column(lambda h: h.fwd_24h)),
        up=column(lambda h: h.up_24h),
        down=column(lambda h: h.down_24h),
        hours=len(rows),
    )


def evaluate(
    scored: Sequence[ScoredHour],
    signals: Sequence[Signal],
    periods: dict[str, Callable[[int], bool]],
) -> dict[str, Any]:
    """{"periods": {name: {"from", "to", "hours", "symbol_days", "signals": [...]}}}."""
    out: dict[str, Any] = {}
    for period, keep in periods.items():
        rows = np.array([i for i, h in enumerate(scored) if keep(h.ts_ms)], dtype=np.int64)
        if not len(rows):
            continue
        position = np.full(len(scored), -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        s = sample(scored, rows)
        resampler = Resampler(s)
        base = resampler.all_hours
        everything = {"name": "all hours", "group": "baseline", "pushes_per_symbol_day": None}
        table: list[dict[str, Any]] = [everything | summarise(base, base)]
        for signal in signals:
            mine = [k for k, r in enumerate(signal.rows) if position[r] >= 0]
            local = position[np.array([signal.rows[k] for k in mine], dtype=np.int64)]
            direction = np.array([signal.direction[k] for k in mine], dtype=float)
            pushes = len(set(mine) & set(signal.pushes))
            row: dict[str, Any] = {"name": signal.name, "group": signal.group}
            row["pushes_per_symbol_day"] = round(pushes / s.symbol_days, 3)
            table.append(row | summarise(resampler.stats(local, direction), base))
        out[period] = {
            "from": format_time(scored[int(rows[0])].ts_ms),
            "to": format_time(scored[int(rows[-1])].ts_ms),
            "hours": len(rows),
            "symbol_days": round(s.symbol_days, 1),
            "signals": table,
        }
    return {"periods": out}


def _abs(value: float | None) -> float | None:
    return None if value is None else abs(value)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value
