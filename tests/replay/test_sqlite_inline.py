"""bot/replay/sqlite_inline.py replaces aiosqlite's private request queue. These checks
fail loudly (instead of a replay hanging on a queue nobody reads) when the installed
aiosqlite is outside the pinned range or no longer has the internals it relies on."""

from __future__ import annotations

import asyncio
import inspect
import re
import sqlite3
import threading
import tomllib
from importlib.metadata import version
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text

from bot.replay.sqlite_inline import InlineConnection, create_inline_engine

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _release(raw: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", raw)[:3])


def test_installed_aiosqlite_is_in_the_pinned_range() -> None:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    spec = next(d for d in deps if d.startswith("aiosqlite"))
    low = re.search(r">=\s*([\d.]+)", spec)
    high = re.search(r"<\s*([\d.]+)", spec)
    assert low and high, f"aiosqlite must be pinned to a range (>=x,<y), not {spec!r}"
    installed = _release(version("aiosqlite"))
    assert _release(low.group(1)) <= installed < _release(high.group(1)), spec


def test_aiosqlite_still_has_the_internals_replaced() -> None:
    conn = aiosqlite.Connection(lambda: None, iter_chunk_size=64)  # type: ignore[arg-type,return-value]
    assert hasattr(conn._tx, "put_nowait"), "requests no longer go through _tx"
    assert isinstance(conn._thread, threading.Thread)
    assert inspect.iscoroutinefunction(aiosqlite.Connection._connect)
    # Every request is queued as (future, function): what _InlineQueue unpacks.
    source = inspect.getsource(aiosqlite.Connection._execute)
    assert "self._tx.put_nowait((future, function))" in source


async def test_inline_connection_runs_without_a_worker_thread(tmp_path: Path) -> None:
    """A statement, an error and a close, all answered in the caller's thread. With a
    changed queue the awaits would never finish: the timeouts turn that into a failure."""
    conn = InlineConnection(lambda: sqlite3.connect(tmp_path / "x.db", isolation_level=None))
    await asyncio.wait_for(conn, 5)
    try:
        assert not conn._thread.is_alive()
        cursor = await asyncio.wait_for(conn.execute("SELECT 40 + 2"), 5)
        assert await asyncio.wait_for(cursor.fetchone(), 5) == (42,)
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await asyncio.wait_for(conn.execute("SELECT * FROM missing"), 5)
    finally:
        await asyncio.wait_for(conn.close(), 5)
    assert not conn._thread.is_alive()


async def test_inline_engine_round_trip(tmp_path: Path) -> None:
    engine = create_inline_engine(tmp_path / "replay.db")
    try:
        async with engine.begin() as db:
            await db.execute(text("CREATE TABLE t (v INTEGER)"))
            await db.execute(text("INSERT INTO t VALUES (7)"))
        async with engine.connect() as db:
            assert (await db.execute(text("SELECT v FROM t"))).scalar_one() == 7
            mode = (await db.execute(text("PRAGMA journal_mode"))).scalar_one()
            assert mode == "wal"  # the live pragmas, as bot.storage.db installs them
    finally:
        await asyncio.wait_for(engine.dispose(), 5)
