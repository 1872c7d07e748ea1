"""Guards around a SQLite database file (docs/operations.md, "One process per database").

- One `pressurebot run` per file: an OS lock (`flock`) on `<db>.lock`, taken before
  migrating and held for the process lifetime. The kernel drops it when the process dies,
  even by kill -9, so a crash never leaves a stale lock behind.
- A SQLite library new enough for `UPDATE ... RETURNING` (the outbox claim).
- A file that is writable at start, and that stays where it was opened while running.
- A file that vanished since the last run is not silently re-created empty.

PostgreSQL needs none of this here: several processes on one PostgreSQL database are a
later concern (advisory locks), and a server cannot be deleted under our feet.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.db import DatabaseError, describe_db_error, is_sqlite

# UPDATE ... RETURNING (outbox_repo.claim_due) arrived in SQLite 3.35.0 (2021-03).
MIN_SQLITE_VERSION = (3, 35, 0)


def check_sqlite_version(version: tuple[int, ...]) -> None:
    """Refuse a SQLite older than 3.35; `version` is what `sqlite3.sqlite_version_info`
    reports for the library Python (and so aiosqlite) is linked against."""
    if tuple(version[:3]) < MIN_SQLITE_VERSION:
        shown = ".".join(str(part) for part in version)
        raise DatabaseError(
            f"SQLite {shown} is too old: pressurebot needs SQLite 3.35 or newer "
            "(UPDATE ... RETURNING); use a Python built with a newer SQLite, or PostgreSQL"
        )


def sqlite_file(url_text: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL and in-memory databases."""
    url = make_url(url_text)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    name = url.database
    if name.startswith("file:"):  # SQLite URI form (`?uri=true`)
        if "mode=memory" in name:
            return None
        name = name.removeprefix("file:").split("?", 1)[0]
    return Path(name).expanduser().absolute()


class DatabaseLock:
    """`flock` on `<db>.lock`. The file keeps the last holder (`pid@host role`) after it
    is released: it names the holder when busy, and proves the database existed."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.path = db.with_name(db.name + ".lock")
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DatabaseError(
                f"cannot create the lock file {self.path}: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def last_holder(self) -> str:
        with contextlib.suppress(OSError):
            return self.path.read_text(encoding="utf-8", errors="replace").strip()
        return ""

    def describe_holder(self) -> str:
        holder = self.last_holder()
        if not holder:
            return "another pressurebot process"
        ident, _, role = holder.partition(" ")
        return f"pressurebot {role or 'process'} (pid {ident})"

    def mark(self, role: str) -> None:
        """Record this process as the holder; called once the database is known good."""
        assert self._fd is not None
        text = f"{os.getpid()}@{socket.gethostname()} {role}\n".encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text, 0)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def check_not_vanished(db: Path, lock: DatabaseLock) -> None:
    """A missing file is a first run, unless a `-wal` file or a lock file that a
    successful start wrote says the database existed: then refuse rather than start
    over with an empty one (every chat and subscription gone)."""
    if db.exists():
        return
    wal = db.with_name(db.name + "-wal")
    if wal.exists():
        evidence = f"{wal.name} is still there"
    elif lock.last_holder():
        evidence = f"{lock.path.name} says it was used by {lock.describe_holder()}"
    else:
        return
    leftovers = [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", ".lock")]
    remove = " ".join(str(p) for p in leftovers if p.exists())
    raise DatabaseError(
        f"database file {db} is missing but {evidence}; restore it from a backup, or "
        f"delete {remove} to start with an empty database"
    )


async def check_writable(engine: AsyncEngine) -> None:
    """A write that is rolled back: a read-only file opens and migrates (nothing to do)
    without complaint, then fails every cycle. Safe on PostgreSQL too."""
    probe = "UPDATE alembic_version SET version_num = version_num"
    try:
        async with engine.connect() as conn:
            if is_sqlite(engine):
                # BEGIN IMMEDIATE waits (busy_timeout) for a running service's write to
                # finish, where a deferred BEGIN could fail at once (SQLITE_BUSY_SNAPSHOT).
                raw = (await conn.get_raw_connection()).driver_connection
                assert raw is not None  # an open connection always has its driver's
                await raw.execute("BEGIN IMMEDIATE")
                try:
                    await raw.execute(probe)
                finally:
                    await raw.execute("ROLLBACK")
            else:
                trans = await conn.begin()
                try:
                    await conn.exec_driver_sql(probe)
                finally:
                    await trans.rollback()
    except (DBAPIError, sqlite3.Error, OSError) as exc:
        raise DatabaseError(describe_db_error(engine, exc)) from None


def refuse_to_recreate(engine: AsyncEngine, db: Path) -> None:
    """After start-up, a new pooled connection must not create an empty file where the
    database was deleted: SQLite would do so silently and split the writes."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _exists(_dialect: Any, _record: Any, _cargs: Any, _cparams: Any) -> None:
        if not db.exists():
            raise sqlite3.OperationalError(f"unable to open database file {db}: it is missing")


class FileWatch:
    """Notices the database file being deleted, moved or replaced while running."""

    def __init__(self, db: Path) -> None:
        self.db = db
        st = db.stat()
        self._identity = (st.st_dev, st.st_ino)

    def problem(self) -> str | None:
        try:
            st = self.db.stat()
        except FileNotFoundError:
            return (
                f"database file {self.db} was deleted or moved away while running; put it "
                "back, or stop pressurebot and restore a backup"
            )
        except OSError as exc:
            return f"database file {self.db} cannot be checked: {exc.strerror or exc}"
        if (st.st_dev, st.st_ino) != self._identity:
            return (
                f"database file {self.db} was replaced while running; restart pressurebot "
                "to use the new file"
            )
        return None


def sqlite_library_version() -> tuple[int, int, int]:
    return sqlite3.sqlite_version_info


async def check_schema_current(engine: AsyncEngine) -> None:
    """For a `scan` next to a running service, which must not migrate under it."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from bot.storage.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    except (DBAPIError, OSError) as exc:
        raise DatabaseError(describe_db_error(engine, exc)) from None
    if current != head:
        raise DatabaseError(
            f"database {engine.url.database} needs a migration, and a running pressurebot "
            "holds it; stop the service and run `pressurebot migrate`"
        )
