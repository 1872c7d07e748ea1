"""Pushed messages: one alert, a digest of one cycle's alerts, the catch-up after held
alerts, the daily-cap note, and the buttons under them.

Items are duck-typed (`bot.storage.outbox_repo.AlertItem`): rendering imports no
storage. A digest is always ONE message, however many alerts it carries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.scoring.explain import REGIME_WHY, SQUEEZE_KIND_LABEL, regime_label
from bot.telegram.callback_data import MuteFromAlert, ShowSymbol
from bot.telegram.render.cascade import cascade_block, cascade_line
from bot.telegram.render.format import BAND_ICON, age, esc, finite, pct, short_symbol
from bot.telegram.render.lookalike import lookalike_lines
from bot.telegram.render.unusual import unusual_lines
from bot.views.evidence import digest_evidence, push_evidence

DIGEST_FULL = 8  # more alerts than this in one digest: one line each
DIGEST_LINES = 40  # and at most this many lines, so a digest is always one message
CATCHUP_LINES = 20  # symbols listed in a catch-up; more are counted


def _rule_head(item: Any, quotes: Sequence[str]) -> str:
    sym = esc(short_symbol(item.symbol, quotes))
    name = esc(getattr(item, "rule_name", None) or "rule")
    return f"📐 <b>{sym}</b> · rule <b>{name}</b> holds · score <b>{item.score}</b>"


def _alert_block(item: Any, quotes: Sequence[str], lookalike: Any = None) -> list[str]:
    if item.kind == "liquidations":
        return cascade_block(item, quotes)
    sym = esc(item.symbol)
    if str(item.kind).startswith("rule:"):
        head = _rule_head(item, quotes)
        if getattr(item, "rule_text", None):
            head += f"\n<code>{esc(item.rule_text)}</code>"
    elif item.kind == "squeeze":
        if item.direction == "enter":
            head = f"⚠️ <b>{sym}</b> · <b>{esc(regime_label(item.to_regime or item.regime))}</b>"
        else:
            left = regime_label(item.from_regime) if item.from_regime else SQUEEZE_KIND_LABEL
            head = (
                f"✅ <b>{sym}</b> no longer {esc(left)} → "
                f"{esc(regime_label(item.to_regime or item.regime))}"
            )
        head += f" · score <b>{item.score}</b>"
    else:
        arrow = "🔺" if item.direction == "up" else "🔻"
        icon = BAND_ICON.get(str(item.to_band), "")
        head = (
            f"{arrow} <b>{sym}</b> {esc(item.from_band)} → {icon} <b>{esc(item.to_band)}</b>"
            f" · score <b>{item.score}</b>"
        )
    # A squeeze push names its regime in the head already: the bias alone below it.
    shown = "" if item.kind == "squeeze" else f" · {esc(regime_label(item.regime))}"
    lines = [head, f"{esc(item.bias)}{shown}"]
    if item.kind == "squeeze" and item.direction == "enter":
        # Who is crowded and pays, and that it may break either way: never a direction.
        lines.append(f"<i>{esc(REGIME_WHY.get(str(item.to_regime), ''))}</i>")
    lines.extend(unusual_lines(item))  # how unusual for this symbol, when known
    if any(finite(x) for x in (item.oi_24h_pct, item.funding_8h_pct, item.basis_pct)):
        lines.append(
            f"OI 24h {pct(item.oi_24h_pct, 1)} · funding 8h {pct(item.funding_8h_pct, 3)} · "
            f"basis {pct(item.basis_pct)}"
        )
    evidence = push_evidence(item)  # what followed this alert type before
    if evidence:
        lines.append(f"<i>{esc(evidence)}</i>")
    lines += lookalike_lines(lookalike)  # the symbol's own past states most like now
    lines.append(f"/symbol {esc(short_symbol(item.symbol, quotes))}")
    return lines


def _alert_line(item: Any, quotes: Sequence[str]) -> str:
    if item.kind == "liquidations":
        return cascade_line(item, quotes)
    sym = esc(short_symbol(item.symbol, quotes))
    if str(item.kind).startswith("rule:"):
        return f"{_rule_head(item, quotes)} · {esc(item.bias)}"
    if item.kind == "squeeze":
        verb = "→" if item.direction == "enter" else "no longer"
        what = esc(regime_label(item.to_regime if item.direction == "enter" else item.from_regime))
        return f"⚠️ <b>{sym}</b> {verb} {what} · {item.score} · {esc(item.bias)}"
    arrow = "🔺" if item.direction == "up" else "🔻"
    return (
        f"{arrow} <b>{sym}</b> {esc(item.from_band)} → {esc(item.to_band)} · {item.score} · "
        f"{esc(item.bias)} · OI24h {pct(item.oi_24h_pct, 1)}"
    )


def _digest_order(items: Sequence[Any]) -> list[Any]:
    """The chat's own per-symbol alerts first (so truncation never hides them behind
    market-wide ones), then by score."""
    return sorted(items, key=lambda i: (not getattr(i, "own", False), -i.score, i.symbol))


def alert_message(
    items: Sequence[Any],
    quotes: Sequence[str] = ("USDT",),
    *,
    now_ms: int | None = None,
    late_after_ms: int | None = None,
    lookalikes: Mapping[int, Any] | None = None,
) -> str:
    """One alert, or a digest of one cycle's alerts for one chat, as ONE message. Sent
    more than `late_after_ms` after its event (an outage, a backlog), it says how long
    ago it happened, so an old move is not read as news. `lookalikes`: event id ->
    bot/views/lookalike.py's `Lookalike`, shown in full blocks (not compact digests)."""
    when = _late(items, now_ms, late_after_ms)
    looks = lookalikes or {}
    if len(items) == 1:
        lines = _alert_block(items[0], quotes, looks.get(getattr(items[0], "event_id", -1)))
        if when:
            lines.append(f"⏱ {when}")
        return "\n".join(lines)
    ordered = _digest_order(items)
    source = f"from the scan {when}" if when else "from the latest scan"
    lines = [f"<b>{len(items)} alerts</b> {source}"]
    if len(items) <= DIGEST_FULL:
        for item in ordered:
            lines.append("")
            lines += _alert_block(item, quotes, looks.get(getattr(item, "event_id", -1)))
        return "\n".join(lines)
    lines += [_alert_line(item, quotes) for item in ordered[:DIGEST_LINES]]
    if len(ordered) > DIGEST_LINES:
        lines.append(f"…and {len(ordered) - DIGEST_LINES} more. /top shows the whole market.")
    # What followed each alert type present before: one line per type, not per row.
    lines += [f"<i>{esc(line)}</i>" for line in digest_evidence(ordered)]
    lines.append(f"Details: /symbol {esc(short_symbol(ordered[0].symbol, quotes))}")
    return "\n".join(lines)


