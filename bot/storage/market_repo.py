"""Named queries for market data, cycles and retention.

Every function takes an open `AsyncSession`; the caller owns the transaction. Alert and
subscription queries live in `bot.storage.alert_repo`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import CursorResult, Result, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.scoring.aggregate import ALL
from bot.storage.models import (
    AggregateVenue,
    AlertEvent,
    Base,
    Cycle,
    Delivery,
    Instrument,
    OiSample,
    ScoreSnapshot,
)


def rowcount(result: Result[*tuple[Any, ...]]) -> int:
    """Rows an UPDATE or DELETE matched (0 when the driver does not say).

    `AsyncSession.execute` is typed to return a plain Result, but for DML it returns a
    CursorResult, which is the one that has `rowcount` (SQLAlchemy's documented cast)."""
    return cast(CursorResult[*tuple[Any, ...]], result).rowcount or 0


async def insert_ignore(
    session: AsyncSession, model: type[Base], rows: Sequence[Mapping[str, Any]]
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, in the dialect's own spelling.

    Idempotency rests on unique keys: re-running a cycle must never duplicate a row.
    """
    if not rows:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # One statement, many parameter sets: SQLAlchemy caches the compiled statement and
    # batches the rows itself. A literal multi-row VALUES would be recompiled every call
    # (15 s of CPU for a 180k-row backfill, against 2 s this way).
    await session.execute(insert_fn(model).on_conflict_do_nothing(), list(rows))


# ---------------------------------------------------------------- instruments


async def sync_instruments(
    session: AsyncSession, exchange: str, instruments: Iterable[Any], now_ms: int
) -> None:
    """Mirror the exchange universe: add new symbols, mark vanished ones inactive."""
    existing = {
        row.symbol: row
        for row in (
            await session.scalars(select(Instrument).where(Instrument.exchange == exchange))
        ).all()
    }
    seen: set[str] = set()
    for inst in instruments:
        seen.add(inst.symbol)
        row = existing.get(inst.symbol)
        if row is None:
            session.add(
                Instrument(
                    exchange=exchange,
                    symbol=inst.symbol,
                    base_asset=inst.base_asset,
                    quote_asset=inst.quote_asset,
                    onboard_ms=inst.onboard_ms,
                    first_seen_ms=now_ms,
                    last_seen_ms=now_ms,
                    active=True,
                )
            )
        else:
            row.last_seen_ms = now_ms
            row.active = True
    for symbol, row in existing.items():
        if symbol not in seen and row.active:
            row.active = False


async def active_symbols(session: AsyncSession, exchange: str) -> list[str]:
    if exchange == ALL:  # no instruments of its own: the coins of its latest cycle
        cycle = await latest_cycle(session, exchange)
        if cycle is None:
            return []
        coins = await session.scalars(
            select(ScoreSnapshot.symbol)
            .where(ScoreSnapshot.cycle_id == cycle.id)
            .order_by(ScoreSnapshot.symbol)
        )
        return list(coins.all())
    rows = await session.scalars(
        select(Instrument.symbol)
        .where(Instrument.exchange == exchange, Instrument.active.is_(True))
        .order_by(Instrument.symbol)
    )
    return list(rows.all())


async def stored_universe(
    session: AsyncSession, exchange: str
) -> list[tuple[str, str, str, int | None]]:
    """(symbol, base_asset, quote_asset, onboard_ms) of the venue's active instruments:
    what it listed when it last answered, for a venue failing since start-up."""
    rows = await session.execute(
        select(
            Instrument.symbol, Instrument.base_asset, Instrument.quote_asset, Instrument.onboard_ms
        )
        .where(Instrument.exchange == exchange, Instrument.active.is_(True))
        .order_by(Instrument.symbol)
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows.all()]


# ---------------------------------------------------------------- OI samples


async def oi_samples_between(
    session: AsyncSession, exchange: str, ranges: Sequence[tuple[int, int]]
) -> dict[str, list[tuple[int, float]]]:
    """Samples per symbol inside any of the [lo, hi] ranges, oldest first.

    The scorer asks for a few narrow ranges (one per window), so this stays a few
    thousand rows even for the whole universe.
    """
    out: dict[str, list[tuple[int, float]]] = {}
    for lo, hi in ranges:
        result = await session.execute(
            select(OiSample.symbol, OiSample.ts_ms, OiSample.contracts).where(
                OiSample.exchange == exchange, OiSample.ts_ms >= lo, OiSample.ts_ms <= hi
            )
        )
        for symbol, ts_ms, contracts in result.all():
            out.setdefault(symbol, []).append((ts_ms, contracts))
    for samples in out.values():
        samples.sort()
    return out


# ---------------------------------------------------------------- cycles and snapshots


async def latest_cycle(session: AsyncSession, exchange: str) -> Cycle | None:
    """The newest cycle that produced scores.

    Ordered by finished_ms so (exchange, finished_ms) serves both filter and order: by
    id, SQLite sorted every retained cycle (8640 of them at 30 days) on each call.
    """
    return await session.scalar(
        select(Cycle)
        .where(Cycle.exchange == exchange, Cycle.symbols_fetched > 0)
        .order_by(Cycle.finished_ms.desc(), Cycle.id.desc())
        .limit(1)
    )


async def aggregate_parts(
    session: AsyncSession, cycle_id: int, columns: Sequence[str]
) -> list[tuple[Any, ...]]:
    """(coin, *columns) of each venue's part in the cycle's aggregates, largest first,
    missing venues last."""
    cols = [getattr(AggregateVenue, c) for c in columns]
    rows = await session.execute(
        select(AggregateVenue.coin, *cols)
        .where(AggregateVenue.cycle_id == cycle_id)
        .order_by(
            AggregateVenue.coin,
            AggregateVenue.missing,
            AggregateVenue.oi_usd.desc(),
            AggregateVenue.venue,
        )
    )
    return [tuple(r) for r in rows]


async def last_attempted_cycle(session: AsyncSession, exchange: str) -> Cycle | None:
    return await session.scalar(
        select(Cycle)
        .where(Cycle.exchange == exchange)
        .order_by(Cycle.finished_ms.desc(), Cycle.id.desc())
        .limit(1)
    )


async def cycle_snapshots(session: AsyncSession, cycle_id: int) -> list[ScoreSnapshot]:
    rows = await session.scalars(
        select(ScoreSnapshot)
        .where(ScoreSnapshot.cycle_id == cycle_id)
        .order_by(ScoreSnapshot.score.desc(), ScoreSnapshot.symbol)
    )
    return list(rows.all())


async def cycle_snapshot_values(
    session: AsyncSession, cycle_id: int, columns: Sequence[str]
) -> list[tuple[Any, ...]]:
    """The named snapshot columns of one cycle, score-descending, as plain tuples.

    /top's hot path: building 600 ORM objects cost more than the query itself.
    """
    cols = [getattr(ScoreSnapshot, name) for name in columns]
    result = await session.execute(
        select(*cols)
        .where(ScoreSnapshot.cycle_id == cycle_id)
        .order_by(ScoreSnapshot.score.desc(), ScoreSnapshot.symbol)
    )
    return [tuple(row) for row in result.all()]


async def latest_snapshot(
    session: AsyncSession, exchange: str, symbol: str
) -> ScoreSnapshot | None:
    return await session.scalar(
        select(ScoreSnapshot)
        .where(ScoreSnapshot.exchange == exchange, ScoreSnapshot.symbol == symbol)
        .order_by(ScoreSnapshot.ts_ms.desc())
        .limit(1)
    )


class HistoryPoint(NamedTuple):
    """One cycle of a symbol as the /symbol chart draws it (score, OI, funding, basis)."""

    ts_ms: int
    score: int
    oi_contracts: float
    funding_8h_pct: float
    basis_pct: float


async def score_history(
    session: AsyncSession, exchange: str, symbol: str, since_ms: int
) -> list[HistoryPoint]:
    """The /symbol chart's points, oldest first: the columns come from the same index
    range as the score, so the extra panels cost no extra query."""
    s = ScoreSnapshot
    result = await session.execute(
        select(s.ts_ms, s.score, s.oi_contracts, s.funding_8h_pct, s.basis_pct)
        .where(s.exchange == exchange, s.symbol == symbol, s.ts_ms >= since_ms)
        .order_by(s.ts_ms)
    )
    return [
        HistoryPoint(int(ts), int(score), float(oi), float(f8), float(basis))
        for ts, score, oi, f8, basis in result.all()
    ]


async def count_rows(session: AsyncSession, model: type[Base]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# ---------------------------------------------------------------- retention


async def oldest_times(session: AsyncSession) -> tuple[int | None, int | None, int | None]:
    """Oldest OI sample, snapshot and alert event (each table is indexed on its time)."""
    return (
        await session.scalar(select(func.min(OiSample.ts_ms))),
        await session.scalar(select(func.min(ScoreSnapshot.ts_ms))),
        await session.scalar(select(func.min(AlertEvent.created_ms))),
    )


async def prune(
    session: AsyncSession,
    *,
    oi_before_ms: int,
    snapshots_before_ms: int,
    events_before_ms: int,
) -> dict[str, int]:
    """Delete rows past their retention. Pending deliveries are never pruned."""
    deleted: dict[str, int] = {}
    res = await session.execute(delete(OiSample).where(OiSample.ts_ms < oi_before_ms))
    deleted["oi_samples"] = rowcount(res)
    res = await session.execute(
        delete(ScoreSnapshot).where(ScoreSnapshot.ts_ms < snapshots_before_ms)
    )
    deleted["score_snapshots"] = rowcount(res)
    res = await session.execute(
        delete(AggregateVenue).where(AggregateVenue.ts_ms < snapshots_before_ms)
    )
    deleted["aggregate_venues"] = rowcount(res)
    old_events = select(AlertEvent.id).where(AlertEvent.created_ms < events_before_ms)
    pending_events = select(Delivery.event_id).where(Delivery.status == "pending")
    res = await session.execute(
        delete(Delivery).where(Delivery.event_id.in_(old_events), Delivery.status != "pending")
    )
    deleted["deliveries"] = rowcount(res)
    res = await session.execute(
        delete(AlertEvent).where(
            AlertEvent.created_ms < events_before_ms, AlertEvent.id.not_in(pending_events)
        )
    )
    deleted["alert_events"] = rowcount(res)
    # Cycles are tiny, but unbounded; keep them as long as the snapshots.
    referenced = select(AlertEvent.cycle_id)
    res = await session.execute(
        delete(Cycle).where(Cycle.finished_ms < snapshots_before_ms, Cycle.id.not_in(referenced))
    )
    deleted["cycles"] = rowcount(res)
    return deleted


async def mark_instrument_inactive(session: AsyncSession, exchange: str, symbol: str) -> None:
    await session.execute(
        update(Instrument)
        .where(Instrument.exchange == exchange, Instrument.symbol == symbol)
        .values(active=False)
    )


async def snapshot_series(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    since_ms: int,
    columns: Sequence[str],
    max_points: int | None = None,
) -> list[tuple[Any, ...]]:
    """(ts_ms, *columns) of one symbol's snapshots since `since_ms`, oldest first: the web
    dashboard's charts. Served by ix_score_snapshots_symbol_ts, like `score_history`.

    With `max_points`, a longer span is thinned to evenly spaced cycles (the newest kept)
    before reading: 30 days are 8640 rows a symbol, and reading 720 of them is about 5x
    faster than reading all and dropping most."""
    cols = [getattr(ScoreSnapshot, name) for name in columns]
    query = select(ScoreSnapshot.ts_ms, *cols).where(
        ScoreSnapshot.exchange == exchange,
        ScoreSnapshot.symbol == symbol,
        ScoreSnapshot.ts_ms >= since_ms,
    )
    if max_points is not None:
        ids = list(
            await session.scalars(
                select(Cycle.id)
                .where(Cycle.exchange == exchange, Cycle.finished_ms >= since_ms)
                .order_by(Cycle.finished_ms, Cycle.id)
            )
        )
        if len(ids) > max_points:
            step = -(-len(ids) // max_points)
            query = query.where(ScoreSnapshot.cycle_id.in_([*ids[-1::-step]]))
    result = await session.execute(query.order_by(ScoreSnapshot.ts_ms))
    return [tuple(row) for row in result.all()]
