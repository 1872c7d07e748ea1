"""The per-symbol cascade state (bot/alerts/cascade.py): load, save, read for a card.

Only symbols with something to remember have a row; a state handed back quiet deletes
its row. Like every repository function, these never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.types import CascadeSide, CascadeState
from bot.scoring.formula import Regime
from bot.storage.market_repo import rowcount
from bot.storage.models import AlertCascade, Cycle

_COLUMNS = (
    "side",
    "since_ms",
    "window_start_ms",
    "forced_usd",
    "squeeze",
    "calm_count",
    "flushed",
    "flushed_left",
    "flushed_oi_pct",
    "last_cycle_id",
)


async def load(session: AsyncSession, exchange: str) -> dict[str, CascadeState]:
    """Every symbol's state on one exchange; a row this version cannot read (a renamed
    regime) is left out, so that symbol starts quiet rather than failing each cycle."""
    rows = await session.scalars(select(AlertCascade).where(AlertCascade.exchange == exchange))
    out: dict[str, CascadeState] = {}
    for row in rows:
        state = _state(row)
        if state is not None:
            out[row.symbol] = state
    return out


async def one(session: AsyncSession, exchange: str, symbol: str) -> CascadeState | None:
    row = await session.get(AlertCascade, (exchange, symbol))
    return None if row is None else _state(row)


async def save(session: AsyncSession, exchange: str, states: Mapping[str, CascadeState]) -> None:
    """Replace the rows of these symbols: quiet states go, the others are written."""
    if not states:
        return
    await session.execute(
        delete(AlertCascade).where(
            AlertCascade.exchange == exchange, AlertCascade.symbol.in_(sorted(states))
        )
    )
    rows = [_row(exchange, s, st) for s, st in states.items() if not st.quiet()]
    if rows:
        await session.execute(insert(AlertCascade), rows)


async def prune(session: AsyncSession, before_ms: int) -> int:
    """Delete the rows of symbols not stepped by a cycle started at or after
    `before_ms` (or whose last cycle is gone): a symbol delisted or out of the scored
    universe, or a venue no longer scored, is never stepped again, so its row would
    otherwise say "under way" or "flushed" on its card for ever. Returns how many."""
    stepped = select(Cycle.id).where(
        Cycle.id == AlertCascade.last_cycle_id, Cycle.started_ms >= before_ms
    )
    res = await session.execute(delete(AlertCascade).where(~exists(stepped)))
    return rowcount(res)


def _row(exchange: str, symbol: str, st: CascadeState) -> dict[str, Any]:
    values: dict[str, Any] = {"exchange": exchange, "symbol": symbol}
    for name in _COLUMNS:
        value = getattr(st, name)
        values[name] = value.value if isinstance(value, CascadeSide | Regime) else value
    return values


def _state(row: AlertCascade) -> CascadeState | None:
    try:
        return CascadeState(
            side=CascadeSide(row.side) if row.side else None,
            since_ms=row.since_ms,
            window_start_ms=row.window_start_ms,
            forced_usd=row.forced_usd,
            squeeze=Regime(row.squeeze) if row.squeeze else None,
            calm_count=row.calm_count,
            flushed=Regime(row.flushed) if row.flushed else None,
            flushed_left=row.flushed_left,
            flushed_oi_pct=row.flushed_oi_pct,
            last_cycle_id=row.last_cycle_id,
        )
    except ValueError:
        return None