def _late(items: Sequence[Any], now_ms: int | None, late_after_ms: int | None) -> str | None:
    """'12 min ago' when the oldest event is more than `late_after_ms` old, else None."""
    if now_ms is None or late_after_ms is None:
        return None
    times = [t for t in (getattr(i, "event_ms", 0) for i in items) if t]
    if not times or now_ms - min(times) <= late_after_ms:
        return None
    return f"{age(max(60.0, (now_ms - min(times)) / 1000))} ago"


def catchup_text(items: Sequence[Any], quotes: Sequence[str] = ("USDT",)) -> str:
    """The current state of symbols that changed while alerts were held (mute, quiet
    hours, daily cap). Items are state events: to_band/to_regime are now."""
    ordered = sorted(items, key=lambda i: (-i.score, i.symbol))
    lines = ["🔔 <b>Catch-up</b>: what changed while alerts were held"]
    for item in ordered[:CATCHUP_LINES]:
        band = str(item.to_band)
        lines.append(
            f"{BAND_ICON.get(band, '')} <b>{esc(short_symbol(item.symbol, quotes))}</b> "
            f"now {esc(band)} · score {item.score} · {esc(item.bias)} · "
            f"{esc(regime_label(item.regime))}"
        )
    if len(ordered) > CATCHUP_LINES:
        lines.append(f"…and {len(ordered) - CATCHUP_LINES} more. /top shows the whole market.")
    return "\n".join(lines)


def cap_note(items: Sequence[Any], quotes: Sequence[str] = ("USDT",)) -> str:
    """Sent once, at the first push past the chat's daily cap."""
    n = len(items)
    names = sorted({short_symbol(i.symbol, quotes) for i in items})
    shown = ", ".join(esc(x) for x in names[:10]) + (" …" if len(names) > 10 else "")
    alerts = "alert" if n == 1 else "alerts"
    verb = "is" if n == 1 else "are"
    return (
        f"⏸ Daily limit reached: {n} more {alerts} today {verb} held until tomorrow "
        f"({shown}), and so is anything later today. Tomorrow starts with one catch-up "
        "of what changed. /settings cap changes the limit."
    )


def outbox_message(
    items: Sequence[Any],
    quotes: Sequence[str] = ("USDT",),
    *,
    now_ms: int | None = None,
    late_after_ms: int | None = None,
    lookalikes: Mapping[int, Any] | None = None,
) -> str:
    """One (chat, cycle) digest from the outbox: a catch-up first (it sets the scene),
    then the alerts, then the daily-cap note; each part only if present."""
    by_note: dict[str, list[Any]] = {}
    for item in items:
        by_note.setdefault(getattr(item, "note", "alert"), []).append(item)
    parts = []
    if by_note.get("catchup"):
        parts.append(catchup_text(by_note["catchup"], quotes))
    if by_note.get("alert"):
        parts.append(
            alert_message(
                by_note["alert"],
                quotes,
                now_ms=now_ms,
                late_after_ms=late_after_ms,
                lookalikes=lookalikes,
            )
        )
    if by_note.get("cap_note"):
        parts.append(cap_note(by_note["cap_note"], quotes))
    return "\n\n".join(parts)


def alert_keyboard(items: Sequence[Any], quotes: Sequence[str] = ("USDT",)) -> InlineKeyboardMarkup:
    symbols = []
    for item in _digest_order(items):
        if item.symbol not in symbols:
            symbols.append(item.symbol)
    buttons = [
        InlineKeyboardButton(f"📊 {short_symbol(s, quotes)}", callback_data=ShowSymbol(s).pack())
        for s in symbols[:3]
    ]
    return InlineKeyboardMarkup(
        [buttons, [InlineKeyboardButton("🔕 Mute 8h", callback_data=MuteFromAlert("8").pack())]]
    )
