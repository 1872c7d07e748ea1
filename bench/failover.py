"""Failover: time from kill -9 of the scoring replica to the next committed cycle, ours
beside the naive peer, in one run.

    PRESSUREBOT_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \
        PYTHONPATH=. .venv/bin/python bench/failover.py [--trials 10] [--naive-trials 3]

Each trial gets a fresh PostgreSQL database and two headless `pressurebot run` replicas
(real processes) against the loopback fake exchange, scorer interval 2 s. Once one of
them has stored two cycles it is killed with SIGKILL at a random point of its interval;
the figure is the time from the kill to the standby's first stored cycle (its log line,
written after the commit). The gap between that cycle's start and the killed scorer's
last one is printed too: the cadence kept, at most one interval missed.

OURS: `[replica] lease_seconds = 3` (renewed every second) and the new holder's first
cycle at the last cycle's start + one interval. NAIVE: the same code with a lease of
60 s, the figure people reach for when nothing says how to choose it; its trials run
side by side (each waits out a minute), so it costs about as much as one of them.
Takes about 5 minutes on 2 busy cores. Skips (exit 0) without PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _machine import machine  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from fakes.fake_binance import FakeBinance  # noqa: E402
from fakes.pg_database import POSTGRES_ENV, fresh_database  # noqa: E402
from fakes.service_process import ServiceProcess, service_env  # noqa: E402

INTERVAL = 2.0
CYCLE = re.compile(r"cycle \d+: ")


@dataclass
class Trial:
    failover_s: float  # kill -> the standby's first stored cycle (logged after commit)
    gap_s: float  # start of the last cycle before the kill -> start of the next one


def market(fake: FakeBinance) -> None:
    now = int(time.time() * 1000)
    for symbol, oi in (("BTCUSDT", 1000.0), ("ETHUSDT", 500.0)):
        fake.add_symbol(symbol, mark=100.0, index=100.0, funding_rate=0.0001, oi=oi)
        fake.set_oi_history(symbol, [(now - k * 300_000, oi) for k in range(1, 301)])


async def cycle_starts(db_url: str) -> list[int]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT started_ms FROM cycles ORDER BY started_ms"))
            return [int(s) for (s,) in rows]
    finally:
        await engine.dispose()


async def next_cycle(replicas: list[ServiceProcess], timeout: float) -> ServiceProcess:
    """The first of `replicas` to log one more stored cycle."""
    waits = {
        asyncio.create_task(
            r.wait_for(CYCLE.pattern, n=r.count(CYCLE.pattern) + 1, timeout=timeout)
        ): r
        for r in replicas
    }
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    first = next(iter(done))
    first.result()
    return waits[first]


async def trial(server_url: str, fake: FakeBinance, lease: float, seed: int) -> Trial:
    rng = random.Random(seed)
    async with fresh_database(server_url) as db_url:
        with tempfile.TemporaryDirectory() as tmp:
            replicas = [
                ServiceProcess(
                    service_env(
                        Path(tmp),
                        fake.url,
                        PRESSUREBOT_DATABASE__URL=db_url,
                        PRESSUREBOT_SCORER__INTERVAL_SECONDS=str(INTERVAL),
                        PRESSUREBOT_REPLICA__NAME=name,
                        PRESSUREBOT_REPLICA__LEASE_SECONDS=str(lease),
                        PRESSUREBOT_LOGGING__LEVEL="INFO",
                    )
                )
                for name in ("a", "b")
            ]
            try:
                await asyncio.gather(*(r.start() for r in replicas))
                scorer = await next_cycle(replicas, 60)
                await scorer.wait_for(CYCLE.pattern, n=2, timeout=30)
                await asyncio.sleep(rng.uniform(0, INTERVAL))  # a random phase
                killed_at = time.monotonic()
                await scorer.kill()
                standby = [r for r in replicas if r is not scorer]
                await next_cycle(standby, lease * 2 + 30)
                failover = time.monotonic() - killed_at
            finally:
                for r in replicas:
                    if r.returncode is None:
                        await r.stop(signal.SIGTERM)
            starts = await cycle_starts(db_url)
    gap = max(b - a for a, b in itertools.pairwise(starts)) / 1000
    return Trial(failover, gap)


def summary(label: str, trials: list[Trial]) -> tuple[float, str]:
    times = sorted(t.failover_s for t in trials)
    med = statistics.median(times)
    return med, (
        f"{label:<44} n={len(trials):>2}  failover median {med:5.2f} s, max {times[-1]:5.2f} s; "
        f"largest gap between cycle starts {max(t.gap_s for t in trials):5.2f} s "
        f"({max(t.gap_s for t in trials) / INTERVAL:.1f} intervals)"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--naive-trials", type=int, default=3)
    parser.add_argument("--lease", type=float, default=3.0, help="ours (s)")
    parser.add_argument("--naive-lease", type=float, default=60.0)
    args = parser.parse_args()
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        print(f"failover: skipped, needs PostgreSQL ({POSTGRES_ENV}=postgresql+asyncpg://...)")
        return 0
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"interval {INTERVAL:.0f} s; two replicas per trial; kill -9 at a random phase")
    async with FakeBinance() as fake:
        market(fake)
        ours = [await trial(server, fake, args.lease, seed) for seed in range(args.trials)]
        ours_med, line = summary(f"ours (lease {args.lease:.0f} s, aligned schedule)", ours)
        print(line, flush=True)
        naive = await asyncio.gather(
            *(trial(server, fake, args.naive_lease, 100 + s) for s in range(args.naive_trials))
        )
    naive_med, line = summary(f"naive (lease {args.naive_lease:.0f} s)", list(naive))
    print(line)
    print(f"naive / ours, median failover: {naive_med / ours_med:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
