"""The cycle's liquidation read (docs/alerts.md, "Cascades"; docs/rules.md, "Liquidation
fields"): what the cascade reader costs inside the cycle's write transaction with the
cascade's 15-minute window alone (as before the rule fields) and with the rule fields'
1h window beside it (now), in the same run.

    PYTHONPATH=. .venv/bin/python bench/liq_read.py

600 Binance symbols on a fresh migrated SQLite file, three hours of one-minute buckets
and full coverage stored. Two densities: 5% of symbol-side-minutes liquidated (about
3,600 buckets an hour, a busy ordinary day) and every one of them (72,000 an hour, an
extreme no market reaches). Median of 9 reads, each in its own write transaction, the
1h variant including the rule values (`liq_values`) for every symbol.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.alerts.cascade import CascadeAsk
from bot.alerts.rules.rows import liq_values
from bot.config import DatabaseSettings
from bot.liquidations.figures import LiqReader
from bot.storage import liq_repo
from bot.storage.db import create_engine, migrate, session_factory

MIN, HOUR = 60_000, 3_600_000
NOW = 1_767_225_600_000 + 7 * HOUR + 30 * MIN + 15_000
SYMBOLS = [f"C{i:04d}USDT" for i in range(600)]


async def run(share: float) -> None:
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/liq.db"))
    await migrate(engine)
    sessions = session_factory(engine)
    rng = random.Random(1)
    first = NOW - 3 * HOUR
    minutes = range(first - first % MIN, NOW, MIN)
    rows = [
        ("binance", s, side, m, rng.uniform(100, 1e5), 1.0, 1)
        for m in minutes
        for s in SYMBOLS
        for side in ("long", "short")
        if rng.random() < share
    ]
    async with sessions() as session, session.begin():
        await liq_repo.write_coverage(session, 1, [("binance", m, MIN) for m in minutes])
        for i in range(0, len(rows), 20_000):
            await liq_repo.write_buckets(session, 1, rows[i : i + 20_000])
    asks = {s: CascadeAsk((("binance", s),), 1e7) for s in SYMBOLS}
    reader = LiqReader()
    found: dict[str, float] = {}
    for label, windows in (("15 min alone", (15 * MIN,)), ("15 min + 1h", (15 * MIN, HOUR))):
        times = []
        for _ in range(9):
            started = time.perf_counter()
            async with sessions() as session, session.begin():
                got = await reader.cascade_readings(session, NOW, windows, asks, {})
                if HOUR in got:
                    for k in asks:
                        liq_values(got[HOUR][k], got[15 * MIN][k], 0.9)
            times.append((time.perf_counter() - started) * 1000)
        found[label] = statistics.median(times)
    print(
        f"{len(SYMBOLS)} symbols, {len(rows) / 3:,.0f} buckets an hour: "
        + "; ".join(f"{k} {v:.1f} ms" for k, v in found.items())
    )
    await engine.dispose()


if __name__ == "__main__":
    for density in (0.05, 1.0):
        asyncio.run(run(density))
