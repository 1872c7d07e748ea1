"""Engine set-up (SQLite pragmas, PostgreSQL via asyncpg) and migrate-on-start.

Transactions: an explicit `session.begin()` on a session from `session_factory` declares
a write transaction; reads use the session's autobegin (`async with sessions() as s:`
with no `begin()`). On SQLite the two start differently:

- a write transaction first queues, in arrival order, behind this process's other
  writes (`QueuedWriteSession`), then starts with `BEGIN IMMEDIATE`, taking the single
  write lock up front (waiting up to `busy_timeout` for another process). A deferred
  transaction that reads first and writes later fails at once with
  SQLITE_BUSY_SNAPSHOT ("database is locked") when another connection committed in
  between, and `busy_timeout` cannot help it (docs/operations.md, "SQLite write locking");
- a read starts with a deferred `BEGIN`, so readers (/top) never queue behind a
  writer such as the cycle's transaction (WAL lets them read the last commit).

PostgreSQL ignores the distinction: its writers wait on row locks, not on one lock.

WAL checkpoints (SQLite): a cycle writes about 5 MB of WAL, past SQLite's default
1000-page autocheckpoint, so the default would copy the WAL back inside the cycle's
commit and add tens of ms to it. The automatic threshold is raised to a safety net
(`WAL_AUTOCHECKPOINT_PAGES`) and the scorer calls `checkpoint_wal` once the cycle is
stored: a PASSIVE checkpoint, which never waits for or blocks readers, so the WAL is
copied back and restarted every cycle, off the write path. `journal_size_limit`
truncates the file afterwards, so it stays bounded (bench/storage.py, P2).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    AsyncSessionTransaction,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from bot.config import DatabaseSettings

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"
# Execution option on a connection whose transaction will write; the SQLite `begin`
# listener turns it into BEGIN IMMEDIATE. Other dialects never look at it.
WRITE_OPTION = "pressurebot_write"
# Pages (4 KiB) of WAL before a commit checkpoints by itself: about 40 MB, several
# cycles' worth, so only a process that never calls `checkpoint_wal` (a CLI command, a
# stalled scorer) pays for it, and the WAL still stays bounded then.
WAL_AUTOCHECKPOINT_PAGES = 10_000


class DatabaseError(Exception):
    """Start-up problem with the database, with a one-line user-readable message."""


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    url = make_url(settings.url)
    kwargs: dict[str, Any] = {"echo": settings.echo}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            folder = Path(url.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(
                    f"database folder {folder} cannot be created: {exc.strerror or exc}"
                ) from None
        # pysqlite's legacy transaction handling defers BEGIN and then fails to upgrade a
        # read lock to a write lock under concurrency ("database is locked"). Take control
        # of BEGIN ourselves, as the SQLAlchemy pysqlite docs recommend.
        kwargs["connect_args"] = {
            "isolation_level": None,
            "timeout": settings.busy_timeout_ms / 1000,
        }
    else:
        kwargs["pool_size"] = settings.pool_size
        kwargs["max_overflow"] = settings.max_overflow
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        _install_sqlite_pragmas(engine, settings.busy_timeout_ms)
    return engine


def _install_sqlite_pragmas(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        # A catch-up prune can leave a large WAL behind; truncate it after checkpoints.
        cur.execute("PRAGMA journal_size_limit=67108864")
        cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class WriteIntentSession(Session):
    """A session whose explicit `begin()` is a write transaction (see the module
    docstring): it checks out its connection at once, marked with WRITE_OPTION, so the
    transaction starts with the write lock on SQLite. One place for every write site
    (`async with sessions() as s, s.begin():`), including ones added later."""

    def begin(self, nested: bool = False) -> SessionTransaction:
        trans = super().begin(nested=nested)
        if not nested:
            try:
                self.connection(execution_options={WRITE_OPTION: True})
            except BaseException:
                trans.rollback()
                raise
        return trans


# How long a write waits for its turn in the process's queue before it gives up like a
# busy database would. Generous: the queue is FIFO and each write is short, so only a
# stuck writer (or a write opened inside another write, a bug) ever reaches it.
WRITE_QUEUE_TIMEOUT_SECONDS = 60.0


class _QueuedBegin:
    """`session.begin()` on SQLite: wait for this process's write queue, then BEGIN
    IMMEDIATE. SQLite's busy handler polls with growing sleeps and serves no one in
    order, so 200 writers arriving together could each time out behind the others
    (busy_timeout) on a loaded machine; an asyncio.Lock hands the write lock over in
    arrival order with no polling. busy_timeout still covers other processes (scan)."""

    def __init__(self, session: AsyncSession, gate: asyncio.Lock) -> None:
        self._session = session
        self._gate = gate
        self._transaction: AsyncSessionTransaction | None = None

    async def __aenter__(self) -> AsyncSessionTransaction:
        try:
            await asyncio.wait_for(self._gate.acquire(), WRITE_QUEUE_TIMEOUT_SECONDS)
        except TimeoutError:
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            ) from None
        try:
            self._transaction = AsyncSession.begin(self._session)
            return await self._transaction.__aenter__()
        except BaseException:
            self._gate.release()
            raise

    async def __aexit__(self, *exc: Any) -> None:
        try:
            assert self._transaction is not None
            await self._transaction.__aexit__(*exc)
        finally:
            self._gate.release()


class QueuedWriteSession(AsyncSession):
    """An AsyncSession whose `begin()` queues for the write lock (SQLite only)."""

    write_gate: asyncio.Lock | None = None

    def begin(self) -> Any:
        if self.write_gate is None:
            return super().begin()
        return _QueuedBegin(self, self.write_gate)


async def checkpoint_wal(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Copy the WAL back into the database without waiting for or blocking anyone
    (SQLite only; a no-op elsewhere). Call it after a large write has committed, outside
    any write transaction (see the module docstring)."""
    async with sessions() as session:
        if session.get_bind().dialect.name != "sqlite":
            return
        # PASSIVE: copies what no reader still needs and returns; a later call or the
        # autocheckpoint safety net picks up the rest.
        await session.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    if is_sqlite(engine):
        # One queue per factory: the service builds one factory per database.
        session_class: type[AsyncSession] = type(
            "SqliteSession", (QueuedWriteSession,), {"write_gate": asyncio.Lock()}
        )
    else:
        session_class = AsyncSession
    return async_sessionmaker(
        engine,
        class_=session_class,
        expire_on_commit=False,
        sync_session_class=WriteIntentSession,
    )


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS_DIR.parent / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


