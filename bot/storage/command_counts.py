"""Command counts shared by every replica that answers updates (PostgreSQL).

One row per (scope, key, window): scope "user" or "group", key the user or chat id,
window_ms the start of a fixed window on the DATABASE clock, so replicas whose clocks
disagree still count into the same window. `count_command` is one statement: the upsert
adds one and returns the new count. Old windows are deleted by `prune_command_counts`.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_COUNT_SQL = text(
    """
    INSERT INTO command_counts (scope, key, window_ms, count)
    VALUES (
        :scope, :key,
        (CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) / :window) * :window,
        1
    )
    ON CONFLICT (scope, key, window_ms) DO UPDATE SET count = command_counts.count + 1
    RETURNING count
    """
)
_PRUNE_SQL = text(
    """
    DELETE FROM command_counts
    WHERE window_ms < CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) - :keep
    """
)


async def count_command(session: AsyncSession, scope: str, key: int, window_ms: int) -> int:
    """Count one command for (scope, key) in the current window; the count so far,
    this one included."""
    params = {"scope": scope, "key": key, "window": window_ms}
    return int((await session.execute(_COUNT_SQL, params)).scalar_one())


async def prune_command_counts(session: AsyncSession, keep_ms: int) -> int:
    """Delete windows that started more than `keep_ms` ago; how many rows went."""
    result = await session.execute(_PRUNE_SQL, {"keep": keep_ms})
    return int(getattr(result, "rowcount", 0) or 0)
