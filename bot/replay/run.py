"""Score recorded history hour by hour with the live scoring code, then replay alerts.

Scoring is `bot.scoring.formula.compute_score` with the configured `[scoring]` parameters, fed
as the live scorer feeds it: OI deltas anchored by `bot.scoring.windows` (the sample closest
to now-1h/4h/24h within the window tolerance for an hourly cadence, else null),
funding in percent per interval with its interval, basis in percent. The time
alignment of the recorded columns is in `bot.replay.data`.

Basis smoothing. Live, the basis is Binance's mark price against its index, and the
mark price is itself an average over minutes, so one odd trade does not move it. The
`ohlc-mark` format records that mark price: no smoothing (`smooth_hours=1`). In the
`close-index` format the "mark" is one hour's last traded close on a thinner book
(Deribit), so its hourly basis carries trade noise the live one does not: the score
uses the mean of the last 4 hourly values that exist (gaps are left out, never filled;
this hour's own value must exist), a window chosen on the fit period only
(docs/scoring.md, Evidence).

Forward moves and excursions (what `bot.replay.evaluate` measures) are taken from the
perp price at t: the signed move to exactly t+4h / t+24h, and the largest rise and fall
within (t, t+24h] on the recorded highs and lows (on closes in the `close-index`
format, which has none). The trailing 24h move is the price at t against t-24h.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bot.config import Settings
from bot.replay.alerts import AlertLog, replay_alerts
from bot.replay.data import FORMAT_OHLC_MARK, HOUR_MS, History, Row
from bot.replay.moves import Moves, price_moves
from bot.replay.planned_cycles import PlannedCycle, plan_cycles, symbol_score
from bot.scoring.formula import (
    InvalidInput,
    Score,
    ScoreInputs,
    ScoringParams,
    basis_pct,
    compute_score,
    pct_change,
)
from bot.scoring.result import SymbolScore
from bot.scoring.windows import anchor, windows

DEFAULT_SMOOTH_HOURS = 4  # the close-index format's window; ohlc-mark needs none


@dataclass(frozen=True, slots=True)
class BasisOptions:
    smooth_hours: int | None = None  # None: the format's default; 1: no smoothing
    same_row: bool = False  # close-index only: pair close and index of one row (data.py)

    def window(self, fmt: str) -> int:
        if self.smooth_hours is not None:
            return self.smooth_hours
        return 1 if fmt == FORMAT_OHLC_MARK else DEFAULT_SMOOTH_HOURS


@dataclass(frozen=True, slots=True)
class ScoredHour:
    symbol: str
    ts_ms: int
    score: Score
    inputs: ScoreInputs  # basis_pct here is the smoothed basis that was scored
    mark: float  # the mark price at ts (close-index: the perp close at ts)
    index: float
    raw_basis_pct: float  # this hour's unsmoothed basis
    oi: float
    # Signed percent move of the perp price from ts to ts+4h / ts+24h; None if missing.
    fwd_4h: float | None
    fwd_24h: float | None
    # Largest rise / fall (both >= 0, percent) within (ts, ts+24h]; None if unknown.
    up_24h: float | None = None
    down_24h: float | None = None
    back_24h: float | None = None  # signed move from ts-24h to ts


# ---------------------------------------------------------------- scoring


def score_history(
    history: History,
    params: ScoringParams,
    *,
    tolerance_ms: int,
    basis: BasisOptions = BasisOptions(),
) -> tuple[list[ScoredHour], int]:
    """Every scorable hour of every symbol, sorted by (ts, symbol); and the count of
    hours rejected as invalid input (compute_score raised)."""
    out: list[ScoredHour] = []
    invalid = 0
    for symbol, rows in history.rows.items():
        scored, bad = _score_symbol(symbol, rows, params, tolerance_ms, basis, history.format)
        out.extend(scored)
        invalid += bad
    out.sort(key=lambda h: (h.ts_ms, h.symbol))
    return out, invalid


def _score_symbol(
    symbol: str,
    rows: Sequence[Row],
    params: ScoringParams,
    tolerance_ms: int,
    opts: BasisOptions,
    fmt: str,
) -> tuple[list[ScoredHour], int]:
    times = [r.ts_ms for r in rows]
    samples = [(r.ts_ms, r.open_interest) for r in rows]
    marks = _marks(rows, opts, fmt)
    raw = _raw_basis(rows, marks)
    smooth = opts.window(fmt)
    moves = price_moves(rows, marks, fmt)

    out: list[ScoredHour] = []
    invalid = 0
    for r in rows:
        t = r.ts_ms
        if t not in raw:
            continue  # no price at T (gap before it): the symbol failed this hour
        window = [raw[t - k * HOUR_MS] for k in range(smooth) if t - k * HOUR_MS in raw]
        deltas = _oi_deltas(t, r.open_interest, times, samples, tolerance_ms)
        inputs = ScoreInputs(
            oi_1h=deltas[0],
            oi_4h=deltas[1],
            oi_24h=deltas[2],
            funding_pct=r.funding_pct,
            funding_interval_hours=r.funding_interval_h,
            basis_pct=sum(window) / len(window),
        )
        try:
            score = compute_score(inputs, params)
        except InvalidInput:
            invalid += 1
            continue
        out.append(_scored(symbol, r, score, inputs, marks[t], raw[t], moves.get(t)))
    return out, invalid


def _scored(
    symbol: str,
    r: Row,
    score: Score,
    inputs: ScoreInputs,
    mark: float,
    raw_basis: float,
    m: Moves | None,
) -> ScoredHour:
    return ScoredHour(
        symbol=symbol,
        ts_ms=r.ts_ms,
        score=score,
        inputs=inputs,
        mark=mark,
        index=r.index_price,
        raw_basis_pct=raw_basis,
        oi=r.open_interest,
        fwd_4h=m.fwd_4h if m else None,
        fwd_24h=m.fwd_24h if m else None,
        up_24h=m.up_24h if m else None,
        down_24h=m.down_24h if m else None,
        back_24h=m.back_24h if m else None,
    )


def _marks(rows: Sequence[Row], opts: BasisOptions, fmt: str) -> dict[int, float]:
    """mark(T): the mark price at the instant T. In the close-index format, a row's
    close is the price at the end of its hour unless `same_row` says otherwise."""
    if fmt == FORMAT_OHLC_MARK:
        return {r.ts_ms: r.mark for r in rows if r.mark is not None}
    if opts.same_row:
        return {r.ts_ms: r.perp_close for r in rows}
    return {r.ts_ms + HOUR_MS: r.perp_close for r in rows}


def _raw_basis(rows: Sequence[Row], marks: dict[int, float]) -> dict[int, float]:
    """Unsmoothed basis per hour; an hour without a usable price is left out."""
    raw: dict[int, float] = {}
    for r in rows:
        mark = marks.get(r.ts_ms)
        if mark is not None and mark > 0 and r.index_price > 0:
            raw[r.ts_ms] = basis_pct(mark, r.index_price)
    return raw


def _oi_deltas(
    t: int,
    open_interest: float,
    times: list[int],
    samples: list[tuple[int, float]],
    tolerance_ms: int,
) -> list[float | None]:
    """OI change over each scoring window, anchored as the live scorer anchors it."""
    deltas: list[float | None] = []
    for w in windows(t, tolerance_ms, interval_ms=HOUR_MS):  # one row per hour
        lo, hi = bisect_left(times, w.earliest_ms), bisect_right(times, w.latest_ms)
        base = anchor(samples[lo:hi], w)
        deltas.append(None if base is None else pct_change(base, open_interest))
    return deltas


# ---------------------------------------------------------------- the whole replay


@dataclass(slots=True)
class Replay:
    scored: list[ScoredHour]
    alerts: AlertLog
    invalid_hours: int
    score_seconds: float


async def replay(
    settings: Settings,
    history: History,
    *,
    basis: BasisOptions = BasisOptions(),
    workers: int | None = None,
) -> Replay:
    """Score every hour, then drive the alert engine over the scored hours."""
    started = time.perf_counter()
    tolerance_ms = settings.scorer.window_tolerance_seconds * 1000
    scored, invalid = score_history(
        history, settings.scoring, tolerance_ms=tolerance_ms, basis=basis
    )
    score_seconds = time.perf_counter() - started
    log = await replay_alerts(settings, planned_cycles(scored), workers=workers)
    return Replay(scored, log, invalid, score_seconds)


def planned_cycles(scored: Sequence[ScoredHour]) -> list[PlannedCycle]:
    """One alert-engine cycle per hour, as `SymbolScore`s the way the scorer hands them."""
    return plan_cycles(_by_hour(scored))


def _by_hour(scored: Sequence[ScoredHour]) -> Iterator[tuple[int, list[SymbolScore]]]:
    group: list[ScoredHour] = []
    for h in scored:
        if group and h.ts_ms != group[0].ts_ms:
            yield group[0].ts_ms, [_live(x) for x in group]
            group = []
        group.append(h)
    if group:
        yield group[0].ts_ms, [_live(x) for x in group]


def _live(h: ScoredHour) -> SymbolScore:
    return symbol_score(h.symbol, h.score, h.inputs, oi=h.oi, mark=h.mark, index=h.index)
