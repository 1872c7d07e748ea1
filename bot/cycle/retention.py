"""Deleting what is past retention, one hour of data per transaction.

After days of downtime the backlog is large; one big DELETE would hold SQLite's write
lock for seconds, longer than other writers' busy_timeout. Each table advances from its
own oldest row; usually one slice covers it all. The retention keys are `[scorer]
oi_sample_retention_hours`, `snapshot_retention_days`, `hourly_retention_days` and
`[alerts] event_retention_days` (docs/operations.md).

The cascade states (`alert_cascade`, a handful of rows) go in one statement when their
symbol has not been stepped for the flushed hold (`[alerts] cascade_flushed_cycles`
cycles), and at least a day: a symbol delisted or out of the universe is never stepped
again. The day keeps a restart after a short outage from forgetting a cascade that is
still on (which would announce it again).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.storage import cascade_repo, hourly_repo, market_repo

logger = logging.getLogger("bot.cycle.run")

PRUNE_SLICE_MS = 3_600_000
DAY_MS = 86_400_000
# Per table (OI samples, snapshots, events, hourly rows): an hour of cycle data, but a
# day of hourly rows (one row per symbol per hour: a day is what an hour is elsewhere).
SLICES = (PRUNE_SLICE_MS, PRUNE_SLICE_MS, PRUNE_SLICE_MS, DAY_MS)


async def prune(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, now_ms: int
) -> dict[str, int]:
    """Delete every row past its retention; returns the rows deleted per table."""
    s = settings
    cuts = (
        now_ms - s.scorer.oi_sample_retention_hours * 3_600_000,
        now_ms - s.scorer.snapshot_retention_days * DAY_MS,
        now_ms - s.alerts.event_retention_days * DAY_MS,
        now_ms - s.scorer.hourly_retention_days * DAY_MS,
    )
    async with sessions() as session:
        oldest = (*await market_repo.oldest_times(session), await hourly_repo.oldest_hour(session))
    edges = [
        cut if old is None else min(cut, old + step)
        for cut, old, step in zip(cuts, oldest, SLICES, strict=True)
    ]
    total: dict[str, int] = {}
    while True:
        async with sessions() as session, session.begin():
            deleted = await market_repo.prune(
                session,
                oi_before_ms=edges[0],
                snapshots_before_ms=edges[1],
                events_before_ms=edges[2],
            )
            deleted["hourly_rows"] = await hourly_repo.prune(session, edges[3])
        for table, n in deleted.items():
            total[table] = total.get(table, 0) + n
        if edges == list(cuts):
            break
        edges = [min(c, e + step) for c, e, step in zip(cuts, edges, SLICES, strict=True)]
    hold_ms = s.alerts.cascade_flushed_cycles * int(s.scorer.interval_seconds * 1000)
    async with sessions() as session, session.begin():
        total["alert_cascade"] = await cascade_repo.prune(session, now_ms - max(hold_ms, DAY_MS))
    if any(total.values()):
        logger.info("retention: pruned %s", total)
    return total
