"""Database fixtures shared by every storage-touching test: a temp-file SQLite DB at
the schema's head, and the same tests on PostgreSQL (emptied between tests) when
PRESSUREBOT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import gc
import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.config import DatabaseSettings
from bot.storage.db import create_engine, session_factory
from fakes.migrated_db import (
    drop_postgres_templates,
    empty_postgres,
    migrated_sqlite,
    reusable_postgres,
)

POSTGRES_ENV = "PRESSUREBOT_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_engine(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[AsyncEngine]:
    """A database at head per test: SQLite copied from a migrated template, PostgreSQL
    one database per test process emptied after each test (fakes/migrated_db.py)."""
    if request.param == "sqlite":
        engine = create_engine(DatabaseSettings(url=migrated_sqlite(tmp_path / "t.db")))
        yield engine
        await engine.dispose()
        return

    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL storage tests need {POSTGRES_ENV} (postgresql+asyncpg://...)")
    test_url = await reusable_postgres(url)
    # A small pool: two test runs side by side must stay under max_connections (100).
    engine = create_async_engine(test_url, pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()
        await empty_postgres(url, test_url)


@pytest.fixture
def sessions(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(db_engine)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow files first, longest first (`pytest.mark.slow(seconds=N)`: a file's rough
    wall time on 2 idle cores, given where it is a minute or more), the ones that mostly
    wait on services (tests/e2e/) alternated with the ones that mostly compute. Workers
    take whole files (`--dist loadfile`) in this order (`--no-loadscope-reorder`,
    pyproject.toml): a minutes-long file started last would run alone at the end while
    the other workers idle, and workers all waiting on services at once leave the two
    cores half used."""
    files: dict[Path, list[pytest.Item]] = {}
    seconds: dict[Path, float] = {}
    for item in items:
        files.setdefault(item.path, []).append(item)
        if (mark := item.get_closest_marker("slow")) is not None:
            seconds[item.path] = max(seconds.get(item.path, 0.0), mark.kwargs.get("seconds", 0.0))
    slow = sorted(seconds, key=lambda f: -seconds[f])  # stable: ties keep collection order
    waiting = [f for f in slow if "e2e" in f.parts]
    computing = [f for f in slow if "e2e" not in f.parts]
    order = [f for pair in itertools.zip_longest(waiting, computing) for f in pair if f]
    order += [f for f in files if f not in seconds]
    items[:] = [item for f in order for item in files[f]]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Every module is imported and every test collected: millions of objects that live
    as long as the worker. Frozen, the collector never scans them again; otherwise each
    full collection while the tests run rescans them all. The tests then make garbage
    in bulk (an Application, an engine, a loop per test), so the collector runs less
    often too. Measured with gc.callbacks on tests/telegram/ (two workers): 8 s of each
    worker's ~80 s of CPU went to the collector, 4 s with both."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_postgres_templates()
