"""The hourly store: one compact row per (exchange, symbol, hour), kept for a year.

Written by every scoring cycle, in its transaction, as one upsert per scored symbol
(`upsert_cycle`). A cycle started at t belongs to the hour stamped E = t rounded up to
the hour (the hour (E-1h, E], stamped at its end like the shipped history). The upsert
is idempotent and order-free, so a rewrite of the same cycle, two replicas across a
takeover, or a late write of an earlier cycle never corrupts a row:
- `high` / `low` keep the larger / smaller of the stored and the new mark;
- the close values (score, inputs, labels, mark, index) come from the cycle with the
  latest start (`last_ms`); an earlier cycle written later leaves them as they are.

Reads for other parts: `symbol_hours` (one symbol between two times), `hours_between`
(every symbol of a range, optionally one exchange), `stored_spans` (what the store
holds per exchange), and `window_values` (the percentile book's windows). Like every
repository function, these never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, cast

from sqlalchemy import Table, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from bot.scoring.result import CycleResult
from bot.storage.market_repo import rowcount
from bot.storage.models import HourlyRow

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class HourlyRecord:
    """One stored hour (the columns of `HourlyRow`, see bot/storage/models/market.py)."""

    exchange: str
    symbol: str
    hour_ms: int
    last_ms: int
    score: int
    band: str
    bias: str
    regime: str
    oi_contracts: float
    oi_1h_pct: float | None
    oi_4h_pct: float | None
    oi_24h_pct: float | None
    funding_pct: float
    funding_interval_hours: int
    funding_8h_pct: float
    funding_premium: float
    basis_pct: float
    mark_price: float
    index_price: float
    high: float
    low: float


COLUMNS = tuple(f.name for f in fields(HourlyRecord))
_KEYS = ("exchange", "symbol", "hour_ms")
_EXTREMES = ("high", "low")


def hour_of(ts_ms: int) -> int:
    """The stamp of the hour a moment belongs to: its end (a moment on the hour is the
    end of the hour before it, as a row of the shipped history is)."""
    return -(-ts_ms // HOUR_MS) * HOUR_MS


def cycle_rows(result: CycleResult) -> list[tuple[object, ...]]:
    """COLUMNS per scored symbol of a cycle; high and low start at this cycle's mark."""
    hour, last = hour_of(result.started_ms), result.started_ms
    rows: list[tuple[object, ...]] = []
    for s in result.scores:
        sc = s.score
        rows.append(
            (
                s.exchange,
                s.symbol,
                hour,
                last,
                sc.score,
                sc.band.value,
                sc.bias.value,
                sc.regime.value,
                s.oi_contracts,
                s.oi_1h_pct,
                s.oi_4h_pct,
                s.oi_24h_pct,
                s.funding_pct,
                s.funding_interval_hours,
                sc.funding_8h_pct,
                sc.funding_premium,
                s.basis_pct,
                s.mark_price,
                s.index_price,
                s.mark_price,
                s.mark_price,
            )
        )
    return rows


_UPSERT_CACHE: dict[tuple[str, str], tuple[str, tuple[str, ...], bool]] = {}


def _upsert_sql(dialect: Dialect) -> tuple[str, tuple[str, ...], bool]:
    """The upsert compiled once per dialect: (sql, bind names in order, positional)."""
    key = (dialect.name, str(dialect.paramstyle))
    cached = _UPSERT_CACHE.get(key)
    if cached is not None:
        return cached
    table = cast(Table, HourlyRow.__table__)
    insert_fn = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    stmt = insert_fn(table)
    new, old = stmt.excluded, table.c
    newer = new.last_ms >= old.last_ms
    set_: dict[str, Any] = {
        c: case((newer, new[c]), else_=old[c])
        for c in COLUMNS
        if c not in _KEYS and c not in _EXTREMES and c != "last_ms"
    }
    set_["last_ms"] = case((newer, new.last_ms), else_=old.last_ms)
    set_["high"] = case((new.high > old.high, new.high), else_=old.high)
    set_["low"] = case((new.low < old.low, new.low), else_=old.low)
    upsert = stmt.on_conflict_do_update(index_elements=list(_KEYS), set_=set_)
    compiled = upsert.compile(dialect=dialect, column_keys=list(COLUMNS), for_executemany=True)
    built = (compiled.string, tuple(compiled.positiontup or compiled.params), compiled.positional)
    _UPSERT_CACHE[key] = built
    return built


