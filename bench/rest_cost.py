"""Cost at rest (README, Performance; issue 17 §5): the whole service, scoring three
venues at its cadence with subscribers and no commands, beside today's configuration.

    .venv/bin/python bench/rest_cost.py [--minutes 30] [--interval 300] [--subscribed 50]
        [--binance 600] [--bybit 500] [--okx 250] [--history-hours 48] [--latency-ms 25]

Prints CPU and RSS for each configuration and PASS/FAIL for ours (average CPU <= 5% of
one core, peak RSS <= 250 MB); exits 1 when a target is missed.

Method:
- Two services run side by side, each the real `pressurebot run` in its own process
  with its own SQLite file, all three venues, the cadence `--interval`:
  ours: the shipped defaults;
  today: the naive peer, the defaults before issue 17: the top 600 symbols' charts drawn
  after every cycle (chart_prerender_symbols = chart_prerender_top = 600), each on a
  figure built for it (bench/_figure_per_chart.py, the renderer as it was).
- The loopback fakes run in a child process (multiprocessing, spawn), so their CPU is
  not counted: Binance, Bybit and OKX (coins SYM0000... as in bench/venues_cycle.py,
  each answer after `--latency-ms`), and one fake Bot API per service.
- Before each service starts, its database is migrated (`pressurebot migrate`) and
  seeded with `--history-hours` of 5-minute cycles of the cross-venue view (the view
  /symbol charts read: each chart then has 576 points, as after two days of running),
  and `--subscribed` chats, each subscribed to one coin spread over the ranking.
- The first cross-venue cycle is warm-up, left out (cold caches, backfill, alerts while
  the seeded bands give way to the fakes' market). The window runs from the end of that
  cycle to the end of the cycle `--minutes` later (minutes * 60 / interval cycles): each
  cycle's fetch, scoring, writes and alerts, and the charts drawn after each.
- CPU: the process's utime + stime (/proc/PID/stat, all its threads) over the window,
  per cycle and as % of one core over the window's wall time. RSS: VmRSS
  (/proc/PID/status) every second during the window, peak and mean.

The cadence and duration are flags so a short run can check the set-up; the figures in
the README come from the default 30 minutes at the 5-minute cadence. A shorter
interval is not equivalent: the per-cycle work is the same but is spread over less
time, and today's 600 charts (about a minute of CPU) may not finish between cycles.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _machine import machine  # bench/ is sys.path[0] when a script runs
from commands import seed_db

ROOT = Path(__file__).resolve().parent.parent

CPU_TARGET_PCT = 5.0
RSS_TARGET_MB = 250.0
TODAY = {"CHART_PRERENDER_SYMBOLS": "600", "CHART_PRERENDER_TOP": "600"}
# The cross-venue cycle's line (a venue's own line starts with its name, has no alerts).
AGGREGATE_CYCLE = re.compile(r"(?<![a-z] )cycle \d+: \w+, \d+/\d+ symbols, \d+ alerts")
TICK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ the fakes


def _fakes_process(conn: Connection, latency: float, sizes: tuple[int, int, int]) -> None:
    asyncio.run(_serve(conn, latency, sizes))


async def _serve(conn: Connection, latency: float, sizes: tuple[int, int, int]) -> None:
    from fakes.fake_binance import FakeBinance
    from fakes.fake_bybit import FakeBybit
    from fakes.fake_okx import FakeOkx
    from fakes.fake_telegram import FakeTelegram

    loop = asyncio.get_running_loop()
    async with (
        FakeBinance(latency=latency) as fb,
        FakeBybit(latency=latency) as fy,
        FakeOkx(latency=latency) as fo,
        FakeTelegram() as ours,
        FakeTelegram() as today,
    ):
        fb.populate(sizes[0], seed=1)
        fy.populate(sizes[1], seed=2)
        fo.populate(sizes[2], seed=3)
        conn.send(
            {
                "venues": (fb.url, fy.url, fo.url),
                "ours": (ours.base_url, ours.token),
                "today": (today.base_url, today.token),
            }
        )
        await loop.run_in_executor(None, conn.recv)  # "stop"
        conn.send({"sent": {"ours": len(ours.sent), "today": len(today.sent)}})


# ------------------------------------------------------------------ one service


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    db: Path
    cycles: list[tuple[float, float]] = field(default_factory=list)  # (at, CPU s)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (at, MB)
    tail: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)

    def run_once(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "bot", *args], env=self.env, capture_output=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"{self.name}: pressurebot {args[0]}: {done.stderr.decode()[-500:]}")

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.tail = [*self.tail[-40:], line]
            if AGGREGATE_CYCLE.search(line):
                with contextlib.suppress(OSError):
                    sample = (time.monotonic(), cpu_seconds(self.proc.pid))
                    with self.changed:
                        self.cycles.append(sample)
                        self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def sample_rss(self) -> None:
        """Once a second, between the first cycle and the end of the window."""
        assert self.proc is not None
        if self.cycles and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.rss.append((time.monotonic(), rss_mb(self.proc.pid)))

    def wait_cycles(self, n: int, deadline: float) -> None:
        assert self.proc is not None
        with self.changed:
            while len(self.cycles) < n:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    tail = "\n".join(self.tail[-20:])
                    raise SystemExit(f"{self.name}: {len(self.cycles)}/{n} cycles; log:\n{tail}")
                self.changed.wait(timeout=1.0)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def seed(service: Service, coins: list[str], hours: int, subscribed: int, interval: int) -> None:
    """History of the cross-venue view ending one interval ago (the first cycle then
    starts at once), and the subscribers, each to one coin spread over the list."""
    service.run_once("migrate")
    last = int(time.time() * 1000) - interval * 1000
    seed_db(service.db, coins, hours, seed=7, exchange="all", last_finished_ms=last)
    step = max(1, len(coins) // max(subscribed, 1))
    chosen = coins[::step][:subscribed]
    now = int(time.time() * 1000)
    with sqlite3.connect(service.db) as conn:
        conn.executemany(
            "INSERT INTO chats (id, type, active, min_band, direction, created_ms)"
            " VALUES (?, 'private', 1, 'lean', 'both', ?)",
            [(1001 + i, now) for i in range(len(chosen))],
        )
        conn.executemany(
            "INSERT INTO subscriptions (chat_id, exchange, symbol, kind, created_ms)"
            " VALUES (?, 'all', ?, 'bands', ?)",
            [(1001 + i, coin, now) for i, coin in enumerate(chosen)],
        )


def make_service(
    name: str, tmp: Path, urls: dict[str, tuple[str, ...]], args: argparse.Namespace
) -> Service:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRESSUREBOT_", "TELEGRAM_"))}
    binance, bybit, okx = urls["venues"]
    base_url, token = urls[name]
    db = tmp / f"{name}.db"
    env.update(
        PRESSUREBOT_EXCHANGE__VENUES='["binance", "bybit", "okx"]',
        PRESSUREBOT_EXCHANGE__BASE_URL=binance,
        PRESSUREBOT_EXCHANGE__BYBIT_BASE_URL=bybit,
        PRESSUREBOT_EXCHANGE__OKX_BASE_URL=okx,
        PRESSUREBOT_DATABASE__URL=f"sqlite+aiosqlite:///{db}",
        PRESSUREBOT_SCORER__INTERVAL_SECONDS=str(args.interval),
        PRESSUREBOT_TELEGRAM__TOKEN=token,
        PRESSUREBOT_TELEGRAM__BASE_URL=base_url,
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    if name == "today":
        env.update({f"PRESSUREBOT_TELEGRAM__{k}": v for k, v in TODAY.items()})
        argv = [sys.executable, str(ROOT / "bench" / "_figure_per_chart.py"), "run"]
    else:
        argv = [sys.executable, "-m", "bot", "run"]
    return Service(name, argv, env, db)


# ------------------------------------------------------------------ the run


@dataclass
class Figures:
    cycles: int
    wall: float
    cpu: float
    rss_peak: float
    rss_mean: float

    @property
    def cpu_pct(self) -> float:
        return 100 * self.cpu / self.wall

    @property
    def cpu_per_cycle(self) -> float:
        return self.cpu / self.cycles


def figures(service: Service, first: int, last: int) -> Figures:
    (t0, c0), (t1, c1) = service.cycles[first], service.cycles[last]
    window = [mb for at, mb in service.rss if t0 <= at <= t1] or [0.0]
    return Figures(last - first, t1 - t0, c1 - c0, max(window), sum(window) / len(window))


def measure(services: list[Service], args: argparse.Namespace) -> dict[str, Figures]:
    n = max(1, round(args.minutes * 60 / args.interval))
    for service in services:
        service.start()
    deadline = time.monotonic() + args.warmup_minutes * 60 + (n + 1) * args.interval * 1.5
    stop = threading.Event()

    def sampler() -> None:
        while not stop.wait(1.0):
            for service in services:
                service.sample_rss()

    threading.Thread(target=sampler, daemon=True).start()
    try:
        for service in services:
            service.wait_cycles(1 + n, deadline)
    finally:
        stop.set()
        for service in services:
            service.stop()
    return {s.name: figures(s, 0, n) for s in services}


def report(out: dict[str, Figures], args: argparse.Namespace, coins: int, sent: dict) -> bool:
    ours, today = out["ours"], out["today"]
    print(f"machine: {machine()}")
    print(
        f"venues: binance {args.binance}, bybit {args.bybit}, okx {args.okx} symbols "
        f"({coins} cross-venue coins, {args.history_hours} h of history each); "
        f"{args.subscribed} chats subscribed to one coin each, no commands; "
        f"cadence {args.interval} s; window {ours.cycles} cycles ({ours.wall / 60:.1f} min) "
        "after the first"
    )
    print(f"{'configuration':<44}{'CPU s/cycle':>12}{'CPU % core':>12}{'RSS peak':>10}{'mean':>8}")
    for label, f in (
        ("ours (shipped defaults)", ours),
        ("today's defaults (600 charts, naive peer)", today),
    ):
        print(
            f"{label:<44}{f.cpu_per_cycle:>12.2f}{f.cpu_pct:>11.2f}%"
            f"{f.rss_peak:>7.0f} MB{f.rss_mean:>5.0f} MB"
        )
    print(f"(Bot API sends, warm-up included: ours {sent['ours']}, today's {sent['today']})")
    cpu_ok, rss_ok = ours.cpu_pct <= CPU_TARGET_PCT, ours.rss_peak <= RSS_TARGET_MB
    print(
        f"{'PASS' if cpu_ok else 'FAIL'} average CPU {ours.cpu_pct:.2f}% of one core "
        f"(target <= {CPU_TARGET_PCT:g}%): {today.cpu_pct / max(ours.cpu_pct, 1e-9):.1f}x "
        "less than today's"
    )
    print(
        f"{'PASS' if rss_ok else 'FAIL'} peak RSS {ours.rss_peak:.0f} MB (target <= "
        f"{RSS_TARGET_MB:g} MB): {today.rss_peak / max(ours.rss_peak, 1e-9):.2f}x less than today's"
    )
    return cpu_ok and rss_ok


def bench(args: argparse.Namespace) -> int:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    sizes = (args.binance, args.bybit, args.okx)
    proc = ctx.Process(target=_fakes_process, args=(child, args.latency_ms / 1000, sizes))
    proc.start()
    # Coins on two venues or more get a cross-venue row: the smaller lists' names.
    coins = [f"SYM{i:04d}" for i in range(sorted(sizes)[1])]
    try:
        urls = parent.recv()
        with tempfile.TemporaryDirectory(prefix="pb-rest-") as tmp:
            services = [make_service(n, Path(tmp), urls, args) for n in ("ours", "today")]
            for service in services:
                seed(service, coins, args.history_hours, args.subscribed, args.interval)
            out = measure(services, args)
        parent.send("stop")
        sent = parent.recv()["sent"]
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
    return 0 if report(out, args, len(coins), sent) else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="measured window")
    ap.add_argument("--interval", type=int, default=300, help="scorer cadence, seconds")
    ap.add_argument("--subscribed", type=int, default=50)
    ap.add_argument("--binance", type=int, default=600)
    ap.add_argument("--bybit", type=int, default=500)
    ap.add_argument("--okx", type=int, default=250)
    ap.add_argument("--history-hours", type=int, default=48)
    ap.add_argument("--latency-ms", type=float, default=25.0)
    ap.add_argument("--warmup-minutes", type=float, default=10.0, help="first cycle's limit")
    sys.exit(bench(ap.parse_args()))


if __name__ == "__main__":
    main()
