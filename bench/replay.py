"""Replay benchmark (README, Performance): the shipped four-year history through the
scorer and the alert engine, as `pressurebot replay` runs it, beside one sequential run.

    .venv/bin/python bench/replay.py [PATH] [--from DATE] [--to DATE] [--no-peer]

Ours: the timeline split into two chunks in parallel processes, each on an inline SQLite
database (bot/replay/alerts.py; docs/scoring.md, Evidence). The peer, in the same run:
one process, one chunk, the stock engine (aiosqlite, as the service runs it). Both must
give the same alert records. Each prints wall time and CPU time (this process and its
worker processes), and the load average around it: on a shared machine wall time
follows the load, CPU time much less so. `--from`/`--to` replay a slice (the README row
is the whole file).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._machine import machine
from bot.config import Settings
from bot.replay.alerts import replay_alerts
from bot.replay.data import SHIPPED_HISTORY, parse_time, read_history
from bot.replay.run import planned_cycles, score_history


@dataclass
class Timing:
    wall: float
    cpu: float  # this process and its reaped children
    load: tuple[float, float]  # 1-minute load average before and after
    records: list[object]


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def run(path: str, start_ms: int | None, end_ms: int | None, *, ours: bool) -> Timing:
    """Read, score and replay the alerts: what `pressurebot replay` times as `total`."""
    settings = Settings()
    load0, cpu0, wall0 = os.getloadavg()[0], _cpu(), time.perf_counter()
    history = read_history(path, symbols=None, start_ms=start_ms, end_ms=end_ms)
    tolerance_ms = settings.scorer.window_tolerance_seconds * 1000
    scored, _ = score_history(history, settings.scoring, tolerance_ms=tolerance_ms)
    cycles = planned_cycles(scored)
    if ours:
        log = await replay_alerts(settings, cycles)
    else:
        log = await replay_alerts(settings, cycles, workers=1, inline_db=False)
    wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
    print(
        f"  {'ours' if ours else 'peer'}: {len(cycles):,} cycles, {len(log.records):,} alert "
        f"records, {log.workers} process(es){' (fell back)' if log.fallback else ''}: "
        f"wall {wall:.1f} s, CPU {cpu:.1f} s",
        flush=True,
    )
    return Timing(wall, cpu, (load0, os.getloadavg()[0]), list(log.records))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(SHIPPED_HISTORY))
    parser.add_argument("--from", dest="date_from", metavar="DATE")
    parser.add_argument("--to", dest="date_to", metavar="DATE")
    parser.add_argument("--no-peer", action="store_true", help="ours only")
    args = parser.parse_args()
    start_ms = parse_time(args.date_from) if args.date_from else None
    end_ms = parse_time(args.date_to) if args.date_to else None
    logging.getLogger("bot.alerts").setLevel(logging.ERROR)  # as `pressurebot replay`
    print(f"replay of {args.path}\nmachine: {machine()}", flush=True)
    ours = await run(args.path, start_ms, end_ms, ours=True)
    peer = None if args.no_peer else await run(args.path, start_ms, end_ms, ours=False)
    print(
        f"\nours: wall {ours.wall:.1f} s, CPU {ours.cpu:.1f} s "
        f"(load {ours.load[0]:.1f} -> {ours.load[1]:.1f})"
    )
    if peer is None:
        return 0
    print(
        f"peer: wall {peer.wall:.1f} s, CPU {peer.cpu:.1f} s "
        f"(load {peer.load[0]:.1f} -> {peer.load[1]:.1f}); "
        f"peer/ours wall {peer.wall / ours.wall:.2f}x, CPU {peer.cpu / ours.cpu:.2f}x"
    )
    same = peer.records == ours.records
    print(f"same alert records: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