# PostgreSQL advisory lock key held around `alembic upgrade` (docs/operations.md,
# "Running several replicas"): the bytes of "pbmigrat" as one bigint. Replicas that start
# together migrate one after the other; the later ones find the schema at head.
MIGRATION_LOCK_KEY = int.from_bytes(b"pbmigrat", "big")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to head, on the caller's loop (no nested asyncio.run).

    On PostgreSQL the upgrade runs under a transaction-level advisory lock, taken on the
    migration's own connection and released by its commit or rollback, so several
    replicas may migrate at once (SQLite has its file lock: sqlite_guard.py).

    A schema already at head (every start but the first after an upgrade) is seen with
    one query and alembic is not even imported: loading it and reading every migration
    script is about a tenth of a second of CPU per process start."""
    try:
        async with engine.connect() as conn:
            if await conn.run_sync(_stored_revision) == head_revision():
                return
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Before alembic reads alembic_version: a waiter then sees the winner's
                # committed head (READ COMMITTED) and has nothing left to do.
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            await conn.run_sync(_upgrade)
    except (DBAPIError, OSError) as exc:
        # OSError: asyncpg raises ConnectionRefusedError / TimeoutError unwrapped.
        raise DatabaseError(describe_db_error(engine, exc)) from exc
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"database {safe_url(engine)}: {exc.__class__.__name__}: {exc}"
        ) from exc


def head_revision() -> str:
    """The newest migration's revision. Each script in migrations/versions is named
    after its revision ("0013_cascades.py" holds "0013") and they form one chain, so
    the head is the highest prefix (tests/storage/test_migrations.py holds alembic's
    own reading to it)."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))


def _stored_revision(conn: Connection) -> str | None:
    """The revision the database says it is at; None before the first migration."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions[0] if len(versions) == 1 else None


def _upgrade(conn: Connection) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def safe_url(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=True)


def describe_db_error(engine: AsyncEngine, exc: BaseException) -> str:
    detail = (str(getattr(exc, "orig", None) or exc).splitlines() or [repr(exc)])[0]
    low = detail.lower()
    if "file is not a database" in low or "malformed" in low:
        hint = "the file is corrupt or not a SQLite database; restore it from a backup"
    elif "locked" in low:
        hint = "another process holds a write lock on it; stop it or wait"
    elif "unable to open" in low:
        hint = "the file cannot be opened; check the path and permissions"
    elif "readonly" in low or "read-only" in low:
        hint = (
            "the database is read-only (file permissions or flags, or a read-only "
            "filesystem); pressurebot must be able to write it"
        )
    elif isinstance(exc, OSError):
        hint = f"cannot connect: {detail}"
    else:
        hint = detail
    return f"database {safe_url(engine)}: {hint}"
