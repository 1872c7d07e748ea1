"""The database a service subprocess runs on in the e2e tests: a temp SQLite file or a
throwaway PostgreSQL database, and the small reads and writes the tests make on it."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bot.storage.models import AlertEvent, Cycle
from tests.conftest import POSTGRES_ENV


@contextlib.asynccontextmanager
async def service_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """The service's database URL: a temp SQLite file, or a throwaway PostgreSQL
    database (the service connects by URL, so a schema per test will not do)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/service.db"
        return
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"needs {POSTGRES_ENV}")
    name = f"pbkill_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        await admin.dispose()
        pytest.skip(f"cannot create a database: {exc}")
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


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
