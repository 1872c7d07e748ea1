"""`pressurebot replay --rule "<rule>" [--from-db [--exchange X]]`: what a rule would
have done over recorded history (bot/alerts/rules/backtest.py), as text or, with
`--json`, one JSON object. Without `--from-db` the history is PATH (default: the shipped
file); with it, the deployment's hourly store merged with PATH (default: the shipped
history) for the coins it has, exactly what `/rule test` reads
(bot/replay/rule_store.py).

Bad input (a rule that does not parse, a missing file, a bad date, a symbol the history
lacks) is one line on stderr and exit 2, as for every replay.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from bot.alerts.rules.backtest import (
    BIG_MOVE_PCT,
    Backtest,
    HistoryRows,
    MoveStats,
    RuleRows,
    SourceSpan,
    backtest,
)
from bot.alerts.rules.fields import LIVE_ONLY
from bot.alerts.rules.parser import RuleError, parse_rule
from bot.alerts.rules.tree import Condition, field_names
from bot.config import Settings
from bot.replay.data import ReplayInputError, format_time
from bot.replay.from_db import store_engine
from bot.replay.rule_history import load_history_rows
from bot.replay.rule_store import add_percentiles, combine, read_store
from bot.storage.db import describe_db_error, session_factory
from bot.views.rule_actions import RuleTest, history_symbol, names_percentile

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
        start_ms, end_ms = _date("--from", args.date_from), _date("--to", args.date_to)
        if getattr(args, "from_db", False):
            got = await _from_db(settings, args, rule.condition)
        else:
            got = RuleRows(
                load_history_rows(
                    settings,
                    args.path,
                    symbols=_symbols(args.symbols),
                    start_ms=start_ms,
                    end_ms=end_ms,
                )
            )
        rows = _within(got.rows, _symbols(args.symbols), start_ms, end_ms)
        if rows is None:
            raise ReplayInputError("no recorded hours in that range")
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
    test = RuleTest(str(rule), result, None, (), got.exchange, got.stored_days)
    report = backtest_dict(str(rule), result, test)
    print(json.dumps(report) if args.json else render_text(report))
    return 0


async def _from_db(settings: Settings, args: argparse.Namespace, condition: Condition) -> RuleRows:
    """The store of `--exchange` (default: the default view) merged with PATH (default:
    the shipped history), as the bot merges them."""
    exchange = getattr(args, "exchange", None) or settings.exchange.default_view
    engine = store_engine(settings)
    try:
        async with session_factory(engine)() as session:
            stored = await read_store(session, exchange, int(time.time() * 1000))
    except SQLAlchemyError as exc:
        hint = " (run `pressurebot migrate`?)" if "hourly_rows" in str(exc) else ""
        raise ReplayInputError(describe_db_error(engine, exc) + hint) from None
    finally:
        await engine.dispose()
    if stored.rows is not None and names_percentile(condition):
        add_percentiles(stored.rows)
    try:
        shipped: HistoryRows | None = load_history_rows(settings, args.path)
    except ReplayInputError:
        if args.path is not None:
            raise
        shipped = None  # an installed wheel carries no data/: the store alone
    return combine(stored, shipped)


def _within(
    rows: HistoryRows | None, symbols: list[str] | None, start_ms: int | None, end_ms: int | None
) -> HistoryRows | None:
    """`--symbols`, `--from` and `--to` over rows already read (the store's)."""
    if rows is None or not len(rows):
        return None
    keep = np.ones(len(rows), dtype=bool)
    if symbols:
        keep &= np.array([history_symbol(s, symbols) is not None for s in rows.symbols])
    if start_ms is not None:
        keep &= rows.ts_ms >= start_ms
    if end_ms is not None:
        keep &= rows.ts_ms < end_ms
    if keep.all():
        return rows
    if not keep.any():
        return None
    return HistoryRows(
        [s for s, k in zip(rows.symbols, keep.tolist(), strict=True) if k],
        rows.ts_ms[keep],
        rows.values[:, keep],
        rows.fwd_24h[keep],
        rows.excursion_24h[keep],
        rows.sources,
        None if rows.origin is None else rows.origin[keep],
    )


def _moves(m: MoveStats) -> dict[str, Any]:
    return {
        "n": m.n,
        "median_abs_24h_pct": None if m.median_abs_24h is None else round(m.median_abs_24h, 3),
        "p_move_5pct_24h": None if m.p_big is None else round(m.p_big, 4),
    }


def backtest_dict(rule: str, bt: Backtest, test: RuleTest | None = None) -> dict[str, Any]:
    """The backtest as plain data (the `--json` output)."""
    rate = bt.per_symbol_day
    return {
        "rule": rule,
        "history": bt.source,
        "sources": [_span(s) for s in bt.sources],
        "store_exchange": None if test is None else test.exchange,
        "store_days": None if test is None or test.exchange is None else round(test.stored_days, 1),
        "store_young": bool(test is not None and test.young_store),
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
        "lift_p_move_5pct": None if bt.lift is None else round(bt.lift, 3),
        "big_move_pct": BIG_MOVE_PCT,
    }


def _span(s: SourceSpan) -> dict[str, Any]:
    return {
        "name": s.name,
        "symbols": s.symbols,
        "from": None if s.first_ms is None else format_time(s.first_ms),
        "to": None if s.last_ms is None else format_time(s.last_ms),
        "hours": s.hours,
        "hours_with_24h_after": s.baseline_n,
        "fires": s.fires,
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}%"


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def render_text(r: dict[str, Any]) -> str:
    rate = r["fires_per_symbol_day"]
    lines = [
        f"rule: {r['rule']}",
        f"history: {r['history']}, {r['from']} .. {r['to']}, "
        f"{r['hours']:,} hours ({r['symbol_days']:,} symbol-days)",
    ]
    for s in r["sources"]:
        lines.append(
            f"  {s['name']}: {s['symbols']:,} symbols, {s['from']} .. {s['to']}, "
            f"n={s['hours']:,} hours, {s['fires']:,} fires"
        )
    if r["store_young"] and not r["store_days"]:
        lines.append(f"  note: the hourly store holds nothing for {r['store_exchange']} yet")
    elif r["store_young"]:
        lines.append(
            f"  note: the hourly store holds {r['store_days']} days for "
            f"{r['store_exchange']} (under 14): its part says little yet"
        )
    if len(r["symbols"]) <= 12:
        lines.append(f"symbols: {' '.join(r['symbols'])}")
    lines.append(
        f"held in {r['holding_hours']:,} hours; fired {r['fires']:,} times"
        + ("" if rate is None else f": {rate:.3f} per symbol-day")
        + (f"; last {r['last_fire']} on {r['last_fire_symbol']}" if r["last_fire"] else "")
    )
    if r["fires_by_symbol"]:
        top = sorted(r["fires_by_symbol"].items(), key=lambda kv: (-kv[1], kv[0]))[:12]
        more = len(r["fires_by_symbol"]) - len(top)
        lines.append(
            "per symbol: "
            + ", ".join(f"{s} {n}" for s, n in top)
            + (f" and {more} more" if more > 0 else "")
        )
    lines += [
        f"what followed (24h)                 {'n':>8}  {'median |move|':>13}  "
        f"{'P(reach >= 5%)':>15}",
    ]
    for label, key in (("after it fired", "after_fires"), ("all hours", "all_hours")):
        m = r[key]
        lines.append(
            f"  {label:<34} {m['n']:>8,}  {_pct(m['median_abs_24h_pct']):>13}  "
            f"{_share(m['p_move_5pct_24h']):>15}"
        )
    if r["lift_p_move_5pct"] is not None:
        lines.append(f"  lift (P after / P all hours)       {r['lift_p_move_5pct']:>8.2f}")
    lines.append(
        "|move|: close to close; reach: the price touched +/-5% within 24h (highs and "
        "lows), as replay --evaluate"
    )
    return "\n".join(lines)
