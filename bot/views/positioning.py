"""Each market row's long/short positioning (`ls_account_ratio`,
`ls_top_position_ratio`) from the stored ratios (bot/storage/positioning_repo.py).

A ratio shows while its venue time is within `FRESH_MS` of the row's time, null after
(a symbol the budget has not reached yet, or an endpoint that keeps failing). A coin
("all") takes the OI-weighted mean of its venues' long shares (ratio / (1 + ratio)),
turned back into a ratio: averaging the ratios themselves would weigh 4.0 and 0.25 as a
crowd long, where the shares (80% and 20%) balance. Venues without a fresh ratio or
without a known OI are left out; none left: null. docs/scoring.md says more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.scoring.aggregate import ALL
from bot.storage import market_repo, positioning_repo
from bot.storage.models import LsRatio
from bot.views.liquidation_fields import LS_KEYS, RowFields
from bot.views.market import MarketRow, MarketSnapshot, VenuePart

# Three 5-minute periods and then some: the priority symbols are refreshed every
# period, the rest as the budget turns round to them (about every 10 min on Binance).
FRESH_MS = 30 * 60_000


def _fresh(value: float | None, at: int | None, now_ms: int) -> float | None:
    if value is None or at is None or at < now_ms - FRESH_MS:
        return None
    return value


def _own(row: LsRatio | None, now_ms: int) -> RowFields:
    if row is None:
        return dict.fromkeys(LS_KEYS)
    return {
        "ls_account_ratio": _fresh(row.account_ratio, row.account_ms, now_ms),
        "ls_top_position_ratio": _fresh(row.top_position_ratio, row.top_position_ms, now_ms),
    }


def _weighted(pairs: list[tuple[float, float]]) -> float | None:
    """OI-weighted mean of the long shares of (ratio, weight) pairs, as a ratio."""
    total = sum(w for _, w in pairs)
    if total <= 0:
        return None
    share = sum(r / (1 + r) * w for r, w in pairs) / total
    return share / (1 - share) if share < 1 else None


def combine(
    parts: Sequence[VenuePart], stored: dict[tuple[str, str], LsRatio], now_ms: int
) -> RowFields:
    """A coin's fields from its venues' contracts (`parts`, the aggregate's)."""
    pairs: dict[str, list[tuple[float, float]]] = {k: [] for k in LS_KEYS}
    for part in parts:
        symbols = [s for s in part.symbols.split(",") if s]
        if not symbols or not part.oi_usd or part.oi_usd <= 0:
            continue
        for symbol in symbols:
            own = _own(stored.get((part.venue, symbol)), now_ms)
            for key in LS_KEYS:
                value = own[key]
                if value is not None:  # the part's OI shared among its contracts
                    pairs[key].append((value, part.oi_usd / len(symbols)))
    return {key: _weighted(pairs[key]) for key in LS_KEYS}


async def row_fields(session: AsyncSession, snapshot: MarketSnapshot) -> dict[str, RowFields]:
    """symbol (or coin) -> its positioning fields as of the snapshot's time."""
    now = snapshot.generated_ms
    if snapshot.exchange != ALL:
        stored = await positioning_repo.read(session, [snapshot.exchange])
        return {
            r.symbol: _own(stored.get((snapshot.exchange, r.symbol)), now) for r in snapshot.rows
        }
    venues = {p.venue for parts in snapshot.venues.values() for p in parts}
    stored = await positioning_repo.read(session, venues)
    return {
        r.symbol: combine(snapshot.venues.get(r.symbol, []), stored, now) for r in snapshot.rows
    }


async def symbol_fields(
    session: AsyncSession, exchange: str, row: MarketRow, parts: Sequence[VenuePart], now_ms: int
) -> RowFields:
    """One card's fields: a venue's symbol, or a coin over its venues (`parts`)."""
    if exchange != ALL:
        stored = await positioning_repo.read(session, [exchange], [row.symbol])
        return _own(stored.get((exchange, row.symbol)), now_ms)
    symbols = {s for p in parts for s in p.symbols.split(",") if s}
    stored = await positioning_repo.read(session, {p.venue for p in parts}, symbols)
    return combine(parts, stored, now_ms)


@dataclass(frozen=True, slots=True)
class PositioningStatus:
    """For /status, from the database (any replica can answer): per venue, how many
    symbols have a fresh account ratio, of how many its last cycle scored."""

    fresh: dict[str, tuple[int, int]]


async def positioning_status(
    session: AsyncSession, venues: Sequence[str], now_ms: int
) -> PositioningStatus:
    counts = await positioning_repo.fresh_counts(session, now_ms - FRESH_MS)
    fresh = {}
    for venue in venues:
        cycle = await market_repo.latest_cycle(session, venue)
        fresh[venue] = (counts.get(venue, 0), cycle.symbols_fetched if cycle else 0)
    return PositioningStatus(fresh)
