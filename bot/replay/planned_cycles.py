"""The replay's cycles, built as the live scorer would hand them to the alert engine:
one per recorded hour, ids in time order, with the symbols it failed to score.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.scoring.formula import Score, ScoreInputs
from bot.scoring.result import CycleResult, SymbolScore

EXCHANGE = "replay"


# (Cycle row, CycleResult) for one hour; ids are global and in time order.
PlannedCycle = tuple[dict[str, Any], CycleResult]


def plan_cycles(hours: Iterable[tuple[int, Sequence[SymbolScore]]]) -> list[PlannedCycle]:
    """One cycle per (hour, scores), hours ascending. A symbol is listed from its first to
    its last scored hour; listed but unscored at an hour means it failed that cycle."""
    grouped = [(ts, list(scores)) for ts, scores in hours]
    spans: dict[str, tuple[int, int]] = {}
    for ts, scores in grouped:
        for s in scores:
            spans[s.symbol] = (spans.get(s.symbol, (ts, ts))[0], ts)
    planned: list[PlannedCycle] = []
    for number, (ts, scores) in enumerate(grouped, start=1):
        listed = [s for s, (first, last) in spans.items() if first <= ts <= last]
        have = {s.symbol for s in scores}
        failed = {s: "no recorded row for this hour" for s in listed if s not in have}
        result = CycleResult(
            cycle_id=number,  # a fresh database: ids are ours to give, in time order
            exchange=EXCHANGE,
            started_ms=ts,
            finished_ms=ts,
            symbols_attempted=len(listed),
            scores=scores,
            failed=failed,
        )
        row = {
            "id": number,
            "exchange": EXCHANGE,
            "started_ms": ts,
            "finished_ms": ts,
            "status": result.status,
            "symbols_attempted": result.symbols_attempted,
            "symbols_fetched": result.symbols_fetched,
            "symbols_failed": len(failed),
        }
        planned.append((row, result))
    return planned


def symbol_score(
    symbol: str, score: Score, inputs: ScoreInputs, *, oi: float, mark: float, index: float
) -> SymbolScore:
    """What the live scorer hands the engine for one symbol."""
    return SymbolScore(
        exchange=EXCHANGE,
        symbol=symbol,
        score=score,
        oi_contracts=oi,
        oi_1h_pct=inputs.oi_1h,
        oi_4h_pct=inputs.oi_4h,
        oi_24h_pct=inputs.oi_24h,
        funding_pct=inputs.funding_pct,
        funding_interval_hours=round(inputs.funding_interval_hours),
        mark_price=mark,
        index_price=index,
        basis_pct=inputs.basis_pct,
    )
