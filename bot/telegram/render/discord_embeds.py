"""Alerts as a Discord webhook message: one embed per alert, in one message.

Discord takes at most 10 embeds and 6,000 characters of embed text per message, and
renders markdown, not HTML: so no `esc()` here, and values that could carry markdown
(rule names and text) go in code spans. A digest of more alerts than fit keeps all
but one as embeds and lists the rest, one line each, in the last (2,000 characters,
then "…"). One message is one outbox group, so a retry never sends half of it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.telegram.render.cascade import cascade_lines, cascade_title
from bot.telegram.render.format import BAND_ICON, finite, pct, short_symbol

MAX_EMBEDS = 10
REST_CHARS = 2000  # the tenth embed's list of the rest, well inside 6,000 in all
# Discord colours (decimal RGB): up red-orange, down green, squeeze amber, rule blue.
COLOUR = {
    "up": 0xE8590C,
    "down": 0x2F9E44,
    "squeeze": 0xF59F00,
    "rule": 0x1C7ED6,
    "liquidations": 0x7048E8,
}


def _code(text: object) -> str:
    return "`" + str(text).replace("`", "'") + "`"


def _title(item: Any, quotes: Sequence[str]) -> str:
    sym = short_symbol(item.symbol, quotes)
    if str(item.kind).startswith("rule:"):
        return f"📐 {sym} · rule {item.rule_name or 'rule'} holds · score {item.score}"
    if item.kind == "liquidations":
        return cascade_title(item, quotes)
    if item.kind == "squeeze":
        if item.direction == "enter":
            return f"⚠️ {sym} entered {item.to_regime or item.regime} · score {item.score}"
        return f"✅ {sym} left {item.from_regime or 'squeeze risk'} · score {item.score}"
    arrow = "🔺" if item.direction == "up" else "🔻"
    icon = BAND_ICON.get(str(item.to_band), "")
    return f"{arrow} {sym} {item.from_band} → {icon} {item.to_band} · score {item.score}"


def _colour(item: Any) -> int:
    if str(item.kind).startswith("rule:"):
        return COLOUR["rule"]
    if item.kind in ("squeeze", "liquidations"):
        return COLOUR[str(item.kind)]
    return COLOUR["up" if item.direction == "up" else "down"]


def alert_embed(item: Any, quotes: Sequence[str]) -> dict[str, Any]:
    lines = [f"{item.bias} · {item.regime} · {item.exchange}"]
    if str(item.kind).startswith("rule:") and getattr(item, "rule_text", None):
        lines.append(_code(item.rule_text))
    if item.kind == "liquidations":
        lines += cascade_lines(item)
    if any(finite(x) for x in (item.oi_24h_pct, item.funding_8h_pct, item.basis_pct)):
        lines.append(
            f"OI 24h {pct(item.oi_24h_pct, 1)} · funding 8h {pct(item.funding_8h_pct, 3)} · "
            f"basis {pct(item.basis_pct)}"
        )
    embed: dict[str, Any] = {
        "title": _title(item, quotes)[:256],
        "description": "\n".join(lines)[:1024],
        "color": _colour(item),
        "footer": {"text": "pressurebot · not a forecast"},
    }
    if item.event_ms:
        embed["timestamp"] = datetime.fromtimestamp(item.event_ms / 1000, UTC).isoformat()
    return embed


def _catchup_embed(items: Sequence[Any], quotes: Sequence[str]) -> dict[str, Any]:
    """Like the Telegram catch-up (render/alerts.py): the symbols' state now."""
    ordered = sorted(items, key=lambda i: (-i.score, i.symbol))
    lines = [
        f"{BAND_ICON.get(str(i.to_band), '')} {short_symbol(i.symbol, quotes)} now {i.to_band}"
        f" · score {i.score} · {i.bias} · {i.regime}"
        for i in ordered
    ]
    return {"title": "🔔 Catch-up: what changed while alerts were held", **_listed(lines)}


def _cap_embed(items: Sequence[Any], quotes: Sequence[str]) -> dict[str, Any]:
    names = sorted({short_symbol(i.symbol, quotes) for i in items})
    return {
        "title": "⏸ Daily limit reached",
        "description": (
            f"{len(items)} more held until tomorrow ({', '.join(names[:10])}"
            f"{' …' if len(names) > 10 else ''}), and so is anything later today. "
            "Tomorrow starts with one catch-up of what changed."
        ),
    }


def _listed(lines: list[str]) -> dict[str, str]:
    text = "\n".join(lines)
    if len(text) > REST_CHARS:
        text = text[: REST_CHARS - 1].rsplit("\n", 1)[0] + "\n…"
    return {"description": text}


def discord_message(items: Sequence[Any], quotes: Sequence[str] = ("USDT",)) -> dict[str, Any]:
    """The webhook's JSON: a catch-up first, the alerts, then the daily-cap note (as
    `render.outbox_message` orders them), embeds only, and no mention can ping anyone."""
    by_note: dict[str, list[Any]] = {}
    for item in items:
        by_note.setdefault(getattr(item, "note", "alert"), []).append(item)
    head = [_catchup_embed(by_note["catchup"], quotes)] if by_note.get("catchup") else []
    tail = [_cap_embed(by_note["cap_note"], quotes)] if by_note.get("cap_note") else []
    alerts = sorted(by_note.get("alert", []), key=lambda i: (-i.score, i.symbol))
    room = MAX_EMBEDS - len(head) - len(tail)
    if len(alerts) <= room:
        body = [alert_embed(i, quotes) for i in alerts]
    else:
        body = [alert_embed(i, quotes) for i in alerts[: room - 1]]
        rest = alerts[room - 1 :]
        lines = [_title(i, quotes) for i in rest]
        body.append({"title": f"and {len(rest)} more alerts", **_listed(lines)})
    return {"embeds": head + body + tail, "allowed_mentions": {"parse": []}}


def discord_test_message(label: str) -> dict[str, Any]:
    return {
        "content": f"✅ pressurebot test: alerts for this chat will arrive here ({label}).",
        "allowed_mentions": {"parse": []},
    }
