"""/rule: a rule's backtest, the chat's rules, and the refusals (docs/rules.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.alerts.rules.fields import FIELDS, LIVE_ONLY
from bot.telegram.render.format import esc, short_symbol

RULE_USAGE = (
    "/rule add NAME CONDITION [for N cycles] [on SYMBOL], e.g. "
    "/rule add hot oi_4h > 8 and funding_8h > 0.03 for 2 cycles · /rule test CONDITION · "
    "/rule list · /rule remove NAME|all · the fields: /rule fields · "
    "built-in funding rules: /rule builtin, /rule on NAME [SYMBOL], /rule off NAME"
)


def rule_fields() -> str:
    """Every field a rule may name, its unit and meaning (bot/alerts/rules/fields.py)."""
    lines = ["<b>Rule fields</b> (unknown values never fire):"]
    for f in FIELDS:
        star = "*" if f.name in LIVE_ONLY else ""
        lines.append(f"<code>{esc(f.name)}</code>{star} ({esc(f.unit)}): {esc(f.help)}")
    lines.append(
        "* live only, from the liquidation streams: unknown while they are off or cover "
        "too little of the window, and not measurable by /rule test (no liquidation history)."
    )
    return "\n".join(lines)


def _when(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _moves(label: str, m: Any, lift: float | None = None) -> str:
    if not m.n:
        return f"{label}: no hours with a price 24h later"
    big = "-" if m.p_big is None else f"{m.p_big:.2f}"
    times = "" if lift is None else f" ({lift:.1f}× all hours)"
    return f"{label} (n={m.n:,}): median |24h move| {m.median_abs_24h:.2f}%, P(≥5%) {big}{times}"


def _source(span: Any, quotes: Sequence[str]) -> str:
    """One source of the backtest: what it gave, over which period, n."""
    name = span.name or "recorded history"
    if not span.hours:
        return f"• {esc(name)}: no hours in scope"
    period = f"{_when(span.first_ms)[:10]} – {_when(span.last_ms)[:10]}"
    count = f"{span.symbols:,} symbol" + ("" if span.symbols == 1 else "s")
    return f"• {esc(name)}: {count}, {period}, n={span.hours:,} hours, {span.fires:,} fires"


def rule_test(test: Any, quotes: Sequence[str] = ("USDT",)) -> str:
    """A `bot.rule_actions.RuleTest` in words: on which hours, how often, when last,
    what followed."""
    head = f"<code>{esc(test.rule)}</code>"
    if test.missing == "live_only":
        names = ", ".join(esc(f) for f in test.fields)
        live = (
            "Live, it waits (never fires) while the streams are off or gapped."
            if test.streams
            else "⚠️ This bot runs no liquidation streams, so it would never fire here."
        )
        return (
            f"{head}\nNot measurable on recorded history (no liquidation history): only the "
            f"live liquidation streams give {names}. {live}"
        )
    young = _young(test)
    if test.missing == "no_history":
        return "\n".join(
            x for x in (head, "No recorded history is available here to test it on.", young) if x
        )
    if test.missing == "no_symbol":
        known = ", ".join(esc(short_symbol(s, quotes)) for s in test.known)
        return f"{head}\nThe recorded history has no such symbol (it has {known})."
    bt = test.result
    coins = ""
    if len(bt.symbols) <= 10:
        coins = " (" + ", ".join(esc(short_symbol(s, quotes)) for s in bt.symbols) + ")"
    lines = [head, f"Tested on {bt.hours / 24:,.0f} symbol-days of recorded history{coins}:"]
    lines += [_source(s, quotes) for s in bt.sources if s.hours or len(bt.sources) > 1]
    if young:
        lines.append(young)
    if not bt.fires:
        lines.append(f"It never fired (held in {bt.holding_hours:,} hours).")
    else:
        last = f"{_when(bt.last_fire_ms)} on {esc(short_symbol(bt.last_fire_symbol, quotes))}"
        lines.append(
            f"fired {bt.fires:,} times, {bt.per_symbol_day:.3f} per symbol-day; last {last}"
        )
        lines.append(_moves("After it fired", bt.after, bt.lift))
    lines.append(_moves("All hours", bt.baseline))
    lines.append(
        "<i>|24h move| close to close; P(≥5%): the price reached ±5% within 24h (highs and "
        "lows), as replay --evaluate measures it. Past behaviour, not a forecast.</i>"
    )
    return "\n".join(lines)


def _young(test: Any) -> str:
    """A note when the deployment's own store is too short to say much."""
    if test.exchange is None or not test.young_store:
        return ""
    if test.stored_days <= 0:
        return f"<i>The hourly store holds nothing for {esc(test.exchange)} yet.</i>"
    return (
        f"<i>The hourly store holds only {test.stored_days:.1f} days for "
        f"{esc(test.exchange)} (under 14): its part says little yet.</i>"
    )


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
    if code == "unknown_builtin":
        return f"No built-in rule is named {esc(params['name'])}; there are {esc(params['names'])}."
    if code == "builtin_unavailable":
        return f"The built-in {esc(params['name'])} is not available yet: {esc(params['why'])}."
    return rule_usage()


# ---------------------------------------------------------------- built-ins

BUILTIN_USAGE = "/rule builtin · /rule on NAME [SYMBOL] · /rule off NAME"


def builtin_evidence(bt: Any) -> str:
    """One built-in's backtest in one line: how often, and what followed against all
    hours (as `/rule test` measures it, over the shipped history)."""
    first, last = (_when(t)[:4] if t else "" for t in (bt.first_ms, bt.last_ms))
    span = first if first == last else f"{first}-{last[2:]}"
    if not bt.fires or not bt.after.n:
        return f"never fired on recorded history ({span}, {bt.hours / 24:,.0f} symbol-days)"
    times = "once" if bt.fires == 1 else f"{bt.fires:,} times"
    return (
        f"fired {times} ({bt.per_symbol_day:.3f} per symbol-day, {span}); after it "
        f"a ≥5% move within 24h {_share(bt.after.p_big)} of the time "
        f"(all hours {_share(bt.baseline.p_big)}), "
        f"median |24h| {bt.after.median_abs_24h:.1f}% ({bt.baseline.median_abs_24h:.1f}%)"
    )


def _share(p: float | None) -> str:
    return "-" if p is None else f"{p:.0%}"


def builtin_list(found: Sequence[Any], quotes: Sequence[str] = ("USDT",)) -> str:
    """`bot.views.builtin_rules.BuiltinView`s: what each watches, whether it is on here,
    and what followed it on recorded history."""
    lines = [f"<b>Built-in funding rules</b> ({esc(BUILTIN_USAGE)})"]
    for b in found:
        where = ", ".join(short_symbol(s, quotes) if s != "market" else s for s in b.on)
        state = f" ✅ on ({esc(where)})" if b.on else ""
        lines += ["", f"• <b>{esc(b.name)}</b>{state}: {esc(b.says)}"]
        lines.append(f"<code>{esc(b.condition)}</code>")
        if b.missing is not None:
            lines.append(f"<i>not available in this version: {esc(b.missing)}</i>")
        elif b.evidence is not None:
            lines.append(f"<i>{esc(builtin_evidence(b.evidence))}</i>")
        elif b.no_data:
            lines.append("<i>not measured: the recorded history has no such data</i>")
        else:
            lines.append("<i>not measured: no recorded history here</i>")
    lines += ["", "<i>Past behaviour on recorded history, not a forecast.</i>"]
    return "\n".join(lines)
