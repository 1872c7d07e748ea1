"""`market_repo.snapshot_series`, the dashboard's chart query, on SQLite and PostgreSQL:
a window of one symbol's history, thinned to evenly spaced cycles when asked."""

from __future__ import annotations

from bot.storage import market_repo
from tests.storage.test_retention import cycle, snapshot

STEP = 300_000


async def test_series_window_and_thinning(sessions) -> None:
    async with sessions() as session, session.begin():
        for k in range(1, 13):
            session.add(cycle(k, k * STEP))
        await session.flush()
        for k in range(1, 13):
            session.add(snapshot(k, k * STEP))
            session.add(snapshot(k, k * STEP, symbol="ETHUSDT"))
    async with sessions() as session:
        cols = ("cycle_id", "score")
        full = await market_repo.snapshot_series(session, "binance", "BTCUSDT", 3 * STEP, cols)
        thin = await market_repo.snapshot_series(
            session, "binance", "BTCUSDT", 3 * STEP, cols, max_points=4
        )
    assert [r[1] for r in full] == list(range(3, 13))
    assert [r[0] for r in full] == [k * STEP for k in range(3, 13)]
    # 10 cycles into at most 4 points: every third, counted back from the newest.
    assert [r[1] for r in thin] == [3, 6, 9, 12]
