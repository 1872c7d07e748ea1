"""Databases already at the schema's head, copied from a template instead of migrated.

Migrating an empty database runs every Alembic migration: about 0.2 s of CPU on SQLite
(its ALTERs rebuild whole tables) and as much again for a PostgreSQL schema, and the
suite makes hundreds of databases. Each test process migrates one template per backend,
with the product's own `migrate`, the first time it needs one, and copies it: SQLite by
copying the file, PostgreSQL by `CREATE DATABASE ... TEMPLATE` (tens of ms). The
migrations themselves stay tested where that is the point: tests/storage/test_migrations.py
runs them step by step, and the CLI and migrate-lock tests start from nothing.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.config import DatabaseSettings
from bot.storage.db import create_engine, migrate
from bot.storage.models import Base
from fakes.pg_database import fresh_database

_lock = threading.Lock()
_sqlite_template: Path | None = None
_postgres_templates: dict[str, str] = {}  # server URL -> template database name


def migrated_sqlite(path: Path) -> str:
    """Writes a database at head to `path` (a new file) and returns its URL. Callable
    from sync code and from inside a running event loop alike."""
    global _sqlite_template
    with _lock:
        if _sqlite_template is None:
            folder = Path(tempfile.mkdtemp(prefix="pressurebot-template-"))
            atexit.register(shutil.rmtree, folder, True)
            template = folder / "template.db"
            _in_own_loop(_migrate_sqlite(template))
            # The last connection's close checkpoints the WAL into the file and deletes
            # it, so the file alone holds the schema; a leftover WAL would be lost here.
            wal = Path(f"{template}-wal")
            if wal.exists() and wal.stat().st_size:
                raise RuntimeError(f"{wal} still holds pages after the engine closed")
            _sqlite_template = template
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


async def _migrate_sqlite(path: Path) -> None:
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{path}"))
    await migrate(engine)
    await engine.dispose()


def _in_own_loop(coro: Coroutine[Any, Any, None]) -> None:
    """asyncio.run on a thread of its own: the caller may be inside a running loop."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="migrate-template")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@contextlib.asynccontextmanager
async def migrated_postgres(url: str, prefix: str = "pbtest") -> AsyncIterator[str]:
    """Yields the URL of a new database at head on the server `url` points at, dropped
    afterwards (`WITH (FORCE)`: a replica killed mid-test never keeps it alive)."""
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        template = await _postgres_template(url, admin)
    finally:
        await admin.dispose()
    async with fresh_database(url, template=template, prefix=prefix) as db_url:
        yield db_url


async def _postgres_template(url: str, admin: AsyncEngine) -> str:
    name = _postgres_templates.get(url)
    if name is not None:
        return name
    name = f"pbtemplate_{uuid.uuid4().hex[:12]}"
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_async_engine(make_url(url).set(database=name), pool_size=1)
    try:
        await migrate(engine)
    finally:
        # A template with a connection open cannot be copied.
        await engine.dispose()
    _postgres_templates[url] = name
    return name


_reused: dict[str, str] = {}  # server URL -> this process's database for db_engine
_SCHEMA = text(
    "SELECT table_name, column_name, data_type FROM information_schema.columns"
    " WHERE table_schema = current_schema() ORDER BY 1, 2"
)
_schema_at_head: list[tuple[str, str, str]] = []


async def reusable_postgres(url: str) -> str:
    """The URL of this process's own database at head on the server `url` points at,
    emptied by `empty_postgres` after each use: tests in one process run one at a time,
    and emptying it costs a fraction of CREATE and DROP DATABASE (a DROP forces a
    checkpoint, and hundreds of them slow every test on the server)."""
    name = _reused.get(url)
    if name is None:
        admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            template = await _postgres_template(url, admin)
            name = f"pbtest_{uuid.uuid4().hex[:12]}"
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        finally:
            await admin.dispose()
        _reused[url] = name
    db_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    if not _schema_at_head:
        _schema_at_head.extend(await _schema(db_url))
    return db_url


async def _schema(db_url: str) -> list[tuple[str, str, str]]:
    engine = create_async_engine(db_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return [(t, c, d) for t, c, d in (await conn.execute(_SCHEMA)).all()]
    finally:
        await engine.dispose()


_SEQUENCES = text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")


async def empty_postgres(url: str, db_url: str) -> None:
    """Every table but alembic_version emptied and its ids restarted, as new. A test
    that changed the schema (a fault test renames a table) costs its database: it is
    dropped, and the next test gets a new one.

    DELETE, children before parents, not TRUNCATE: a test leaves a few rows, and
    TRUNCATE gives each of the ~60 tables and indexes a new file, ~35 ms of the
    server's CPU per test against ~5 ms (measured on the server's backend)."""
    engine = create_async_engine(db_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            schema = [(t, c, d) for t, c, d in (await conn.execute(_SCHEMA)).all()]
            if schema == _schema_at_head:
                present = {t for t, _, _ in schema}
                for table in reversed(Base.metadata.sorted_tables):
                    if table.name in present:
                        await conn.execute(text(f'DELETE FROM "{table.name}"'))
                for (sequence,) in (await conn.execute(_SEQUENCES)).all():
                    await conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
                return
    finally:
        await engine.dispose()
    await _drop_templates({url: _reused.pop(url)})


def drop_postgres_templates() -> None:
    """Drops this process's templates and reused databases (tests/conftest.py calls it
    as the session ends)."""
    if _reused:
        _in_own_loop(_drop_templates(dict(_reused)))
        _reused.clear()
    if _postgres_templates:
        _in_own_loop(_drop_templates(dict(_postgres_templates)))
        _postgres_templates.clear()


async def _drop_templates(templates: dict[str, str]) -> None:
    for url, name in templates.items():
        admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            await admin.dispose()
