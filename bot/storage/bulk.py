"""Batched writes as one driver-level executemany of plain tuples.

For the rows written every cycle (600 snapshots, 600 OI samples, 600 alert states) and
a busy cycle's ~50k deliveries. SQLAlchemy's ORM bulk INSERT and UPDATE build a
parameter dict per row and run per-row bind processing: about as much CPU as SQLite's
own work, on the event loop the command handlers share (bench/storage.py, P2;
bench/fanout.py, P3). Each statement is compiled once per dialect and column list;
only per-row bind processing is skipped, a no-op for the plain int/str/float/None
values written here. Like every repository function, these never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Base


@dataclass(frozen=True, slots=True)
class _BulkInsert:
    """An INSERT ... ON CONFLICT DO NOTHING compiled once for one column list."""

    sql: str
    # Row positions in the driver's parameter order, or None when already in order.
    order: tuple[int, ...] | None
    names: tuple[str, ...]  # every row's keys, for a named paramstyle
    positional: bool
    defaults: tuple[Any, ...]  # scalar defaults of the columns left out


_BULK_CACHE: dict[tuple[str, str, str, tuple[str, ...]], _BulkInsert] = {}


def _bulk_insert(dialect: Dialect, model: type[Base], columns: tuple[str, ...]) -> _BulkInsert:
    key = (dialect.name, str(dialect.paramstyle), model.__tablename__, columns)
    cached = _BULK_CACHE.get(key)
    if cached is not None:
        return cached
    insert_fn = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    # A declarative model's __table__ is a Table; SQLAlchemy types it as any FromClause.
    stmt = insert_fn(cast(Table, model.__table__)).on_conflict_do_nothing()
    # for_executemany: no implicit RETURNING (PostgreSQL would add one for a single row).
    compiled = stmt.compile(dialect=dialect, column_keys=list(columns), for_executemany=True)
    keys = tuple(compiled.positiontup or compiled.params)
    # Columns left out that have a scalar Python-side default (attempts=0): added to every
    # row, since SQLAlchemy's execution context, which would, is bypassed.
    extra = [k for k in keys if k not in columns]
    full = [*columns, *extra]
    order = tuple(full.index(k) for k in keys)
    built = _BulkInsert(
        sql=compiled.string,
        order=None if order == tuple(range(len(full))) else order,
        names=tuple(full),
        positional=compiled.positional,
        defaults=tuple(_scalar_default(model, k) for k in extra),
    )
    _BULK_CACHE[key] = built
    return built


def _scalar_default(model: type[Base], key: str) -> Any:
    default = model.__table__.c[key].default
    if default is None or not default.is_scalar:
        raise ValueError(f"insert_ignore_many: give {key!r} explicitly (no scalar default)")
    return default.arg


async def insert_ignore_many(
    session: AsyncSession,
    model: type[Base],
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """`insert_ignore` as one driver-level executemany of plain tuples.

    For the cycle's snapshots and OI samples (1,200 rows every cycle) and a busy cycle's
    ~50k deliveries. One multi-VALUES statement took 7.2 s for 55k deliveries on SQLite;
    the ORM's bulk insert spends as long building per-row parameter dicts as the driver
    spends inserting (bench/storage.py, P2; bench/fanout.py, P3). The statement is
    compiled once per dialect and column list; only per-row bind processing is skipped,
    a no-op for the plain int/str/float/None values written here.
    """
    if not rows:
        return
    conn = await session.connection()
    bulk = _bulk_insert(conn.dialect, model, tuple(columns))
    params: list[Any] = [row + bulk.defaults for row in rows] if bulk.defaults else list(rows)
    if not bulk.positional:
        params = [dict(zip(bulk.names, row, strict=True)) for row in params]
    elif bulk.order is not None:
        order = bulk.order
        params = [tuple(row[i] for i in order) for row in params]
    await conn.exec_driver_sql(bulk.sql, params)


@dataclass(frozen=True, slots=True)
class _BulkUpdate:
    sql: str
    order: tuple[int, ...]  # row positions in the driver's parameter order
    names: tuple[str, ...]  # bind names of a row's positions, for a named paramstyle
    positional: bool


_UPDATE_CACHE: dict[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], _BulkUpdate] = {}


def _bulk_update(
    dialect: Dialect, model: type[Base], keys: tuple[str, ...], columns: tuple[str, ...]
) -> _BulkUpdate:
    cache_key = (dialect.name, str(dialect.paramstyle), model.__tablename__, keys, columns)
    cached = _UPDATE_CACHE.get(cache_key)
    if cached is not None:
        return cached
    table = cast(Table, model.__table__)
    stmt = (
        update(table)
        .where(and_(*(table.c[k] == bindparam(f"k_{k}") for k in keys)))
        # In the caller's order, so the rows need no reordering (.values() would use
        # the table's column order).
        .ordered_values(*((table.c[c], bindparam(f"v_{c}")) for c in columns))
    )
    compiled = stmt.compile(dialect=dialect)
    names = tuple([f"v_{c}" for c in columns] + [f"k_{k}" for k in keys])
    bound = tuple(compiled.positiontup or compiled.params)
    built = _BulkUpdate(
        sql=compiled.string,
        order=tuple(names.index(n) for n in bound),
        names=names,
        positional=compiled.positional,
    )
    _UPDATE_CACHE[cache_key] = built
    return built


async def update_many(
    session: AsyncSession,
    model: type[Base],
    keys: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """UPDATE model SET columns WHERE keys match, once per row, as one executemany.

    Each row holds the new values of `columns`, then the values of `keys` (the primary
    key) that pick the row to update; a key matching no row updates nothing."""
    if not rows:
        return
    conn = await session.connection()
    bulk = _bulk_update(conn.dialect, model, tuple(keys), tuple(columns))
    params: list[Any]
    if not bulk.positional:
        params = [dict(zip(bulk.names, row, strict=True)) for row in rows]
    elif bulk.order != tuple(range(len(bulk.names))):
        order = bulk.order
        params = [tuple(row[i] for i in order) for row in rows]
    else:
        params = list(rows)
    await conn.exec_driver_sql(bulk.sql, params)
