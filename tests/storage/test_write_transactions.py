"""Write transactions under concurrency (issue 9): on SQLite an explicit
`session.begin()` takes the write lock up front, reads do not wait for writers.
Each test also runs on PostgreSQL when PRESSUREBOT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.models import Chat
from fakes.migrated_db import migrated_sqlite


async def add_chats(sessions: async_sessionmaker[AsyncSession], *ids: int) -> None:
    async with sessions() as s, s.begin():
        for chat_id in ids:
            s.add(Chat(id=chat_id, type="private", created_ms=0))


async def test_read_then_write_survives_a_commit_in_between(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The shape of /subscribe: read, then write. Another connection commits in
    between. With a deferred BEGIN the write failed at once ("database is locked",
    SQLITE_BUSY_SNAPSHOT); now the other writer waits for this one instead."""
    await add_chats(sessions, 1, 2)
    other_started = asyncio.Event()

    async def other_writer() -> None:
        other_started.set()
        async with sessions() as s, s.begin():
            await s.execute(update(Chat).where(Chat.id == 2).values(title="other"))

    async with sessions() as s, s.begin():
        chat = await s.get(Chat, 1)
        assert chat is not None
        other = asyncio.create_task(other_writer())
        await other_started.wait()
        # Give the other writer every chance to commit before this one writes.
        for _ in range(20):
            await asyncio.sleep(0)
        await asyncio.wait([other], timeout=0.3)
        chat.title = "mine"
        await s.flush()
    await asyncio.wait_for(other, 10.0)

    async with sessions() as s:
        titles = dict((await s.execute(select(Chat.id, Chat.title))).all())
    assert titles == {1: "mine", 2: "other"}


async def test_reads_do_not_wait_for_an_open_write(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """/top's reads go on while a long write (the cycle's) holds the lock."""
    await add_chats(sessions, 1)
    async with sessions() as w, w.begin():
        await w.execute(update(Chat).where(Chat.id == 1).values(title="uncommitted"))
        async with sessions() as r:
            chat = await asyncio.wait_for(r.get(Chat, 1), 2.0)
    assert chat is not None and chat.title is None  # the last committed state


async def test_a_crowd_of_writers_queues_instead_of_timing_out(tmp_path: Path) -> None:
    """200 chats subscribe at once on a loaded machine: together their writes take
    longer than busy_timeout. SQLite's busy handler serves waiters in no order, so some
    gave up with "database is locked"; the process's write queue serves them in turn."""
    from bot.config import DatabaseSettings
    from bot.storage.db import create_engine, session_factory

    engine = create_engine(
        DatabaseSettings(url=migrated_sqlite(tmp_path / "crowd.db"), busy_timeout_ms=100)
    )
    sessions = session_factory(engine)
    try:

        async def write(chat_id: int) -> None:
            async with sessions() as s, s.begin():
                s.add(Chat(id=chat_id, type="private", created_ms=0))
                await s.flush()
                await asyncio.sleep(0.002)  # the transaction is open this long, as under load

        results = await asyncio.gather(*(write(i) for i in range(1, 201)), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert failures == []
        async with sessions() as s:
            assert len((await s.scalars(select(Chat.id))).all()) == 200
    finally:
        await engine.dispose()
