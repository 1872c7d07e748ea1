"""A throwaway SQLite database for replays, without aiosqlite's worker thread.

aiosqlite runs every call on a worker thread and hands the result back to the event
loop. Each SQLAlchemy statement makes about four such calls, about 0.1 ms each on a
small machine: 0.35 ms for `SELECT 1`. A replay makes a few hundred thousand statements
(the alert engine's handful per hourly cycle, for tens of thousands of hours) and nothing
else runs on its event loop, so here each call runs inline instead: about 0.03 ms for
`SELECT 1`, and the whole replay runs about 4x faster.

Only the transport changes. The SQL, the SQLAlchemy session and dialect (aiosqlite), the
pragmas (`bot.storage.db`), the migrations and the alert engine are the live ones, and
`tests/replay` checks that a replay on the stock engine gives identical records.

This leans on aiosqlite internals (`Connection._tx`, `_connect`, the `(future, function)`
requests `_execute` queues), so pyproject.toml pins aiosqlite to the minor this was
written for (0.22) and tests/replay/test_sqlite_inline.py fails, rather than a replay
hanging, if an upgrade changes them. Kept over a synchronous replay engine because the
alert engine and the repositories are async-only: a sync engine would mean a second
copy of every query the replay runs, and the ~4x speed is what keeps a whole-file
replay near a minute.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.storage import db as storage_db

BUSY_TIMEOUT_MS = 5000


class _InlineQueue:
    """Stands in for aiosqlite's request queue: runs each request on arrival."""

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as aiosqlite does
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """`aiosqlite.Connection` whose requests run in the caller's thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineQueue()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()  # no worker thread to start


def create_inline_engine(path: str | Path) -> AsyncEngine:
    """An engine on the SQLite file `path`, set up as `bot.storage.db.create_engine`
    sets up SQLite (same pragmas, explicit BEGIN), with inline connections."""
    location = str(path)

    def connect() -> InlineConnection:
        return InlineConnection(
            lambda: sqlite3.connect(location, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        )

    engine = create_async_engine(f"sqlite+aiosqlite:///{location}", async_creator=connect)
    storage_db._install_sqlite_pragmas(engine, BUSY_TIMEOUT_MS)
    return engine
