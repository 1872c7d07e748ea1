"""`pressurebot migrate` from several replicas at once on PostgreSQL: they take turns
(an advisory lock, bot/storage/db.py) and the schema ends at head, migrated once."""

from __future__ import annotations

import asyncio

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot.config import DatabaseSettings
from bot.storage.db import alembic_config, create_engine, migrate
from fakes.pg_database import fresh_database, postgres_url_or_skip

pytestmark = pytest.mark.postgres


async def test_three_replicas_migrating_a_fresh_database_at_once_all_succeed() -> None:
    async with fresh_database(postgres_url_or_skip()) as url:
        engines = [create_engine(DatabaseSettings(url=url)) for _ in range(3)]
        try:
            await asyncio.wait_for(asyncio.gather(*(migrate(e) for e in engines)), 30)
            async with engines[0].connect() as conn:
                versions = await conn.execute(text("SELECT version_num FROM alembic_version"))
                rows = versions.scalars().all()
        finally:
            for engine in engines:
                await engine.dispose()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rows == [head]
