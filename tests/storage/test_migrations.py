"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.db import alembic_config, head_revision, migrate
from bot.storage.models import Base


def _diff(conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def test_migrated_schema_matches_the_models(db_engine: AsyncEngine) -> None:
    async with db_engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_migrating_twice_is_a_no_op(db_engine: AsyncEngine) -> None:
    await migrate(db_engine)
    async with db_engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


def test_the_head_read_from_the_file_names_is_alembics_head() -> None:
    # migrate() skips alembic when the stored revision equals head_revision().
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
