"""Recall: did a default push come before the largest moves? Per symbol, the 10
largest 24h drawdowns and run-ups of a period (signed close-to-close move from t to
t+24h, the windows at least 24h apart, largest first), and whether the default
subscriber got any push for that symbol in the 24 hours before t; also whether the
engine raised any alert event then (pushed or not)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bot.alerts.types import DeliveryStatus
from bot.replay.alerts import AlertRecord
from bot.replay.data import HOUR_MS, format_time
from bot.replay.run import ScoredHour

TOP = 10
WINDOW_MS = 24 * HOUR_MS


def recall(
    scored: Sequence[ScoredHour], records: Sequence[AlertRecord], keep: Callable[[int], bool]
) -> dict[str, Any]:
    events: dict[str, list[AlertRecord]] = {}
    for r in records:
        events.setdefault(r.symbol, []).append(r)
    per_symbol: dict[str, Any] = {}
    totals = {"moves": 0, "pushed": 0, "any_event": 0}
    symbols = sorted({h.symbol for h in scored})
    for symbol in symbols:
        hours = [
            h for h in scored if h.symbol == symbol and keep(h.ts_ms) and h.fwd_24h is not None
        ]
        mine = events.get(symbol, [])
        entry: dict[str, list[dict[str, Any]]] = {}
        for name, sign in (("drawdowns", -1.0), ("run_ups", 1.0)):
            moves = _largest(hours, sign)
            rows = [_warned(h, mine) for h in moves]
            entry[name] = rows
            totals["moves"] += len(rows)
            totals["pushed"] += sum(r["pushed"] for r in rows)
            totals["any_event"] += sum(r["any_event"] for r in rows)
        per_symbol[symbol] = entry
    return {"symbols": per_symbol, "totals": totals}


def _largest(hours: Sequence[ScoredHour], sign: float) -> list[ScoredHour]:
    """The TOP largest moves in direction `sign`, no two within 24h of each other."""
    ranked = sorted(hours, key=lambda h: -sign * (h.fwd_24h or 0.0))
    chosen: list[ScoredHour] = []
    for h in ranked:
        if len(chosen) == TOP or sign * (h.fwd_24h or 0.0) <= 0:
            break
        if all(abs(h.ts_ms - c.ts_ms) >= WINDOW_MS for c in chosen):
            chosen.append(h)
    return chosen


def _warned(h: ScoredHour, records: Sequence[AlertRecord]) -> dict[str, Any]:
    before = [r for r in records if h.ts_ms - WINDOW_MS <= r.ts_ms <= h.ts_ms]
    return {
        "ts": format_time(h.ts_ms),
        "move_24h": round(h.fwd_24h or 0.0, 2),
        "pushed": any(r.delivery == DeliveryStatus.PENDING for r in before),
        "any_event": bool(before),
    }


def recall_lines(result: dict[str, Any], *, markdown: bool = False) -> list[str]:
    """Per symbol: how many of its largest moves had a push (an event) in the 24h before."""
    if markdown:
        out = [
            "| symbol | 10 largest 24h drawdowns: push / any alert in the 24h before "
            "| 10 largest 24h run-ups: push / any alert |",
            "|---|---|---|",
        ]
    else:
        out = ["recall: of the largest 24h moves, those with a push (any alert) in the 24h before"]
    for symbol, entry in result["symbols"].items():
        cells = [
            f"{sum(r['pushed'] for r in rows)}/{len(rows)} ({sum(r['any_event'] for r in rows)})"
            for rows in (entry["drawdowns"], entry["run_ups"])
        ]
        out.append(
            f"| {symbol} | {cells[0]} | {cells[1]} |"
            if markdown
            else f"  {symbol:<10} drawdowns {cells[0]:<10} run-ups {cells[1]}"
        )
    t = result["totals"]
    summary = f"all: {t['pushed']}/{t['moves']} with a push ({t['any_event']} with any alert)"
    out.append(f"| all | {summary} | |" if markdown else f"  {summary}")
    return out
