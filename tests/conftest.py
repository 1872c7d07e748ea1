"""Database fixtures shared by every storage-touching test: a migrated temp-file
SQLite DB, and the same tests on PostgreSQL (a fresh schema per test) when
PRESSUREBOT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.config import DatabaseSettings
from bot.storage.db import create_engine, migrate, session_factory

POSTGRES_ENV = "PRESSUREBOT_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_engine(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/t.db"))
        await migrate(engine)
        yield engine
        await engine.dispose()
        return

    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL storage tests need {POSTGRES_ENV} (postgresql+asyncpg://...)")
    # A throwaway schema per test: isolation without needing CREATE DATABASE rights.
    schema = f"pbtest_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    if make_url(url).get_driver_name() == "asyncpg":
        connect_args: dict[str, object] = {"server_settings": {"search_path": schema}}
    else:
        connect_args = {"options": f"-csearch_path={schema}"}
    # A small pool: two test runs side by side must stay under max_connections (100).
    engine = create_async_engine(url, connect_args=connect_args, pool_size=2)
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
def sessions(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(db_engine)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow files first. Workers take whole files (`--dist loadfile`) in this order
    (`--no-loadscope-reorder`, pyproject.toml): a minutes-long file started last would
    run alone at the end while the other workers idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
