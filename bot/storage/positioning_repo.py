"""Long/short ratios: the latest per (exchange, symbol), replaced as fresher ones come.

A write sets only the ratios it has (Binance's two endpoints can answer apart), so a
failed endpoint leaves the last reading, with its own time, for readers to judge as
fresh or stale. Readings are the venues' public numbers: a write from a replica that
just lost the scorer lease is as true as its successor's, so no fence is needed. Like
every repository function, these never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import LsRatio


@dataclass(frozen=True, slots=True)
class Reading:
    """One symbol's ratios as fetched (None: not had this time)."""

    exchange: str
    symbol: str
    account: tuple[float, int] | None  # (ratio, venue time ms)
    top_position: tuple[float, int] | None
    fetched_ms: int


def _columns(r: Reading) -> dict[str, object]:
    row: dict[str, object] = {
        "exchange": r.exchange,
        "symbol": r.symbol,
        "fetched_ms": r.fetched_ms,
    }
    if r.account is not None:
        row["account_ratio"], row["account_ms"] = r.account
    if r.top_position is not None:
        row["top_position_ratio"], row["top_position_ms"] = r.top_position
    return row


async def write(session: AsyncSession, readings: Sequence[Reading]) -> None:
    """Upsert each reading, in one statement per shape (which ratios it carries)."""
    groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for reading in readings:
        row = _columns(reading)
        groups.setdefault(tuple(sorted(row)), []).append(row)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for names, rows in groups.items():
        stmt = insert(LsRatio)
        keep = [n for n in names if n not in ("exchange", "symbol")]
        stmt = stmt.on_conflict_do_update(
            index_elements=["exchange", "symbol"], set_={n: stmt.excluded[n] for n in keep}
        )
        await session.execute(stmt, rows)


async def read(
    session: AsyncSession, exchanges: Iterable[str], symbols: Iterable[str] | None = None
) -> dict[tuple[str, str], LsRatio]:
    """The stored rows of these venues (a few hundred each; only `symbols`, if given),
    keyed (exchange, symbol)."""
    query = select(LsRatio).where(LsRatio.exchange.in_(list(exchanges)))
    if symbols is not None:
        query = query.where(LsRatio.symbol.in_(list(symbols)))
    return {(r.exchange, r.symbol): r for r in await session.scalars(query)}


async def fresh_counts(session: AsyncSession, since_ms: int) -> dict[str, int]:
    """exchange -> how many symbols have an account ratio timed at or after `since_ms`."""
    rows = await session.execute(
        select(LsRatio.exchange, func.count())
        .where(LsRatio.account_ms >= since_ms)
        .group_by(LsRatio.exchange)
    )
    return {str(exchange): int(n) for exchange, n in rows}
