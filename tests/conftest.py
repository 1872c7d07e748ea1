"""Database fixtures shared by every storage-touching test: a temp-file SQLite DB at
the schema's head, and the same tests on PostgreSQL (a database per test) when
PRESSUREBOT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.config import DatabaseSettings
from bot.storage.db import create_engine, session_factory
from fakes.migrated_db import drop_postgres_templates, migrated_postgres, migrated_sqlite

POSTGRES_ENV = "PRESSUREBOT_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_engine(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[AsyncEngine]:
    """A database at head per test, copied from a migrated template (fakes/migrated_db.py)."""
    if request.param == "sqlite":
        engine = create_engine(DatabaseSettings(url=migrated_sqlite(tmp_path / "t.db")))
        yield engine
        await engine.dispose()
        return

    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL storage tests need {POSTGRES_ENV} (postgresql+asyncpg://...)")
    async with migrated_postgres(url) as test_url:
        # A small pool: two test runs side by side must stay under max_connections (100).
        engine = create_async_engine(test_url, pool_size=2)
        try:
            yield engine
        finally:
            await engine.dispose()


@pytest.fixture
def sessions(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(db_engine)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow files first. Workers take whole files (`--dist loadfile`) in this order
    (`--no-loadscope-reorder`, pyproject.toml): a minutes-long file started last would
    run alone at the end while the other workers idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_postgres_templates()
