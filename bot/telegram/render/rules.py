"""/rule: a rule's backtest, the chat's rules, and the refusals (docs/rules.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.telegram.render.format import esc, short_symbol

RULE_USAGE = (
    "/rule add NAME CONDITION [for N cycles] [on SYMBOL], e.g. "
    "/rule add hot oi_4h > 8 and funding_8h > 0.03 for 2 cycles · /rule test CONDITION · "
    "/rule list · /rule remove NAME|all"
)


def _when(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _moves(label: str, m: Any) -> str:
    if not m.n:
        return f"{label}: no hours with a price 24h later"
    return f"{label} (n={m.n:,}): median |24h move| {m.median_abs_24h:.2f}%, P(≥5%) {m.p_big:.2f}"


def rule_test(test: Any, quotes: Sequence[str] = ("USDT",)) -> str:
    """A `bot.rule_actions.RuleTest` in words: how often, when last, what followed."""
    head = f"<code>{esc(test.rule)}</code>"
    if test.missing == "no_history":
        return f"{head}\nNo recorded history is available here to test it on."
    if test.missing == "no_symbol":
        known = ", ".join(esc(short_symbol(s, quotes)) for s in test.known)
        return f"{head}\nThe recorded history has no such symbol (it has {known})."
    bt = test.result
    coins = ", ".join(esc(short_symbol(s, quotes)) for s in bt.symbols)
    period = f"{_when(bt.first_ms)[:10]} – {_when(bt.last_ms)[:10]}" if bt.first_ms else ""
    lines = [
        head,
        f"On recorded history ({coins}; {period}; {bt.hours / 24:,.0f} symbol-days):",
    ]
    if not bt.fires:
        lines.append(f"it never fired (held in {bt.holding_hours:,} hours).")
    else:
        last = f"{_when(bt.last_fire_ms)} on {esc(short_symbol(bt.last_fire_symbol, quotes))}"
        lines.append(
            f"fired {bt.fires:,} times, {bt.per_symbol_day:.3f} per symbol-day; last {last}"
        )
        lines.append(_moves("After it fired", bt.after))
    lines.append(_moves("All hours", bt.baseline))
    lines.append("<i>24h moves close to close; past behaviour, not a forecast.</i>")
    return "\n".join(lines)


def rule_added(rule: Any, test: Any, venue: str, quotes: Sequence[str] = ("USDT",)) -> str:
    where = f"on {esc(short_symbol(rule.symbol, quotes))}" if rule.symbol else "on every symbol"
    return (
        f"{rule_test(test, quotes)}\n\n✅ Rule <b>{esc(rule.name)}</b> added: it watches "
        f"{where} ({esc(venue)}) and pushes here when it starts to hold. "
        f"/rule remove {esc(rule.name)} stops it."
    )


def rule_list(rules: Sequence[Any], cap: int, quotes: Sequence[str] = ("USDT",)) -> str:
    if not rules:
        return "No rules yet. " + rule_usage()
    lines = [f"<b>Rules</b> ({len(rules)} of {cap}):"]
    for r in rules:
        text = r.condition + (f" for {r.for_cycles} cycles" if r.for_cycles > 1 else "")
        where = short_symbol(r.symbol, quotes) if r.symbol else "market"
        lines.append(f"• <b>{esc(r.name)}</b> ({esc(where)}): <code>{esc(text)}</code>")
    return "\n".join(lines)


def rule_removed(name: str | None, count: int) -> str:
    if not count:
        return f"No rule named {esc(name)}." if name else "There were no rules to remove."
    return f"Rule {esc(name)} removed." if name else f"Removed all {count} rules."


def rule_error(message: str, pointer: str) -> str:
    """A rule the parser refused: where, and why."""
    return f"I can't read that rule: {esc(message)}\n<pre>{esc(pointer)}</pre>"


def rule_usage() -> str:
    return f"Usage: {esc(RULE_USAGE)}"


def rule_refused(code: str, params: dict[str, Any]) -> str:
    if code == "rule_exists":
        return f"This chat already has a rule named {esc(params['name'])}: /rule list."
    if code == "rule_cap":
        return f"This chat has the most rules it may keep ({params['cap']}): /rule remove one."
    if code == "bad_rule_name":
        return "A rule name is 1-32 letters, digits, - or _, e.g. hot."
    return rule_usage()
