"""Command limits shared by replicas (bot/telegram/rate_limits.py SharedCommandLimiter):
a user's commands count against one limit whichever replica answers them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.db import is_sqlite, session_factory
from bot.storage.models import CommandCount
from bot.telegram.rate_limits import SharedCommandLimiter, Verdict


def _postgres_only(engine: AsyncEngine) -> None:
    if is_sqlite(engine):
        pytest.skip("shared command counts are for PostgreSQL; SQLite keeps them in memory")


async def test_two_replicas_share_one_users_limit(db_engine: AsyncEngine) -> None:
    _postgres_only(db_engine)
    one = SharedCommandLimiter(session_factory(db_engine), "user", 3)
    two = SharedCommandLimiter(session_factory(db_engine), "user", 3)
    verdicts = [await (one if i % 2 else two).verdict(42) for i in range(6)]
    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.DENY_NOTIFY] + [Verdict.DENY_SILENT] * 2
    assert await one.verdict(43) is Verdict.ALLOW  # another user has their own
    group = SharedCommandLimiter(session_factory(db_engine), "group", 3)
    assert await group.verdict(42) is Verdict.ALLOW  # a group id never collides with a user


async def test_old_windows_are_pruned(db_engine: AsyncEngine) -> None:
    _postgres_only(db_engine)
    sessions = session_factory(db_engine)
    async with sessions() as session, session.begin():
        await session.execute(
            insert(CommandCount).values(scope="user", key=1, window_ms=60_000, count=5)
        )
    clock = [0.0]
    limiter = SharedCommandLimiter(sessions, "user", 3, clock=lambda: clock[0])
    await limiter.verdict(7)
    async with sessions() as session:
        assert (
            await session.execute(select(func.count()).select_from(CommandCount))
        ).scalar_one() == 2
    clock[0] = 10_000.0  # past the prune period
    await limiter.verdict(7)
    async with sessions() as session:
        keys = (await session.execute(select(CommandCount.key))).scalars().all()
    assert keys == [7]
