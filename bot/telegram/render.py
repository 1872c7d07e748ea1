"""Every word the bot sends: HTML text and inline keyboards, and nothing else.

Rules that hold for every function here:
- Parse mode is HTML. Every value that comes from outside (symbols, chat titles, user
  input, error text) goes through `esc()`; numbers are formatted here, never elsewhere.
- Only `<pre>` spans several lines, so `bot/telegram/message_limits.py` can split a long
  text between lines and only needs to re-balance `<pre>`.
- Button data is packed by `bot/telegram/callback_data.py`, never spelled out here.
- Rows are duck-typed (`bot.market_view.MarketRow`, `bot.storage.outbox_repo.AlertItem`):
  this module imports no storage and does no I/O.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.scoring import DEFAULT_PARAMS, Regime, ScoringParams
from bot.telegram.callback_data import (
    ChangeSetting,
    FilterTop,
    MuteFromAlert,
    RemoveSubscription,
    SetMarket,
    ShowSymbol,
    ShowTop,
    SubscribeSymbol,
    UnsubscribeSymbol,
)

TABLE_WIDTH = 40
DASH = "—"
BAND_ORDER = ("neutral", "lean", "stretched", "stressed")
BAND_RANGES = {"neutral": "0-14", "lean": "15-34", "stretched": "35-59", "stressed": "60-100"}
BAND_ICON = {"neutral": "⚪", "lean": "🟡", "stretched": "🟠", "stressed": "🔴"}
BIAS_LETTER = {"LONG": "L", "SHORT": "S", "NEUTRAL": "·"}
FILTER_TITLES = {
    "all": "Top",
    "long": "Top long bias",
    "short": "Top short bias",
    "squeeze": "Squeeze risk",
}
REGIME_WHY = {
    Regime.LONG_SQUEEZE.value: "longs pay while the perp trades under index and OI builds",
    Regime.SHORT_SQUEEZE.value: "shorts pay while the perp trades over index and OI builds",
    Regime.LONG_CROWDED.value: "longs heavily stacked",
    Regime.SHORT_RAMP.value: "shorts heavily stacked",
    Regime.DELEVERAGING.value: "open interest is being closed out",
    Regime.NET_LONG.value: "funding and basis lean long",
    Regime.NET_SHORT.value: "funding and basis lean short",
    Regime.NEUTRAL.value: "nothing remarkable",
}


# ---------------------------------------------------------------- primitives


def esc(value: object) -> str:
    """Escape anything from outside for HTML parse mode."""
    return html.escape(str(value), quote=False)


def short_symbol(symbol: str, quotes: Sequence[str] = ("USDT",)) -> str:
    for quote in quotes:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    return symbol


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def pct(x: float | None, decimals: int = 2) -> str:
    """Signed percent, '—' when unknown (never 0)."""
    if not _finite(x):
        return DASH
    if abs(x) >= 10_000:
        return f"{x:+.3g}%"
    return f"{x:+.{decimals}f}%"


def compact_pct(x: float | None) -> str:
    """Signed percent without the % sign in at most 6 characters, for table cells."""
    if not _finite(x):
        return DASH
    a = abs(x)
    if a < 10:
        return f"{x:+.2f}"
    if a < 100:
        return f"{x:+.1f}"
    if a < 10_000:
        return f"{x:+.0f}"
    return "+≫" if x > 0 else "-≫"


def price(x: float | None) -> str:
    if not _finite(x):
        return DASH
    a = abs(x)
    if a >= 1e9:
        return f"{x:.4g}"
    if a >= 1000:
        return f"{x:,.2f}"
    if a >= 1:
        return f"{x:.4f}"
    if a == 0:
        return "0"
    digits = min(12, max(4, 5 - math.floor(math.log10(a))))
    return f"{x:.{digits}f}"


def age(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 90:
        return f"{s} s"
    m = s // 60
    if m < 90:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{h // 24} d"


def _row_age(ts_ms: int, now_ms: int) -> str:
    return age((now_ms - ts_ms) / 1000)


# ---------------------------------------------------------------- onboarding and help

COMMANDS: list[tuple[str, str]] = [
    ("top", "Most stressed symbols"),
    ("symbol", "Card and chart for one symbol"),
    ("subscribe", "Alerts for a symbol"),
    ("unsubscribe", "Stop alerts for a symbol"),
    ("subscriptions", "What this chat is subscribed to"),
    ("market", "Market-wide alerts"),
    ("settings", "Minimum band, direction, time zone, quiet hours, mute, daily cap"),
    ("help", "How it works, all commands"),
]
USAGE = {
    "top": "/top [N] [long|short|squeeze], e.g. /top 20 short",
    "symbol": "/symbol BTC",
    "subscribe": "/subscribe BTC [bands|squeeze] (both when omitted)",
    "unsubscribe": "/unsubscribe BTC, or /unsubscribe all",
    "subscriptions": "/subscriptions",
    "market": "/market stressed|stretched|squeeze|off",
    "settings": "/settings band lean · /settings direction up|both · /settings tz Europe/Berlin "
    "· /settings quiet 22-07|off · /settings mute 8|off · /settings cap 20|off",
    "help": "/help",
}


def start_text(first_name: str | None) -> str:
    hello = f"Hi {esc(first_name)}!" if first_name else "Hi!"
    return (
        f"{hello} I score every Binance perpetual 0-100 for <b>derivatives stress</b>: "
        "open-interest build-up, funding and basis, in one number.\n\n"
        "⚪ 0-14 neutral · 🟡 15-34 lean · 🟠 35-59 stretched · 🔴 60-100 stressed\n\n"
        "Try it: tap <b>Show top 10</b> below, or send /symbol BTC.\n"
        "Get pushed when a symbol crosses into a higher band: /subscribe BTC\n"
        "Everything else: /help"
    )


def start_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("📈 Show top 10", callback_data=ShowTop(10, "all").pack())],
            [InlineKeyboardButton("🔍 BTC card", callback_data=ShowSymbol("BTCUSDT").pack())],
        ]
    )


def help_text() -> str:
    lines = ["<b>Commands</b>"]
    lines += [f"{esc(USAGE[name])}: {esc(desc.lower())}" for name, desc in COMMANDS]
    lines.append("/status: operators only")
    lines += [
        "",
        "<b>The score</b> blends the open-interest change over 1h, 4h and 24h with the "
        "funding rate (normalised to 8h) and the perp-index basis. High means crowded "
        "positioning; the bias says which side is crowded. <i>Squeeze risk</i> means open "
        "interest builds against the side funding favours.",
        "",
        "Symbols are forgiving: btc, $BTC, BTCUSDT and 1000shib all work.",
        "In groups, only admins can change subscriptions and settings.",
    ]
    return "\n".join(lines)


def unknown_command(command: str) -> str:
    return f"I don't know {esc(command)}. Send /help for the list of commands."


def nudge() -> str:
    return (
        "Send /top for the most stressed symbols, /symbol BTC for one symbol, "
        "or /help for everything."
    )


def usage(command: str) -> str:
    if command in USAGE:
        return f"Usage: {esc(USAGE[command])}"
    return "Send /help for the list of commands."


def bad_argument(arg: str, command: str) -> str:
    return f"I didn't understand “{esc(arg)}”. {usage(command)}"


def argument_too_long(limit: int) -> str:
    return f"That's longer than I accept ({limit} characters per argument). Try a shorter one."


def rate_limited(per_minute: int) -> str:
    return f"You're sending commands quickly (limit {per_minute}/min). Try again in a minute."


def group_rate_limited(per_minute: int) -> str:
    return (
        f"This group is sending commands faster than I can answer here (limit "
        f"{per_minute}/min for the whole group). I'll skip the extra ones; try again in "
        "a minute, or ask me in a private chat."
    )


def internal_error() -> str:
    return "Sorry, something went wrong on my side. Please try again in a moment."


def not_admin() -> str:
    return "Sorry, that command is for the bot's operators only."


def group_admins_only() -> str:
    return "Only this group's administrators can change its alerts."


def no_data() -> str:
    return "No scores yet: the first market scan hasn't finished. Try again in a minute."


# ---------------------------------------------------------------- symbols


def unknown_symbol(query: str, suggestions: Sequence[str]) -> str:
    text = f"I don't know the symbol “{esc(query)}”."
    if suggestions:
        text += " Did you mean " + ", ".join(f"<b>{esc(s)}</b>" for s in suggestions) + "?"
    else:
        text += " Check the spelling; /top lists what I track."
    return text


def suggestion_keyboard(suggestions: Sequence[str]) -> InlineKeyboardMarkup | None:
    if not suggestions:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(s, callback_data=ShowSymbol(s).pack()) for s in suggestions[:3]]]
    )


# ---------------------------------------------------------------- /top


def summary_line(summary: Any) -> str:
    return (
        f"Avg stress {summary.avg_score:.0f} · Long bias {summary.long} · "
        f"Short bias {summary.short} · Neutral {summary.neutral}"
    )


def top_table(rows: Sequence[Any], quotes: Sequence[str] = ("USDT",), start: int = 1) -> str:
    """A `<pre>` table of at most TABLE_WIDTH columns."""
    header = f"{'#':>2} {'Symbol':<10}{'Sc':>3} B {'OI1h':>6}{'OI24h':>6} {'F8h':>6}"
    lines = [header]
    for i, row in enumerate(rows, start):
        sym = short_symbol(row.symbol, quotes)
        if len(sym) > 10:
            sym = sym[:9] + "…"
        f8 = row.funding_8h_pct
        f8s = f"{f8:+.3f}" if _finite(f8) and abs(f8) < 10 else compact_pct(f8)
        lines.append(
            f"{i:>2} {sym:<10}{row.score:>3} {BIAS_LETTER.get(str(row.bias), '?')} "
            f"{compact_pct(row.oi_1h_pct):>6}{compact_pct(row.oi_24h_pct):>6} {f8s:>6}"
        )
    return "<pre>" + esc("\n".join(lines)) + "</pre>"


def top_message(
    snapshot: Any,
    rows: Sequence[Any],
    which: str,
    now_ms: int,
    quotes: Sequence[str] = ("USDT",),
) -> str:
    summary = snapshot.summary
    title = FILTER_TITLES.get(which, "Top")
    lines = [
        f"<b>{esc(summary_line(summary))}</b>",
        f"{title} {len(rows)} of {summary.symbols} · data {_row_age(snapshot.generated_ms, now_ms)}"
        " old",
    ]
    if getattr(snapshot, "status", "ok") != "ok":
        lines.append("⚠️ Partial scan: some symbols failed to fetch this cycle.")
    if not rows:
        lines.append("")
        lines.append(
            "No symbol is in a squeeze-risk regime right now."
            if which == "squeeze"
            else "No symbols match."
        )
        return "\n".join(lines)
    lines.append(top_table(rows, quotes))
    lines.append(
        "Sc score · B bias (L long, S short) · OI % change · F8h funding %/8h · "
        "— unknown\nDetails: /symbol " + esc(short_symbol(rows[0].symbol, quotes))
    )
    return "\n".join(lines)


def top_keyboard(which: str, n: int) -> InlineKeyboardMarkup:
    choices = [("all", "All"), ("long", "Long"), ("short", "Short"), ("squeeze", "Squeeze")]
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    ("• " if key == which else "") + label, callback_data=FilterTop(n, key).pack()
                )
                for key, label in choices
            ]
        ]
    )


# ---------------------------------------------------------------- /symbol


def _why_lines(row: Any, params: ScoringParams) -> list[str]:
    oi_pts = 100 * params.oi_weight * row.oi_build
    price_w = 100 * (1 - params.oi_weight)
    f_pts = price_w * params.funding_weight * row.funding_st
    b_pts = price_w * (1 - params.funding_weight) * row.basis_st
    if row.oi_build >= 0.5:
        oi_why = "open interest is piling in"
    elif row.oi_build >= 0.15:
        oi_why = "open interest is growing"
    else:
        oi_why = "open interest flat or falling"
    premium = row.funding_8h_pct - params.funding_base_8h
    if row.funding_st < 0.2 or abs(premium) < 1e-9:
        f_why = "funding near its neutral 0.01%/8h"
    elif premium > 0:
        f_why = "longs pay a premium"
    elif row.funding_8h_pct < 0:
        f_why = "shorts pay longs"
    else:
        f_why = "funding below its neutral base"
    if row.basis_st < 0.2:
        b_why = "perp in line with index"
    elif row.basis_pct > 0:
        b_why = "perp trades above index"
    else:
        b_why = "perp trades below index"
    return [
        f"• OI build {row.oi_build:.0%} → {oi_pts:.0f} pts: {oi_why}",
        f"• Funding {row.funding_st:.0%} → {f_pts:.0f} pts: {f_why}",
        f"• Basis {row.basis_st:.0%} → {b_pts:.0f} pts: {b_why}",
    ]


def _funding_line(raw: float, interval: int, per_8h: float) -> str:
    if interval == 8:
        return f"Funding <b>{pct(per_8h, 4)}</b> per 8h (settles every 8h)"
    return f"Funding {pct(raw, 4)} per {interval}h = <b>{pct(per_8h, 4)}</b> per 8h"


def symbol_card(
    row: Any,
    now_ms: int,
    *,
    cycle_id: int | None = None,
    subscribed: bool = False,
    params: ScoringParams = DEFAULT_PARAMS,
    quotes: Sequence[str] = ("USDT",),
) -> str:
    band = str(row.band)
    regime = str(row.regime)
    interval = row.funding_interval_hours
    lines = [
        f"<b>{esc(row.symbol)}</b> · Binance perp",
        f"{BAND_ICON.get(band, '')} Score <b>{row.score}</b>/100 · <b>{esc(band)}</b> "
        f"({BAND_RANGES.get(band, '?')})",
        f"Bias <b>{esc(row.bias)}</b> · {esc(regime)}",
        f"<i>{esc(REGIME_WHY.get(regime, ''))}</i>",
        "",
        f"OI 1h {pct(row.oi_1h_pct)} · 4h {pct(row.oi_4h_pct)} · 24h {pct(row.oi_24h_pct)}",
        _funding_line(row.funding_pct, interval, row.funding_8h_pct),
        f"Basis {pct(row.basis_pct, 3)} · mark {price(row.mark_price)} / "
        f"index {price(row.index_price)}",
        "",
        "<b>Why</b>",
        *_why_lines(row, params),
        "",
        f"Data {_row_age(row.ts_ms, now_ms)} old"
        + (f" (cycle {cycle_id})" if cycle_id is not None else "")
        + (" · 🔔 subscribed" if subscribed else ""),
    ]
    return "\n".join(lines)


def symbol_keyboard(symbol: str, subscribed: bool) -> InlineKeyboardMarkup:
    if subscribed:
        button = InlineKeyboardButton(
            "🔕 Unsubscribe", callback_data=UnsubscribeSymbol(symbol).pack()
        )
    else:
        button = InlineKeyboardButton("🔔 Subscribe", callback_data=SubscribeSymbol(symbol).pack())
    return InlineKeyboardMarkup([[button]])


def chart_unavailable() -> str:
    return "(Not enough history for a chart yet.)"


def symbol_not_scanned(symbol: str) -> str:
    return f"No score for <b>{esc(symbol)}</b> yet: it has not been scanned."


# ---------------------------------------------------------------- subscriptions


def kinds_text(kinds: Iterable[str]) -> str:
    names = {"bands": "band changes", "squeeze": "squeeze risk"}
    return " and ".join(names.get(k, k) for k in sorted(kinds))


def subscribed(symbol: str, kinds: Sequence[str], min_band: str, already: bool) -> str:
    what = kinds_text(kinds)
    if already:
        return f"Already subscribed to <b>{esc(symbol)}</b> ({what})."
    extra = ""
    if "bands" in kinds:
        extra = f"\nBand alerts start at <b>{esc(min_band)}</b>; change it in /settings."
    return f"🔔 Subscribed to <b>{esc(symbol)}</b>: {what}.{extra}"


def subscription_cap(cap: int) -> str:
    return (
        f"This chat already follows {cap} symbols, the most I allow. "
        "Remove some with /unsubscribe, or use /market for market-wide alerts."
    )


def unsubscribed(symbol: str | None, removed: int) -> str:
    if symbol is None:
        return (
            f"Removed all {removed} subscriptions." if removed else "There was nothing to remove."
        )
    if not removed:
        return f"This chat wasn't subscribed to <b>{esc(symbol)}</b>."
    return f"🔕 Unsubscribed from <b>{esc(symbol)}</b>."


def subscriptions_text(
    subs: Sequence[Any], min_band: str, quotes: Sequence[str] = ("USDT",)
) -> str:
    """`subs`: rows with .symbol, .kind, .min_band ('*' = market-wide). Compact: one line
    per kind of subscription, so even the 200-symbol cap stays one short message."""
    if not subs:
        return "No subscriptions yet. Try /subscribe BTC, or /market stressed for the whole market."
    kinds: dict[str, set[str]] = {}
    market = []
    for sub in subs:
        if sub.symbol == "*":
            market.append(sub)
        else:
            kinds.setdefault(sub.symbol, set()).add(sub.kind)
    lines = [f"<b>Subscriptions</b> ({len(kinds)}) · band alerts from <b>{esc(min_band)}</b>"]
    if market:
        parts = []
        for sub in market:
            if sub.kind == "bands":
                parts.append(f"any symbol entering {esc(sub.min_band or 'stressed')}")
            else:
                parts.append("any squeeze risk")
        lines.append("🌐 Market-wide: " + "; ".join(parts))
    groups = (
        ({"bands", "squeeze"}, "Band changes and squeeze risk"),
        ({"bands"}, "Band changes only"),
        ({"squeeze"}, "Squeeze risk only"),
    )
    for wanted, label in groups:
        symbols = sorted(s for s, k in kinds.items() if k == wanted)
        if symbols:
            names = ", ".join(esc(short_symbol(s, quotes)) for s in symbols)
            lines.append(f"<b>{label}</b> ({len(symbols)}): {names}")
    return "\n".join(lines)


MAX_REMOVE_BUTTONS = 60


def subscriptions_keyboard(
    subs: Sequence[Any], quotes: Sequence[str] = ("USDT",)
) -> InlineKeyboardMarkup | None:
    symbols = sorted({s.symbol for s in subs if s.symbol != "*"})
    buttons = [
        InlineKeyboardButton(
            f"✖ {short_symbol(s, quotes)}", callback_data=RemoveSubscription(s).pack()
        )
        for s in symbols[:MAX_REMOVE_BUTTONS]
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    if any(s.symbol == "*" for s in subs):
        rows.append([InlineKeyboardButton("✖ Market-wide", callback_data=SetMarket("off").pack())])
    return InlineKeyboardMarkup(rows) if rows else None


def market_text(subs: Sequence[Any]) -> str:
    bands = next((s for s in subs if s.kind == "bands"), None)
    squeeze = any(s.kind == "squeeze" for s in subs)
    state = []
    if bands is not None:
        state.append(f"any symbol entering <b>{esc(bands.min_band or 'stressed')}</b> or above")
    if squeeze:
        state.append("any symbol entering <b>squeeze risk</b>")
    now = "; ".join(state) if state else "<b>off</b>"
    return (
        f"🌐 Market-wide alerts: {now}.\n"
        "Choose below, or send /market stressed, /market stretched, /market squeeze or "
        "/market off."
    )


def market_keyboard(subs: Sequence[Any]) -> InlineKeyboardMarkup:
    bands = next((s.min_band for s in subs if s.kind == "bands"), None)
    squeeze = any(s.kind == "squeeze" for s in subs)

    def mark(on: bool, label: str) -> str:
        return ("✓ " if on else "") + label

    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    mark(bands == "stretched", "Stretched+"),
                    callback_data=SetMarket("stretched").pack(),
                ),
                InlineKeyboardButton(
                    mark(bands == "stressed", "Stressed"),
                    callback_data=SetMarket("stressed").pack(),
                ),
                InlineKeyboardButton(
                    mark(squeeze, "Squeeze"), callback_data=SetMarket("squeeze").pack()
                ),
            ],
            [InlineKeyboardButton("Off", callback_data=SetMarket("off").pack())],
        ]
    )


# ---------------------------------------------------------------- /settings


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def settings_text(chat: Any, now_ms: int, default_cap: int = 20) -> str:
    tz = getattr(chat, "tz", None) or "UTC"
    if chat.quiet_start_min is not None and chat.quiet_end_min is not None:
        quiet = f"{_hhmm(chat.quiet_start_min)}-{_hhmm(chat.quiet_end_min)} {esc(tz)}"
    else:
        quiet = "off"
    if chat.muted_until_ms and chat.muted_until_ms > now_ms:
        mute = f"for {age((chat.muted_until_ms - now_ms) / 1000)}"
    else:
        mute = "no"
    direction = "upward only" if chat.direction == "up" else "up and down"
    cap = getattr(chat, "daily_cap", None)
    cap = default_cap if cap is None else cap
    cap_text = f"{cap} messages a day" if cap > 0 else "off"
    return "\n".join(
        [
            "<b>Settings</b> for this chat",
            f"Minimum band: <b>{esc(chat.min_band)}</b>",
            f"Band changes: <b>{direction}</b>",
            f"Time zone: <b>{esc(tz)}</b>",
            f"Quiet hours: <b>{quiet}</b>",
            f"Muted: <b>{mute}</b>",
            f"Daily cap: <b>{cap_text}</b>",
            "",
            "Tap below, or send /settings band lean · /settings direction up · "
            "/settings tz Europe/Berlin · /settings quiet 22-07 · /settings quiet off · "
            "/settings mute 8 · /settings mute off · /settings cap 20 · /settings cap off",
        ]
    )


def settings_keyboard(chat: Any, now_ms: int) -> InlineKeyboardMarkup:
    def mark(on: bool, label: str) -> str:
        return ("✓ " if on else "") + label

    muted = bool(chat.muted_until_ms and chat.muted_until_ms > now_ms)
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    mark(chat.min_band == b, b), callback_data=ChangeSetting(("band", b)).pack()
                )
                for b in BAND_ORDER
            ],
            [
                InlineKeyboardButton(
                    mark(chat.direction == "up", "Up only"),
                    callback_data=ChangeSetting(("dir", "up")).pack(),
                ),
                InlineKeyboardButton(
                    mark(chat.direction != "up", "Up and down"),
                    callback_data=ChangeSetting(("dir", "both")).pack(),
                ),
            ],
            [
                InlineKeyboardButton("Mute 1h", callback_data=ChangeSetting(("mute", "1")).pack()),
                InlineKeyboardButton("Mute 8h", callback_data=ChangeSetting(("mute", "8")).pack()),
                InlineKeyboardButton(
                    "Mute 24h", callback_data=ChangeSetting(("mute", "24")).pack()
                ),
                InlineKeyboardButton(
                    mark(not muted, "Unmuted"), callback_data=ChangeSetting(("mute", "0")).pack()
                ),
            ],
            [
                InlineKeyboardButton(
                    "Quiet hours off", callback_data=ChangeSetting(("quiet", "off")).pack()
                )
            ],
        ]
    )


def settings_changed(what: str) -> str:
    return f"✓ {esc(what)}"


# The labels below are plain text: `settings_changed` escapes them once.


def min_band_set(band: str) -> str:
    return f"Minimum band: {band}"


def direction_set(direction: str) -> str:
    return "Band changes: upward only" if direction == "up" else "Band changes: up and down"


def unmuted() -> str:
    return "Unmuted"


def mute_set(hours: int) -> str:
    return f"Muted for {hours} h"


def quiet_hours_off() -> str:
    return "Quiet hours off"


def quiet_hours_set(value: str, tz: str | None) -> str:
    return f"Quiet hours {value} {tz or 'UTC'}"


def timezone_set(tz: str) -> str:
    return f"Time zone: {tz}"


def daily_cap_set(cap: int) -> str:
    return f"Daily cap: {cap} messages" if cap > 0 else "Daily cap off"


def unknown_timezone(value: str) -> str:
    return (
        f"I don't know the time zone <b>{esc(value[:64])}</b>. Use a name like "
        "Europe/Berlin, America/New_York or Asia/Singapore, or UTC: "
        "/settings tz Europe/Berlin"
    )


def muted_for(hours: int) -> str:
    return f"🔕 Alerts muted for {hours} h. /settings mute off to undo."


# ---------------------------------------------------------------- /status


def status_text(info: Any, now_ms: int) -> str:
    cycle = info.cycle
    lines = ["<b>Status</b>"]
    if cycle is None:
        lines.append("No cycle has run yet.")
    else:
        lines += [
            f"Last cycle <b>#{cycle.id}</b> ({esc(cycle.status)}) · "
            f"{_row_age(cycle.finished_ms, now_ms)} ago · took "
            f"{(cycle.finished_ms - cycle.started_ms) / 1000:.1f} s",
            f"Symbols {cycle.symbols_fetched}/{cycle.symbols_attempted} fetched, "
            f"{cycle.symbols_failed} failed · weight {cycle.weight_used} · "
            f"alerts {cycle.alerts_emitted}",
        ]
        if cycle.errors:
            first = str(cycle.errors).splitlines()[0][:200]
            lines.append(f"Errors: <code>{esc(first)}</code>")
    d = info.deliveries
    lines += [
        "Deliveries: "
        + " · ".join(f"{k} {d.get(k, 0)}" for k in ("pending", "sent", "failed", "dropped"))
        + f" · suppressed {d.get('suppressed', 0)}",
        f"Chats: {info.chats_active} active / {info.chats_total} · "
        f"subscriptions {info.subscriptions}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- alerts


def _alert_block(item: Any, quotes: Sequence[str]) -> list[str]:
    sym = esc(item.symbol)
    if item.kind == "squeeze":
        if item.direction == "enter":
            head = f"⚠️ <b>{sym}</b> entered <b>{esc(item.to_regime or item.regime)}</b>"
        else:
            head = (
                f"✅ <b>{sym}</b> left {esc(item.from_regime or 'squeeze risk')} → "
                f"{esc(item.to_regime or item.regime)}"
            )
        head += f" · score <b>{item.score}</b>"
    else:
        arrow = "🔺" if item.direction == "up" else "🔻"
        icon = BAND_ICON.get(str(item.to_band), "")
        head = (
            f"{arrow} <b>{sym}</b> {esc(item.from_band)} → {icon} <b>{esc(item.to_band)}</b>"
            f" · score <b>{item.score}</b>"
        )
    lines = [head, f"{esc(item.bias)} · {esc(item.regime)}"]
    if any(_finite(x) for x in (item.oi_24h_pct, item.funding_8h_pct, item.basis_pct)):
        lines.append(
            f"OI 24h {pct(item.oi_24h_pct, 1)} · funding 8h {pct(item.funding_8h_pct, 3)} · "
            f"basis {pct(item.basis_pct)}"
        )
    lines.append(f"/symbol {esc(short_symbol(item.symbol, quotes))}")
    return lines


DIGEST_FULL = 8  # more alerts than this in one digest: one line each
DIGEST_LINES = 40  # and at most this many lines, so a digest is always one message


def _alert_line(item: Any, quotes: Sequence[str]) -> str:
    sym = esc(short_symbol(item.symbol, quotes))
    if item.kind == "squeeze":
        verb = "→" if item.direction == "enter" else "left"
        what = esc(item.to_regime if item.direction == "enter" else item.from_regime)
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
) -> str:
    """One alert, or a digest of one cycle's alerts for one chat, as ONE message. Sent
    more than `late_after_ms` after its event (an outage, a backlog), it says how long
    ago it happened, so an old move is not read as news."""
    when = _late(items, now_ms, late_after_ms)
    if len(items) == 1:
        lines = _alert_block(items[0], quotes)
        if when:
            lines.append(f"⏱ {when}")
        return "\n".join(lines)
    ordered = _digest_order(items)
    source = f"from the scan {when}" if when else "from the latest scan"
    lines = [f"<b>{len(items)} alerts</b> {source}"]
    if len(items) <= DIGEST_FULL:
        for item in ordered:
            lines.append("")
            lines += _alert_block(item, quotes)
        return "\n".join(lines)
    lines += [_alert_line(item, quotes) for item in ordered[:DIGEST_LINES]]
    if len(ordered) > DIGEST_LINES:
        lines.append(f"…and {len(ordered) - DIGEST_LINES} more. /top shows the whole market.")
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


CATCHUP_LINES = 20  # symbols listed in a catch-up; more are counted


def catchup_text(items: Sequence[Any], quotes: Sequence[str] = ("USDT",)) -> str:
    """The current state of symbols that changed while alerts were held (mute, quiet
    hours, daily cap). Items are state events: to_band/to_regime are now."""
    ordered = sorted(items, key=lambda i: (-i.score, i.symbol))
    lines = ["🔔 <b>Catch-up</b>: what changed while alerts were held"]
    for item in ordered[:CATCHUP_LINES]:
        band = str(item.to_band)
        lines.append(
            f"{BAND_ICON.get(band, '')} <b>{esc(short_symbol(item.symbol, quotes))}</b> "
            f"now {esc(band)} · score {item.score} · {esc(item.bias)} · {esc(item.regime)}"
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
            alert_message(by_note["alert"], quotes, now_ms=now_ms, late_after_ms=late_after_ms)
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


def stale_button() -> str:
    return "That button has expired. Send the command again."
