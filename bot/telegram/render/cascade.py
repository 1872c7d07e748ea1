"""Cascade pushes (kind "liquidations", bot/alerts/cascade.py) and the card's squeeze
phase line. Each says what the last minutes showed: who was forced out, how much, how
that compares with OI and with normal; never what price does next.

Items are duck-typed (`bot.storage.outbox_repo.AlertItem`), as in render/alerts.py.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from typing import Any

from bot.alerts.cascade import decode_detail
from bot.alerts.types import SqueezePhase
from bot.telegram.render.format import esc, finite, short_symbol
from bot.telegram.render.liquidations import FULL_COVERAGE, SAMPLED_VENUES, usd

SIDES = {"long": "longs", "short": "shorts"}
NOT_A_FORECAST = "What the stream showed, not a forecast of what comes next."


def _num(detail: dict[str, Any], key: str) -> float | None:
    value = detail.get(key)
    return float(value) if isinstance(value, int | float) else None


def _squeeze_name(regime: str | None) -> str:
    """ "Long squeeze risk" -> "Long squeeze"."""
    return (regime or "").removesuffix(" risk")


def cascade_block(item: Any, quotes: Sequence[str]) -> list[str]:
    """A cascade entry or exit, as one alert's lines."""
    d = decode_detail(item.detail)
    sym = esc(item.symbol)
    who = SIDES.get(str(item.side), str(item.side))
    lines: list[str]
    if item.direction == "enter":
        minutes = int(_num(d, "minutes") or 15)
        lines = [
            f"🌊 <b>{sym}</b> cascade: <b>{who}</b> liquidated <b>{usd(_num(d, 'usd'))}</b> "
            f"in the last {minutes} min"
        ]
        lines.append(" · ".join(_measures(d)))
        if item.to_regime:
            name = _squeeze_name(item.to_regime)
            lines.append(f"<b>{esc(name)} under way</b>: the crowded side ({who}) is forced out")
        if d.get("switched_from"):
            lines.append(f"(the {esc(d['switched_from'])} cascade before it is over)")
    else:
        forced, pct = usd(_num(d, "forced_usd")), _num(d, "forced_oi_pct")
        share = f" ({pct:.2f}% of OI)" if finite(pct) else ""
        since = _num(d, "since_ms")
        when = f" since {_hhmm(since)} UTC" if since else ""
        lines = [f"🌊 <b>{sym}</b> {esc(item.side)} cascade subsided: {forced} of {who}{share}"]
        lines[0] += f" forced out{when}"
        if item.from_regime:
            name = _squeeze_name(item.from_regime)
            what = f"{pct:.2f}% of OI" if finite(pct) else forced
            lines.append(f"<b>{esc(name)} flushed</b>: {what} forced out")
    coverage = _num(d, "coverage")
    if coverage is not None and coverage < FULL_COVERAGE:
        lines.append(f"⚠️ stream live {coverage:.0%} of the window: partial")
    if item.exchange in SAMPLED_VENUES:
        lines.append("<i>Binance sends at most one per symbol per second: a sample</i>")
    lines.append(f"<i>{NOT_A_FORECAST}</i>")
    lines.append(f"/symbol {esc(short_symbol(item.symbol, quotes))}")
    return lines


def _measures(d: dict[str, Any]) -> list[str]:
    out = []
    oi_pct = _num(d, "oi_pct")
    if finite(oi_pct):
        out.append(f"<b>{oi_pct:.2f}%</b> of OI")
    x = _num(d, "x_normal")
    out.append(f"<b>{x:.1f}×</b> normal" if finite(x) else "normally next to none")
    return out


def cascade_line(item: Any, quotes: Sequence[str]) -> str:
    """One line of a long digest."""
    d = decode_detail(item.detail)
    sym = esc(short_symbol(item.symbol, quotes))
    who = SIDES.get(str(item.side), str(item.side))
    if item.direction == "enter":
        return f"🌊 <b>{sym}</b> {who} liquidated {usd(_num(d, 'usd'))} · " + " · ".join(
            _measures(d)
        )
    return f"🌊 <b>{sym}</b> {esc(item.side)} cascade subsided · {usd(_num(d, 'forced_usd'))}"


def cascade_title(item: Any, quotes: Sequence[str]) -> str:
    """A Discord embed's title (plain text, no HTML): the first line of the push."""
    return _plain(cascade_block(item, quotes)[0])


def cascade_lines(item: Any) -> list[str]:
    """A Discord embed's lines under the title: the push's, plain, without /symbol
    (and without the forecast line: the embed's footer says it)."""
    lines = cascade_block(item, ())[1:-1]
    return [_plain(line) for line in lines if NOT_A_FORECAST not in line]


def _plain(line: str) -> str:
    """Our own markup off (b, i) and entities back: Discord renders markdown, not HTML."""
    return html.unescape(re.sub(r"</?[bi]>", "", line))


def _hhmm(ms: float) -> str:
    return time.strftime("%H:%M", time.gmtime(ms / 1000))


def phase_line(state: Any, figures: Any = None) -> str | None:
    """The card's line for a squeeze being resolved (state: `CascadeState`), or None.
    With the card's liquidation figures: a cascade the stream cannot see right now (the
    last 5 minutes under 90% covered) is said to be as last seen, not as now."""
    line = _phase_text(state)
    if line is None or state.side is None or figures is None:
        return line
    coverage = figures.windows["5m"].coverage
    if coverage < COVERED:
        line += f" (as last seen: the stream was live {coverage:.0%} of the last 5 min)"
    return line


COVERED = 0.9  # as the cascade's own floor (alerts.cascade_min_coverage, default)


def _phase_text(state: Any) -> str | None:
    if state is None:
        return None
    phase = state.phase()
    if phase is SqueezePhase.UNDER_WAY:
        who = SIDES.get(str(state.side), str(state.side))
        return (
            f"🌊 <b>{esc(_squeeze_name(state.squeeze))} under way</b>: {who} liquidated "
            f"{usd(state.forced_usd)} since {_hhmm(state.since_ms)} UTC"
        )
    if phase is SqueezePhase.FLUSHED:
        pct = state.flushed_oi_pct
        what = f": {pct:.2f}% of OI forced out" if finite(pct) else ""
        return f"🌊 <b>{esc(_squeeze_name(state.flushed))} flushed</b>{what}"
    if state.side is not None:
        who = SIDES.get(str(state.side), str(state.side))
        since = _hhmm(state.since_ms)
        return f"🌊 Cascade: {who} liquidated {usd(state.forced_usd)} since {since} UTC"
    return None
