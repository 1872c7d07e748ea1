"""The database a service subprocess runs on in the e2e tests: a temp SQLite file or a
throwaway PostgreSQL database, and the small reads and writes the tests make on it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bot.storage.models import AlertEvent, Cycle
from fakes.migrated_db import migrated_postgres, migrated_sqlite
from tests.conftest import POSTGRES_ENV

T = TypeVar("T")
POLL_SECONDS = 0.1  # the service's own smallest wait (the outbox poll) is 1 s


async def read_until(
    read: Callable[[], T | Awaitable[T]], done: Callable[[T], bool], *, timeout: float
) -> T:
    """What `read` returns once `done` holds, read again until then.

    For state nothing announces: what a service subprocess wrote to its database (no
    log line, no fake's request says so), or a test's own counter. A limit, not a
    measurement: no test asserts how long it took.
    """
    async with asyncio.timeout(timeout):
        while True:
            value = read()
            got = await value if inspect.isawaitable(value) else value
            if done(got):
                return got
            await asyncio.sleep(POLL_SECONDS)


@contextlib.asynccontextmanager
async def service_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """The service's database URL, at the schema's head (fakes/migrated_db.py): a temp
    SQLite file, or a throwaway PostgreSQL database (the service connects by URL, so a
    schema per test will not do)."""
    if backend == "sqlite":
        yield migrated_sqlite(tmp_path / "service.db")
        return
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"needs {POSTGRES_ENV}")
    async with migrated_postgres(url, prefix="pbkill") as db_url:
        yield db_url


async def seed(url: str, chat_ids: range) -> None:
    now = int(time.time() * 1000)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO chats (id, type, active, min_band, direction, created_ms)"
                " VALUES (:id, 'private', true, 'stretched', 'both', :now)"
            ),
            [{"id": c, "now": now} for c in chat_ids],
        )
        await conn.execute(
            text(
                "INSERT INTO subscriptions (chat_id, exchange, symbol, kind, created_ms)"
                " VALUES (:id, 'binance', 'BTCUSDT', 'bands', :now)"
            ),
            [{"id": c, "now": now} for c in chat_ids],
        )
    await engine.dispose()


async def status_counts(url: str) -> dict[str, int]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT status, count(*) FROM deliveries GROUP BY status"))
        counts = {status: int(n) for status, n in rows.all()}
    await engine.dispose()
    return counts


async def ok_cycle(session: AsyncSession, now_ms: int) -> Cycle:
    """A finished Binance cycle row, as the scorer writes one, to hang events on."""
    cycle = Cycle(
        exchange="binance",
        started_ms=now_ms,
        finished_ms=now_ms,
        status="ok",
        symbols_attempted=1,
        symbols_fetched=1,
        symbols_failed=0,
    )
    session.add(cycle)
    await session.flush()
    return cycle


async def band_event(session: AsyncSession, cycle: Cycle, symbol: str, now_ms: int) -> AlertEvent:
    """A lean -> stretched band event in `cycle`, as the alert engine writes one."""
    event = AlertEvent(
        cycle_id=cycle.id,
        exchange="binance",
        symbol=symbol,
        kind="band",
        direction="up",
        from_band="lean",
        to_band="stretched",
        score=41,
        bias="LONG",
        regime="Net long bias building",
        created_ms=now_ms,
    )
    session.add(event)
    await session.flush()
    return event
