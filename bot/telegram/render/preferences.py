"""What a chat receives: subscriptions, market-wide alerts (/market), /settings.

Subscription and chat rows are duck-typed (`bot.storage.models`): rendering imports no
storage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.alerts.types import MARKET
from bot.scoring.explain import SQUEEZE_KIND_LABEL
from bot.scoring.formula import Band
from bot.telegram.callback_data import ChangeSetting, RemoveSubscription, SetMarket
from bot.telegram.render.format import BAND_ORDER, age, esc, short_symbol

# ---------------------------------------------------------------- subscriptions

SQUEEZE_KIND = SQUEEZE_KIND_LABEL  # "OI building against funding"


def kinds_text(kinds: Iterable[str]) -> str:
    names = {"bands": "band changes", "squeeze": SQUEEZE_KIND, "liquidations": "cascades"}
    words = [names.get(k, k) for k in sorted(kinds)]
    return " and ".join(filter(None, [", ".join(words[:-1]), *words[-1:]]))


def _bold(text: str, plain: bool) -> str:
    """Bold HTML for messages; callback toasts have no parse mode, so plain text."""
    return text if plain else f"<b>{esc(text)}</b>"


def subscribed(
    symbol: str, kinds: Sequence[str], min_band: str, already: bool, *, plain: bool = False
) -> str:
    what = kinds_text(kinds)
    if already:
        return f"Already subscribed to {_bold(symbol, plain)} ({what})."
    extra = ""
    if "bands" in kinds:
        extra = f"\nBand alerts start at {_bold(min_band, plain)}; change it in /settings."
    return f"🔔 Subscribed to {_bold(symbol, plain)}: {what}.{extra}"


def subscription_cap(cap: int) -> str:
    return (
        f"This chat already follows {cap} symbols, the most I allow. "
        "Remove some with /unsubscribe, or use /market for market-wide alerts."
    )


def unsubscribed(symbol: str | None, removed: int, *, plain: bool = False) -> str:
    if symbol is None:
        return (
            f"Removed all {removed} subscriptions." if removed else "There was nothing to remove."
        )
    if not removed:
        return f"This chat wasn't subscribed to {_bold(symbol, plain)}."
    return f"🔕 Unsubscribed from {_bold(symbol, plain)}."


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
        if sub.symbol == MARKET:
            market.append(sub)
        else:
            kinds.setdefault(sub.symbol, set()).add(sub.kind)
    lines = [f"<b>Subscriptions</b> ({len(kinds)}) · band alerts from <b>{esc(min_band)}</b>"]
    if market:
        parts = []
        for sub in market:
            if sub.kind == "bands":
                parts.append(f"any symbol entering {esc(sub.min_band or 'stressed')}")
            elif sub.kind == "liquidations":
                parts.append("any liquidation cascade")
            else:
                parts.append(f"any symbol with {SQUEEZE_KIND}")
        lines.append("🌐 Market-wide: " + "; ".join(parts))
    groups: tuple[tuple[set[str], str], ...] = (
        ({"bands", "squeeze"}, f"Band changes and {SQUEEZE_KIND}"),
        ({"bands"}, "Band changes only"),
        ({"squeeze"}, f"{SQUEEZE_KIND_LABEL} only"),
    )
    # Any other mix (one with cascades) is labelled by its kinds.
    groups += tuple((mix, _first_upper(kinds_text(mix))) for mix in _mixes(kinds.values(), groups))
    for wanted, label in groups:
        symbols = sorted(s for s, k in kinds.items() if k == wanted)
        if symbols:
            names = ", ".join(esc(short_symbol(s, quotes)) for s in symbols)
            lines.append(f"<b>{label}</b> ({len(symbols)}): {names}")
    return "\n".join(lines)


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]  # not str.capitalize: it would write "oi"


def _mixes(found: Iterable[set[str]], known: Sequence[tuple[set[str], str]]) -> list[set[str]]:
    """The kind sets in `found` that `known` does not label, each once, in a fixed order."""
    seen = [k for k, _ in known]
    out: list[set[str]] = []
    for mix in sorted(found, key=lambda m: (len(m), sorted(m))):
        if mix not in seen and mix not in out:
            out.append(mix)
    return out


MAX_REMOVE_BUTTONS = 60


def other_venue_subscriptions(counts: dict[str, int]) -> str:
    """Subscriptions kept on other venues than the one listed (older Binance ones)."""
    parts = " · ".join(f"{esc(v)} {n}" for v, n in sorted(counts.items()))
    first = esc(min(counts))
    return f"Also on other venues: {parts} (see /subscriptions {first})"


def venue_subscriptions_header(venue: str) -> str:
    return f"<b>{esc(venue)}</b> subscriptions (remove one with /unsubscribe SYMBOL {esc(venue)}):"


def subscriptions_keyboard(
    subs: Sequence[Any], quotes: Sequence[str] = ("USDT",)
) -> InlineKeyboardMarkup | None:
    symbols = sorted({s.symbol for s in subs if s.symbol != MARKET})
    buttons = [
        InlineKeyboardButton(
            f"✖ {short_symbol(s, quotes)}", callback_data=RemoveSubscription(s).pack()
        )
        for s in symbols[:MAX_REMOVE_BUTTONS]
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    if any(s.symbol == MARKET for s in subs):
        rows.append([InlineKeyboardButton("✖ Market-wide", callback_data=SetMarket("off").pack())])
    return InlineKeyboardMarkup(rows) if rows else None


# ---------------------------------------------------------------- /market


def market_text(subs: Sequence[Any]) -> str:
    bands = next((s for s in subs if s.kind == "bands"), None)
    squeeze = any(s.kind == "squeeze" for s in subs)
    cascades = any(s.kind == "liquidations" for s in subs)
    state = []
    if bands is not None:
        state.append(f"any symbol entering <b>{esc(bands.min_band or 'stressed')}</b> or above")
    if squeeze:
        state.append(f"any symbol entering <b>{SQUEEZE_KIND}</b> (a violent move either way)")
    if cascades:
        state.append("any <b>liquidation cascade</b>")
    now = "; ".join(state) if state else "<b>off</b>"
    return (
        f"🌐 Market-wide alerts: {now}.\n"
        "Choose below, or send /market stressed, /market stretched, /market squeeze, "
        "/market liquidations or /market off."
    )


def market_keyboard(subs: Sequence[Any]) -> InlineKeyboardMarkup:
    bands = next((s.min_band for s in subs if s.kind == "bands"), None)
    squeeze = any(s.kind == "squeeze" for s in subs)
    cascades = any(s.kind == "liquidations" for s in subs)

    def mark(on: bool, label: str) -> str:
        return ("✓ " if on else "") + label

    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    mark(bands == Band.STRETCHED, "Stretched+"),
                    callback_data=SetMarket(Band.STRETCHED).pack(),
                ),
                InlineKeyboardButton(
                    mark(bands == Band.STRESSED, "Stressed"),
                    callback_data=SetMarket(Band.STRESSED).pack(),
                ),
                InlineKeyboardButton(
                    mark(squeeze, "OI/funding"), callback_data=SetMarket("squeeze").pack()
                ),
            ],
            [
                InlineKeyboardButton(
                    mark(cascades, "Liquidations"),
                    callback_data=SetMarket("liquidations").pack(),
                ),
                InlineKeyboardButton("Off", callback_data=SetMarket("off").pack()),
            ],
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


def settings_changed(what: str, *, plain: bool = False) -> str:
    return f"✓ {what}" if plain else f"✓ {esc(what)}"


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


def unknown_timezone(value: str, *, plain: bool = False) -> str:
    return (
        f"I don't know the time zone {_bold(value[:64], plain)}. Use a name like "
        "Europe/Berlin, America/New_York or Asia/Singapore, or UTC: "
        "/settings tz Europe/Berlin"
    )


def muted_for(hours: int) -> str:
    return f"🔕 Alerts muted for {hours} h. /settings mute off to undo."
