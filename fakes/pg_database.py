"""A throwaway, empty PostgreSQL database per test or benchmark trial.

For what needs a database no one has migrated yet (the migrate lock's test, a scan
beside a scorer); a database at head comes from fakes/migrated_db.py. Each gets `CREATE
DATABASE pbtest_<id>` through an admin connection and `DROP DATABASE ... WITH (FORCE)`
afterwards, so a replica left connected (killed mid-test) never keeps it alive."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

POSTGRES_ENV = "PRESSUREBOT_TEST_POSTGRES_URL"


def postgres_url_or_skip() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"replica tests need PostgreSQL: set {POSTGRES_ENV} (postgresql+asyncpg://...)")
    return url


@contextlib.asynccontextmanager
async def fresh_database(
    url: str, *, template: str | None = None, prefix: str = "pbtest"
) -> AsyncIterator[str]:
    """Yields the URL of a new database on the server `url` points at: empty, or a copy
    of `template` (fakes/migrated_db.py)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        try:
            yield make_url(url).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
