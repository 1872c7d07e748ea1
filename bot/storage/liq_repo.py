"""Liquidation buckets and stream coverage: batched idempotent writes, window reads.

Every write replaces a row with the writer's total so far (ON CONFLICT DO UPDATE SET
the new values, never `+`), keyed by the writer's lease epoch: a flush retried after an
unknown outcome, or a bucket flushed again as it grows, cannot add up twice. Reads sum
over epochs (one holder at a time writes under the lease). Like every repository
function, these never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.market_repo import rowcount
from bot.storage.models import Base, LiqBucket, LiqCoverage

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
# (venue, symbol, side, minute_ms, usd, qty, events)
BucketTuple = tuple[str, str, str, int, float, float, int]
CoverageTuple = tuple[str, int, int]  # venue, minute_ms, live_ms


async def _replace_many(
    session: AsyncSession,
    model: type[Base],
    keys: tuple[str, ...],
    values: tuple[str, ...],
    rows: list[dict[str, Any]],
) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(model)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={v: stmt.excluded[v] for v in values}
    )
    await session.execute(stmt, rows)


async def write_buckets(session: AsyncSession, epoch: int, rows: Sequence[BucketTuple]) -> None:
    """Each bucket's total so far from this writer (epoch), replacing what it wrote before."""
    await _replace_many(
        session,
        LiqBucket,
        ("venue", "symbol", "side", "minute_ms", "epoch"),
        ("usd", "qty", "events"),
        [
            {
                "venue": v,
                "symbol": s,
                "side": side,
                "minute_ms": m,
                "epoch": epoch,
                "usd": usd,
                "qty": qty,
                "events": n,
            }
            for v, s, side, m, usd, qty, n in rows
        ],
    )


async def write_coverage(session: AsyncSession, epoch: int, rows: Sequence[CoverageTuple]) -> None:
    await _replace_many(
        session,
        LiqCoverage,
        ("venue", "minute_ms", "epoch"),
        ("live_ms",),
        [{"venue": v, "minute_ms": m, "epoch": epoch, "live_ms": ms} for v, m, ms in rows],
    )


async def window_totals(
    session: AsyncSession, since_ms: int, until_ms: int
) -> dict[tuple[str, str, str], tuple[float, float, int]]:
    """(venue, symbol, side) -> (usd, qty, events) over [since, until), all epochs."""
    stmt = (
        select(
            LiqBucket.venue,
            LiqBucket.symbol,
            LiqBucket.side,
            func.sum(LiqBucket.usd),
            func.sum(LiqBucket.qty),
            func.sum(LiqBucket.events),
        )
        .where(LiqBucket.minute_ms >= since_ms, LiqBucket.minute_ms < until_ms)
        .group_by(LiqBucket.venue, LiqBucket.symbol, LiqBucket.side)
    )
    return {
        (v, s, side): (float(usd), float(qty), int(n))
        for v, s, side, usd, qty, n in (await session.execute(stmt)).all()
    }


async def window_sums(
    session: AsyncSession, starts: Sequence[int], until_ms: int
) -> dict[tuple[str, str, str], list[float]]:
    """(venue, symbol, side) -> USD over [start, until) for each of `starts`, all
    epochs, in one pass over the widest window."""
    sums = [
        func.sum(case((LiqBucket.minute_ms >= start, LiqBucket.usd), else_=0.0)) for start in starts
    ]
    stmt = (
        select(LiqBucket.venue, LiqBucket.symbol, LiqBucket.side, *sums)
        .where(LiqBucket.minute_ms >= min(starts), LiqBucket.minute_ms < until_ms)
        .group_by(LiqBucket.venue, LiqBucket.symbol, LiqBucket.side)
    )
    return {
        (row[0], row[1], row[2]): [float(x or 0.0) for x in row[3:]]
        for row in (await session.execute(stmt)).all()
    }


async def side_minutes(
    session: AsyncSession, keys: Sequence[tuple[str, str]], since_ms: int, until_ms: int
) -> list[tuple[int, str, float]]:
    """(minute, side, USD) of the given (venue, symbol)s over [since, until), venues and
    epochs summed, oldest first: a chart's liquidations panel."""
    if not keys:
        return []
    which = or_(*(and_(LiqBucket.venue == v, LiqBucket.symbol == s) for v, s in keys))
    stmt = (
        select(LiqBucket.minute_ms, LiqBucket.side, func.sum(LiqBucket.usd))
        .where(which, LiqBucket.minute_ms >= since_ms, LiqBucket.minute_ms < until_ms)
        .group_by(LiqBucket.minute_ms, LiqBucket.side)
        .order_by(LiqBucket.minute_ms)
    )
    return [(int(m), side, float(usd)) for m, side, usd in (await session.execute(stmt)).all()]


async def live_ms_by_minute(
    session: AsyncSession, since_ms: int, until_ms: int
) -> dict[str, dict[int, int]]:
    """venue -> minute -> live ms (epochs summed, at most a minute) over [since, until)."""
    stmt = (
        select(LiqCoverage.venue, LiqCoverage.minute_ms, func.sum(LiqCoverage.live_ms))
        .where(LiqCoverage.minute_ms >= since_ms, LiqCoverage.minute_ms < until_ms)
        .group_by(LiqCoverage.venue, LiqCoverage.minute_ms)
    )
    out: dict[str, dict[int, int]] = {}
    for venue, minute, live in (await session.execute(stmt)).all():
        out.setdefault(venue, {})[int(minute)] = min(MINUTE_MS, int(live))
    return out


async def hourly_usd(
    session: AsyncSession, since_ms: int, until_ms: int
) -> dict[tuple[str, str], dict[int, float]]:
    """(venue, symbol) -> hour start -> USD liquidated (both sides), for the normals."""
    hour = LiqBucket.minute_ms // HOUR_MS  # integer division on both databases
    stmt = (
        select(LiqBucket.venue, LiqBucket.symbol, hour, func.sum(LiqBucket.usd))
        .where(LiqBucket.minute_ms >= since_ms, LiqBucket.minute_ms < until_ms)
        .group_by(LiqBucket.venue, LiqBucket.symbol, hour)
    )
    out: dict[tuple[str, str], dict[int, float]] = {}
    for venue, symbol, h, usd in (await session.execute(stmt)).all():
        out.setdefault((venue, symbol), {})[int(h) * HOUR_MS] = float(usd)
    return out


async def prune(session: AsyncSession, before_ms: int) -> int:
    """Delete buckets and coverage older than `before_ms` (30-day retention)."""
    res = await session.execute(delete(LiqBucket).where(LiqBucket.minute_ms < before_ms))
    deleted = rowcount(res)
    res = await session.execute(delete(LiqCoverage).where(LiqCoverage.minute_ms < before_ms))
    return deleted + rowcount(res)
