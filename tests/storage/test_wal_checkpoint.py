"""P2 (README, Performance): on SQLite a cycle-sized commit no longer checkpoints the
WAL inside itself; `checkpoint_wal` folds it back afterwards, without waiting for
readers, and the WAL stays bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import DatabaseSettings
from bot.storage.db import checkpoint_wal, create_engine, session_factory
from bot.storage.models import Chat
from fakes.migrated_db import migrated_sqlite

MB = 1024 * 1024


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(url=migrated_sqlite(tmp_path / "t.db")))
    yield engine
    await engine.dispose()


def files(engine: AsyncEngine) -> tuple[int, int]:
    """(main file, WAL file) sizes in bytes."""
    path = Path(str(engine.url.database))
    wal = Path(f"{path}-wal")
    return path.stat().st_size, wal.stat().st_size if wal.exists() else 0


async def write_cycle_sized(sessions: async_sessionmaker[AsyncSession], start: int) -> None:
    """About 6 MB in one write transaction: more than a cycle's WAL, well past SQLite's
    default 1000-page autocheckpoint."""
    rows = [
        {"id": start + i, "type": "private", "created_ms": 0, "title": f"{i:06d}" * 170}
        for i in range(6000)
    ]
    async with sessions() as s, s.begin():
        await s.execute(insert(Chat), rows)


async def test_a_large_commit_leaves_the_checkpoint_to_checkpoint_wal(
    engine: AsyncEngine,
) -> None:
    """Before: SQLite's autocheckpoint copied the 6 MB back inside the commit (the main
    file grew during the cycle's write). Now the commit only appends to the WAL, and
    `checkpoint_wal` copies it back afterwards."""
    sessions = session_factory(engine)
    main_before, _ = files(engine)
    await write_cycle_sized(sessions, 1)
    main_after_commit, wal_after_commit = files(engine)
    assert wal_after_commit > 5 * MB
    assert main_after_commit - main_before < MB, "the commit checkpointed"

    await checkpoint_wal(sessions)
    main_after_checkpoint, _ = files(engine)
    assert main_after_checkpoint - main_before > 5 * MB
    async with sessions() as s:
        assert len((await s.scalars(select(Chat.id))).all()) == 6000


async def test_checkpoint_wal_keeps_the_wal_bounded_over_many_cycles(
    engine: AsyncEngine,
) -> None:
    """With a checkpoint after every write the WAL restarts from its beginning each time:
    ten cycle-sized writes leave a WAL of one write, not ten."""
    sessions = session_factory(engine)
    await write_cycle_sized(sessions, 1)
    await checkpoint_wal(sessions)
    _, one = files(engine)
    for k in range(1, 10):
        await write_cycle_sized(sessions, 1 + k * 10_000)
        await checkpoint_wal(sessions)
    _, after = files(engine)
    assert after <= one * 1.2


async def test_checkpoint_wal_does_not_wait_for_an_open_reader(engine: AsyncEngine) -> None:
    """/top readers keep their snapshot; the checkpoint neither blocks them nor waits for
    them (PASSIVE), and the next checkpoint finishes the job."""
    sessions = session_factory(engine)
    await write_cycle_sized(sessions, 1)
    async with sessions() as reader:
        assert len((await reader.scalars(select(Chat.id))).all()) == 6000
        await write_cycle_sized(sessions, 100_000)
        await asyncio.wait_for(checkpoint_wal(sessions), 2.0)
        # The reader still sees its snapshot, untouched.
        assert len((await reader.scalars(select(Chat.id))).all()) == 6000
    await checkpoint_wal(sessions)
    async with sessions() as s:
        assert len((await s.scalars(select(Chat.id))).all()) == 12000


async def test_checkpoint_wal_is_a_no_op_elsewhere(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """On PostgreSQL (when configured) it returns without issuing anything."""
    await checkpoint_wal(sessions)
