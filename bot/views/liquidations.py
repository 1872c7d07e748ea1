"""Each market row's liquidation fields from the stored buckets
(bot/liquidations/windows.py): a venue's symbol, or a coin summed over its venues."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.liquidations.figures import Key, LiqReader
from bot.liquidations.windows import HOUR_MS, LiqFigures, combine, coverage_share, per_interval
from bot.scoring.aggregate import ALL
from bot.storage import cascade_repo, leases, liq_repo
from bot.storage.leases import LeaseInfo
from bot.views.liquidation_fields import LS_KEYS, RowFields
from bot.views.market import MarketRow, MarketSnapshot, VenuePart


async def squeeze_phases(session: AsyncSession, exchange: str) -> dict[str, str]:
    """symbol (or coin) -> its squeeze phase ("under_way" | "flushed", the card's 🌊
    line) where it has one: the rows' `squeeze_phase` key."""
    states = await cascade_repo.load(session, exchange)
    return {symbol: phase.value for symbol, st in states.items() if (phase := st.phase())}


async def row_fields(
    session: AsyncSession, snapshot: MarketSnapshot, reader: LiqReader
) -> dict[str, RowFields]:
    """symbol (or coin) -> its fields, windows ending at the snapshot's time."""
    if snapshot.exchange == ALL:
        return await _coin_fields(session, snapshot, reader)
    oi = {(snapshot.exchange, r.symbol): r.oi_contracts * r.mark_price for r in snapshot.rows}
    figures = await reader.read(session, snapshot.generated_ms, oi)
    return {key[1]: _fields(fig) for key, fig in figures.items()}


async def _coin_fields(
    session: AsyncSession, snapshot: MarketSnapshot, reader: LiqReader
) -> dict[str, RowFields]:
    per_coin: dict[str, list[Key]] = {}
    oi: dict[Key, float | None] = {}
    for row in snapshot.rows:
        for part in snapshot.venues.get(row.symbol, []):
            for symbol in filter(None, part.symbols.split(",")):
                per_coin.setdefault(row.symbol, []).append((part.venue, symbol))
                oi[(part.venue, symbol)] = None
    figures = await reader.read(session, snapshot.generated_ms, oi)
    out: dict[str, RowFields] = {}
    for coin, keys in per_coin.items():
        coin_oi = sum(p.oi_usd or 0.0 for p in snapshot.venues.get(coin, [])) or None
        out[coin] = _fields(combine([figures[k] for k in keys], coin_oi))
    return out


async def symbol_figures(
    session: AsyncSession,
    exchange: str,
    row: MarketRow,
    parts: Sequence[VenuePart],
    now_ms: int,
    reader: LiqReader,
) -> LiqFigures:
    """One card's figures, windows ending `now_ms`: a venue's symbol, or a coin's
    venues summed (`parts`, the aggregate's)."""
    if exchange != ALL:
        key = (exchange, row.symbol)
        got = await reader.read(session, now_ms, {key: row.oi_contracts * row.mark_price})
        return got[key]
    keys = [(p.venue, s) for p in parts for s in filter(None, p.symbols.split(","))]
    got = await reader.read(session, now_ms, dict.fromkeys(keys))
    coin_oi = sum(p.oi_usd or 0.0 for p in parts) or None
    return combine([got[k] for k in keys], coin_oi)


ChartPoint = tuple[float, ...]


async def chart_points(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    history: Sequence[Sequence[float]],
    parts: Sequence[VenuePart] = (),
) -> list[ChartPoint]:
    """The /symbol chart's points (`HistoryPoint`s) with the USD of longs and of shorts
    liquidated in each interval appended: the chart's liquidations panel, as the web
    symbol page's (`per_interval`). A coin sums its venues' contracts (`parts`)."""
    if not history:
        return []
    keys = [(exchange, symbol)]
    if exchange == ALL:
        keys = [(p.venue, s) for p in parts for s in filter(None, p.symbols.split(","))]
    times = [int(p[0]) for p in history]
    # From one interval before the first point: the first point's own minutes.
    since = times[0] - (times[1] - times[0] if len(times) > 1 else HOUR_MS)
    minutes = await liq_repo.side_minutes(session, keys, since, times[-1] + 1)
    longs, shorts = per_interval(times, minutes)
    return [(*p, lo, sh) for p, lo, sh in zip(history, longs, shorts, strict=True)]


def ranked_by_liquidations(
    rows: Sequence[MarketRow], fields: Mapping[str, RowFields]
) -> list[MarketRow]:
    """The rows with liquidations in the last hour, the largest share of OI first (then
    the largest in USD, for a row whose OI is unknown)."""

    def total(symbol: str) -> float:
        f = fields.get(symbol, {})
        return (f.get("liq_1h_long_usd") or 0.0) + (f.get("liq_1h_short_usd") or 0.0)

    found = [r for r in rows if total(r.symbol) > 0]
    found.sort(key=lambda r: (fields[r.symbol].get("liq_1h_oi_pct") or -1.0, total(r.symbol)))
    return found[::-1]


def _fields(figures: LiqFigures) -> RowFields:
    return {**figures.fields(), **dict.fromkeys(LS_KEYS)}


STATUS_WINDOW_MS = 15 * 60_000


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """For /status, from the database (any replica can answer): who holds the streams
    and what share of the last 15 minutes each venue's stream was live."""

    lease: LeaseInfo | None
    coverage: dict[str, float]


async def stream_status(session: AsyncSession, venues: Sequence[str], now_ms: int) -> StreamStatus:
    since = now_ms - STATUS_WINDOW_MS
    live = await liq_repo.live_ms_by_minute(session, since - since % 60_000, now_ms + 1)
    start = since - since % 60_000
    coverage = {v: coverage_share(live.get(v, {}), start, now_ms) for v in venues}
    return StreamStatus(await leases.current(session, leases.LIQUIDATIONS), coverage)
