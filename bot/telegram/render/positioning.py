"""The /symbol card's long/short positioning line (fields from bot/views/positioning.py)."""

from __future__ import annotations

from collections.abc import Mapping

from bot.telegram.render.format import finite


def long_share(ratio: float) -> str:
    """The share of longs a long/short ratio means: 1.5 -> "60% long"."""
    return f"{ratio / (1 + ratio):.0%} long"


def positioning_lines(fields: Mapping[str, float | None] | None, exchange: str) -> list[str]:
    """E.g. "L/S accounts <b>1.52</b> (60% long) · top traders' positions 1.10 (52% long)";
    nothing while neither ratio is known (not fetched yet, or stale)."""
    if not fields:
        return []
    account, top = fields.get("ls_account_ratio"), fields.get("ls_top_position_ratio")
    parts = []
    if finite(account):
        where = ", OI-weighted over venues" if exchange == "all" else ""
        parts.append(f"L/S accounts <b>{account:.2f}</b> ({long_share(account)}{where})")
    if finite(top):
        who = "Binance top traders" if exchange == "all" else "top traders"
        parts.append(f"{who}' positions {top:.2f} ({long_share(top)})")
    return [" · ".join(parts)] if parts else []
