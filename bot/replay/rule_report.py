"""`pressurebot replay --rule "<rule>"`: what a rule would have done over recorded history
(bot/alerts/rules/backtest.py), as text or, with `--json`, one JSON object.

Bad input (a rule that does not parse, a missing file, a bad date, a symbol the history
lacks) is one line on stderr and exit 2, as for every replay.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.alerts.rules.backtest import BIG_MOVE_PCT, Backtest, MoveStats, backtest
from bot.alerts.rules.fields import LIVE_ONLY
from bot.alerts.rules.parser import RuleError, parse_rule
from bot.alerts.rules.tree import field_names
from bot.config import Settings
from bot.replay.data import ReplayInputError, format_time
from bot.replay.rule_history import load_history_rows
from bot.views.rule_actions import history_symbol

EXIT_INPUT = 2


async def run_rule_replay(settings: Settings, args: argparse.Namespace) -> int:
    text: str = args.rule
    try:
        rule = parse_rule(text)
    except RuleError as err:
        where = f"at character {err.start + 1}" + (
            f", {text[err.start : err.end]!r}" if err.start < len(text) else " (the end)"
        )
        print(f"pressurebot: --rule: {err.message} ({where})", file=sys.stderr)
        return EXIT_INPUT
    live_only = sorted(field_names(rule.condition) & LIVE_ONLY)
    if live_only:  # a backtest over unknowns would say "never fired"
        print(
            f"pressurebot: --rule: not measurable on recorded history (no liquidation "
            f"history): only the live liquidation streams give {', '.join(live_only)}",
            file=sys.stderr,
        )
        return EXIT_INPUT
    from bot.replay.cli import _date, _symbols

    try:
        rows = load_history_rows(
            settings,
            args.path,
            symbols=_symbols(args.symbols),
            start_ms=_date("--from", args.date_from),
            end_ms=_date("--to", args.date_to),
        )
        scope = None
        if rule.symbol is not None:
            found = history_symbol(rule.symbol, sorted(set(rows.symbols)))
            if found is None:
                raise ReplayInputError(
                    f"no history for {rule.symbol} (it has {', '.join(sorted(set(rows.symbols)))})"
                )
            scope = [found]
    except ReplayInputError as exc:
        print(f"pressurebot: {exc}", file=sys.stderr)
        return EXIT_INPUT
    result = backtest(rule.condition, rows, for_cycles=rule.for_cycles, symbols=scope)
    report = backtest_dict(str(rule), result)
    print(json.dumps(report) if args.json else render_text(report))
    return 0


def _moves(m: MoveStats) -> dict[str, Any]:
    return {
        "n": m.n,
        "median_abs_24h_pct": None if m.median_abs_24h is None else round(m.median_abs_24h, 3),
        "p_move_5pct_24h": None if m.p_big is None else round(m.p_big, 4),
    }


def backtest_dict(rule: str, bt: Backtest) -> dict[str, Any]:
    """The backtest as plain data (the `--json` output)."""
    rate = bt.per_symbol_day
    return {
        "rule": rule,
        "history": bt.source,
        "symbols": bt.symbols,
        "from": format_time(bt.first_ms) if bt.first_ms is not None else None,
        "to": format_time(bt.last_ms) if bt.last_ms is not None else None,
        "hours": bt.hours,
        "symbol_days": round(bt.hours / 24, 1),
        "holding_hours": bt.holding_hours,
        "fires": bt.fires,
        "fires_per_symbol_day": None if rate is None else round(rate, 4),
        "last_fire": None if bt.last_fire_ms is None else format_time(bt.last_fire_ms),
        "last_fire_symbol": bt.last_fire_symbol,
        "fires_by_symbol": dict(sorted(bt.fires_by_symbol.items())),
        "after_fires": _moves(bt.after),
        "all_hours": _moves(bt.baseline),
        "big_move_pct": BIG_MOVE_PCT,
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}%"


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def render_text(r: dict[str, Any]) -> str:
    rate = r["fires_per_symbol_day"]
    lines = [
        f"rule: {r['rule']}",
        f"history: {r['history']}, {' '.join(r['symbols'])}, {r['from']} .. {r['to']}, "
        f"{r['hours']:,} hours ({r['symbol_days']:,} symbol-days)",
        f"held in {r['holding_hours']:,} hours; fired {r['fires']:,} times"
        + ("" if rate is None else f": {rate:.3f} per symbol-day")
        + (f"; last {r['last_fire']} on {r['last_fire_symbol']}" if r["last_fire"] else ""),
    ]
    if r["fires_by_symbol"]:
        lines.append(
            "per symbol: " + ", ".join(f"{s} {n}" for s, n in r["fires_by_symbol"].items())
        )
    lines += [
        f"what followed (24h, close to close)  {'n':>8}  {'median |move|':>13}  "
        f"{'P(|move| >= 5%)':>15}",
    ]
    for label, key in (("after it fired", "after_fires"), ("all hours", "all_hours")):
        m = r[key]
        lines.append(
            f"  {label:<34} {m['n']:>8,}  {_pct(m['median_abs_24h_pct']):>13}  "
            f"{_share(m['p_move_5pct_24h']):>15}"
        )
    return "\n".join(lines)