async def upsert_rows(session: AsyncSession, rows: Sequence[tuple[object, ...]]) -> None:
    """Merge rows (COLUMNS order) into the store as one executemany (see the module doc)."""
    if not rows:
        return
    conn = await session.connection()
    sql, names, positional = _upsert_sql(conn.dialect)
    index = {c: i for i, c in enumerate(COLUMNS)}
    order = [index[n] for n in names]
    params: list[Any]
    if positional:
        params = [tuple(row[i] for i in order) for row in rows]
    else:
        params = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    await conn.exec_driver_sql(sql, params)


async def upsert_cycle(session: AsyncSession, result: CycleResult) -> None:
    """This cycle's scored symbols into their hour's rows."""
    await upsert_rows(session, cycle_rows(result))


# ---------------------------------------------------------------- reads


def _record(row: Sequence[Any]) -> HourlyRecord:
    return HourlyRecord(*row)


async def symbol_hours(
    session: AsyncSession, exchange: str, symbol: str, start_ms: int, end_ms: int
) -> list[HourlyRecord]:
    """One symbol's rows stamped in [start_ms, end_ms), oldest first."""
    t = HourlyRow
    query = (
        select(*(getattr(t, c) for c in COLUMNS))
        .where(t.exchange == exchange, t.symbol == symbol)
        .where(t.hour_ms >= start_ms, t.hour_ms < end_ms)
        .order_by(t.hour_ms)
    )
    return [_record(r) for r in (await session.execute(query)).all()]


async def hours_between(
    session: AsyncSession, start_ms: int, end_ms: int, exchange: str | None = None
) -> list[HourlyRecord]:
    """Every symbol's rows stamped in [start_ms, end_ms), by (exchange, symbol, hour)."""
    t = HourlyRow
    query = select(*(getattr(t, c) for c in COLUMNS)).where(
        t.hour_ms >= start_ms, t.hour_ms < end_ms
    )
    if exchange is not None:
        query = query.where(t.exchange == exchange)
    query = query.order_by(t.exchange, t.symbol, t.hour_ms)
    return [_record(r) for r in (await session.execute(query)).all()]


@dataclass(frozen=True, slots=True)
class StoredSpan:
    exchange: str
    rows: int
    symbols: int
    first_ms: int
    last_ms: int


async def stored_spans(session: AsyncSession) -> list[StoredSpan]:
    """Per exchange: how many rows and symbols, and the first and last hour stored."""
    t = HourlyRow
    query = (
        select(
            t.exchange,
            func.count(),
            func.count(func.distinct(t.symbol)),
            func.min(t.hour_ms),
            func.max(t.hour_ms),
        )
        .group_by(t.exchange)
        .order_by(t.exchange)
    )
    return [StoredSpan(*r) for r in (await session.execute(query)).all()]


# The fields ranked among a symbol's own hours (bot/scoring/percentile.py).
WINDOW_FIELDS = ("funding_8h_pct", "oi_24h_pct", "basis_pct")


async def window_values(
    session: AsyncSession, exchange: str, symbol: str, start_ms: int, end_ms: int
) -> tuple[list[float], list[float], list[float]]:
    """One symbol's WINDOW_FIELDS stamped in [start_ms, end_ms), each sorted, nulls left
    out: the percentile book's window (bot/cycle/percentiles.py). One query per symbol
    reads a contiguous primary-key range; measured cheaper than sorting every symbol's
    window in the database at once (bench/hourly.py)."""
    t = HourlyRow
    query = select(*(getattr(t, c) for c in WINDOW_FIELDS)).where(
        t.exchange == exchange, t.symbol == symbol, t.hour_ms >= start_ms, t.hour_ms < end_ms
    )
    rows = (await session.execute(query)).all()
    if not rows:
        return [], [], []
    f, o, b = (sorted(v for v in column if v is not None) for column in zip(*rows, strict=True))
    return f, o, b


async def oldest_hour(session: AsyncSession) -> int | None:
    return await session.scalar(select(func.min(HourlyRow.hour_ms)))


async def prune(session: AsyncSession, before_ms: int) -> int:
    """Delete the rows stamped before `before_ms`; returns how many."""
    res = await session.execute(delete(HourlyRow).where(HourlyRow.hour_ms < before_ms))
    return rowcount(res)
