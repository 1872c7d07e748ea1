"""/top and /symbol: the market table, one symbol's card, and their buttons.

Rows are duck-typed (`bot.views.market.MarketRow`): rendering imports no storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.scoring.explain import REGIME_WHY, SQUEEZE_KIND_LABEL, regime_label, why_parts
from bot.scoring.formula import DEFAULT_PARAMS, ScoringParams
from bot.telegram.callback_data import FilterTop, ShowSymbol, SubscribeSymbol, UnsubscribeSymbol
from bot.telegram.render.cascade import phase_line
from bot.telegram.render.format import (
    BAND_ICON,
    BIAS_LETTER,
    band_range,
    compact_pct,
    esc,
    finite,
    pct,
    price,
    row_age,
    short_symbol,
)
from bot.telegram.render.liquidations import liquidation_lines
from bot.telegram.render.lookalike import lookalike_lines
from bot.telegram.render.positioning import positioning_lines
from bot.telegram.render.unusual import unusual_lines
from bot.views.evidence import card_evidence

TABLE_WIDTH = 40
# How a card and /top name the exchange; "all" is the cross-venue aggregate.
VENUE_TITLES = {
    "binance": "Binance perp",
    "bybit": "Bybit perp",
    "okx": "OKX swap",
    "all": "all venues",
}
FILTER_TITLES = {
    "all": "Top",
    "long": "Top long bias",
    "short": "Top short bias",
    "squeeze": SQUEEZE_KIND_LABEL,
    "liq": "Liquidations 1h vs OI",
}


def unknown_symbol(query: str, suggestions: Sequence[str]) -> str:
    text = f"I don't know the symbol “{esc(query)}”."
    if suggestions:
        text += " Did you mean " + ", ".join(f"<b>{esc(s)}</b>" for s in suggestions) + "?"
    else:
        text += " Check the spelling; /top lists what I track."
    return text


def market_loading(queries: Sequence[str], seconds: float) -> str:
    """Before the first scan lands the symbol list is empty: no symbol is unknown yet, so
    the request is kept and answered once the market is loaded."""
    names = ", ".join(f"<b>{esc(q)}</b>" for q in queries)
    return (
        f"⏳ Still loading the market (the first scan, about {max(5, round(seconds))} s), so "
        f"I cannot check {names} yet. I'll subscribe you as soon as it is loaded, and "
        "tell you here."
    )


def market_loaded_subscribed(confirmation: str) -> str:
    """The follow-up to a kept /subscribe: `confirmation` is the usual /subscribe answer."""
    return "✅ The market is loaded. " + confirmation


def market_loaded_unknown(query: str, suggestions: Sequence[str]) -> str:
    """The follow-up to a kept /subscribe whose symbol does not exist: nothing stored."""
    return "The market is loaded, but nothing was subscribed. " + unknown_symbol(query, suggestions)


def suggestion_keyboard(suggestions: Sequence[str]) -> InlineKeyboardMarkup | None:
    if not suggestions:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(s, callback_data=ShowSymbol(s).pack()) for s in suggestions[:3]]]
    )


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
        f8s = f"{f8:+.3f}" if finite(f8) and abs(f8) < 10 else compact_pct(f8)
        lines.append(
            f"{i:>2} {sym:<10}{row.score:>3} {BIAS_LETTER.get(str(row.bias), '?')} "
            f"{compact_pct(row.oi_1h_pct):>6}{compact_pct(row.oi_24h_pct):>6} {f8s:>6}"
        )
    return "<pre>" + esc("\n".join(lines)) + "</pre>"


def _partial_line(snapshot: Any) -> str:
    """Symbols that failed, or (aggregates) venues that did not answer this cycle."""
    venues = getattr(snapshot, "venues", {})
    missing = sorted({p.venue for parts in venues.values() for p in parts if p.missing})
    if getattr(snapshot, "symbols_failed", 0) or not missing:
        return "⚠️ Partial scan: some symbols failed to fetch this cycle."
    return f"⚠️ Partial: {esc(', '.join(missing))} missing this cycle; no alert from those rows."


def top_message(
    snapshot: Any,
    rows: Sequence[Any],
    which: str,
    now_ms: int,
    quotes: Sequence[str] = ("USDT",),
) -> str:
    summary = snapshot.summary
    title = FILTER_TITLES.get(which, "Top")
    exchange = getattr(snapshot, "exchange", "binance")
    if exchange != "binance":  # Binance alone reads as it always did
        title = f"{VENUE_TITLES.get(exchange, exchange)} · {title}"
    lines = [
        f"<b>{esc(summary_line(summary))}</b>",
        f"{title} {len(rows)} of {summary.symbols} · data {row_age(snapshot.generated_ms, now_ms)}"
        " old",
    ]
    if getattr(snapshot, "status", "ok") != "ok":
        lines.append(_partial_line(snapshot))
    if not rows:
        lines.append("")
        lines.append(
            f"No symbol has {SQUEEZE_KIND_LABEL} right now."
            if which == "squeeze"
            else "No symbols match."
        )
        return "\n".join(lines)
    if which == "squeeze":  # what the filter measures, and that it names no direction
        lines.append(
            "<i>the side that pays is crowded while OI builds: a violent move either way</i>"
        )
    lines.append(top_table(rows, quotes))
    lines.append(
        "Sc score · B bias (L long, S short) · OI % change · F8h funding %/8h · "
        "— unknown\nDetails: /symbol " + esc(short_symbol(rows[0].symbol, quotes))
    )
    return "\n".join(lines)


def top_keyboard(which: str, n: int, venue: str | None = None) -> InlineKeyboardMarkup:
    """`venue`: the table's exchange when it is not the default view, so a filter keeps
    showing the venue the user asked for."""
    choices = [
        ("all", "All"),
        ("long", "Long"),
        ("short", "Short"),
        ("squeeze", "OI/funding"),
        ("liq", "Liq"),
    ]
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    ("• " if key == which else "") + label,
                    callback_data=FilterTop(n, key, venue).pack(),
                )
                for key, label in choices
            ]
        ]
    )


def _why_lines(row: Any, params: ScoringParams) -> list[str]:
    titles = {"oi": "OI build", "funding": "Funding", "basis": "Basis"}
    return [
        f"• {titles[p.part]} {p.strength:.0%} → {p.points:.0f} pts: {p.reason}"
        for p in why_parts(row, params)
    ]


def _evidence_lines(band: str) -> list[str]:
    line = card_evidence(band)
    return [f"📊 {esc(line)}"] if line else []


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
    exchange: str = "binance",
    venues: Sequence[Any] = (),
    liquidations: Any = None,
    lookalike: Any = None,
    positioning: Any = None,
    cascade: Any = None,
) -> str:
    band = str(row.band)
    regime = str(row.regime)
    interval = row.funding_interval_hours
    lines = [
        f"<b>{esc(row.symbol)}</b> · {esc(VENUE_TITLES.get(exchange, exchange))}",
        f"{BAND_ICON.get(band, '')} Score <b>{row.score}</b>/100 · <b>{esc(band)}</b> "
        f"({band_range(band, params)})",
        f"Bias <b>{esc(row.bias)}</b> · {esc(regime_label(regime))}",
        f"<i>{esc(REGIME_WHY.get(regime, ''))}</i>",
        *unusual_lines(row),
        *filter(None, [phase_line(cascade, liquidations)]),
        *_evidence_lines(band),
        *lookalike_lines(lookalike),
        "",
        f"OI 1h {pct(row.oi_1h_pct)} · 4h {pct(row.oi_4h_pct)} · 24h {pct(row.oi_24h_pct)}",
        _funding_line(row.funding_pct, interval, row.funding_8h_pct),
        f"Basis {pct(row.basis_pct, 3)} · mark {price(row.mark_price)} / "
        f"index {price(row.index_price)}",
        *venue_lines(venues),
        *liquidation_lines(liquidations, exchange),
        *positioning_lines(positioning, exchange),
        "",
        "<b>Why</b>",
        *_why_lines(row, params),
        "",
        f"Data {row_age(row.ts_ms, now_ms)} old"
        + (f" (cycle {cycle_id})" if cycle_id is not None else "")
        + (" · 🔔 subscribed" if subscribed else ""),
    ]
    return "\n".join(lines)


def venue_lines(venues: Sequence[Any]) -> list[str]:
    """The aggregate card's venues (`bot.views.market.VenuePart`): OI share, funding per
    8h, basis; a venue that failed this cycle makes the aggregate partial."""
    if not venues:
        return []
    lines = ["", "<b>Venues</b> (OI share · F8h · basis)"]
    missing = []
    for v in venues:
        if v.missing:
            missing.append(v.venue)
            lines.append(f"{esc(v.venue)}: no answer this cycle")
            continue
        share = f"{v.share * 100:.0f}%" if finite(v.share) else "—"
        lines.append(
            f"{esc(v.venue)}: {share} · {pct(v.funding_8h_pct, 4)} · {pct(v.basis_pct, 3)}"
        )
    if missing:
        lines.append(f"⚠️ Partial: {esc(', '.join(missing))} missing; no alert from it")
    return lines


def symbol_keyboard(
    symbol: str, subscribed: bool, venue: str | None = None
) -> InlineKeyboardMarkup:
    """`venue`: the card's exchange when it is not the default view, so the button acts
    on the venue the card shows."""
    if subscribed:
        data = UnsubscribeSymbol(symbol, venue).pack()
        button = InlineKeyboardButton("🔕 Unsubscribe", callback_data=data)
    else:
        data = SubscribeSymbol(symbol, venue).pack()
        button = InlineKeyboardButton("🔔 Subscribe", callback_data=data)
    return InlineKeyboardMarkup([[button]])


def chart_unavailable() -> str:
    return "(Not enough history for a chart yet.)"


def symbol_not_scanned(symbol: str) -> str:
    return f"No score for <b>{esc(symbol)}</b> yet: it has not been scanned."
