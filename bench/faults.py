"""Delivery under Telegram faults: lost, duplicated and delayed pushes, ours beside the
naive peer, in one run.

    PYTHONPATH=. .venv/bin/python bench/faults.py [--chats 150] [--cycles 2]
        [--latency-ms 0,250] [--scenarios outage,flood,errors,blocked,kill] [--no-naive]

Each scenario starts from a fresh outbox of chats x cycles pending deliveries (one digest
per (chat, cycle), so one message each) and drains it with a *separate sending process*
against the loopback fake Bot API, which enforces Telegram's flood limits:

- outage:  every call (sends, getMe) is answered 502 for the first 60 s of the broadcast;
- flood:   20% of sends are answered 429 (retry_after 1 s), at random;
- errors:  5% of sends are answered 502, at random;
- blocked: 10 chats answer 403 (blocked the bot): their deliveries are rightly dropped,
           so they count neither as lost nor as delivered;
- kill:    the sending process is killed with SIGKILL a third of the way through the
           broadcast and started again.

OURS is the real `OutboxWorker` + `Sender` (what `pressurebot run` uses); NAIVE is the
obvious loop: one message after another with `sleep(1/30)`, marking each row `sent` or,
on any error, `failed` (no retry). Figures, per scenario and latency:
- lost: a (chat, cycle) for a reachable chat that never arrived;
- duplicated: arrivals beyond the first of the same (chat, cycle);
- p95 delay: seconds from the end of the fault (the outage's end; otherwise the start of
  the broadcast) to each first arrival; the target is <= 60 s after an outage.

The lock-contention figures (200 commands in one instant, a cycle write and a 30 msg/s
broadcast at once; naive = every transaction on a deferred BEGIN) come from
bench/locks.py, run in the same process, and close the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _machine import machine  # noqa: E402
from aiohttp import web  # noqa: E402
from delivery import build_outbox as fill_outbox  # noqa: E402
from delivery import symbol_for  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402

from bot.config import DatabaseSettings, Settings  # noqa: E402
from bot.storage import outbox_repo  # noqa: E402
from bot.storage.db import create_engine, migrate, session_factory  # noqa: E402
from bot.storage.models import Delivery  # noqa: E402
from fakes.fake_telegram import SEND_METHODS, FakeTelegram, _error  # noqa: E402

EXCHANGE = "binance"
OUTAGE_SECONDS = 60.0
FIRST_CHAT = 10_000  # delivery.build_outbox's first chat id
SYMBOL = re.compile(r"C\d{5}USDT")
SCENARIOS = ("outage", "flood", "errors", "blocked", "kill")


# ---------------------------------------------------------------- the faulty Bot API


class FaultyTelegram(FakeTelegram):
    """The fake Bot API plus the scenario's fault, decided per send request."""

    def __init__(self, scenario: str, seed: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.rng = random.Random(seed)
        self.outage_until = 0.0
        self.blocked: set[int] = set()
        self.answered: Counter[str] = Counter()
        self.ready_at: float | None = None  # the sending process's first getMe

    async def _m_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.ready_at is None:
            # Faults and delays count from the moment the sender is up, not from the
            # seconds a fresh Python process spends importing.
            self.ready_at = self._clock()
            if self.scenario == "outage":  # every call, getMe and polling too, gets 502
                self.outage(OUTAGE_SECONDS)
                self.outage_until = self.ready_at + OUTAGE_SECONDS
        return await super()._m_getme(params)

    def _take_fault(self, name: str, chat_id: int | None) -> web.Response | None:
        if name not in SEND_METHODS:
            return super()._take_fault(name, chat_id)
        if self.scenario == "flood" and self.rng.random() < 0.20:
            self.answered["429"] += 1
            return _error(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        if self.scenario == "errors" and self.rng.random() < 0.05:
            self.answered["502"] += 1
            return _error(502, "Bad Gateway")
        if chat_id in self.blocked:
            self.answered["403"] += 1
            return _error(403, "Forbidden: bot was blocked by the user")
        return super()._take_fault(name, chat_id)


# ---------------------------------------------------------------- the outbox


async def build_outbox(url: str, chats: int, cycles: int) -> None:
    """A migrated database holding chats x cycles pending digests, as delivery.py builds
    them (chats 10_000.., one band event per cycle on C00000USDT, C00001USDT, ...)."""
    engine = create_engine(DatabaseSettings(url=url))
    await migrate(engine)
    await fill_outbox(session_factory(engine), chats * cycles, chats)
    await engine.dispose()


# ---------------------------------------------------------------- the sending process


async def worker(mode: str, url: str, base_url: str, token: str) -> None:
    """Drain the outbox until nothing is pending; killed with SIGKILL in `kill`."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    from bot.telegram.app import quiet_token_loggers

    quiet_token_loggers()
    settings = Settings(
        database={"url": url},
        telegram={"token": token, "base_url": base_url},
        exchange={"venues": ["binance"]},
    )
    engine = create_engine(settings.database)
    sessions = session_factory(engine)
    bot = Bot(
        token,
        base_url=base_url,
        request=HTTPXRequest(connection_pool_size=64, read_timeout=10, pool_timeout=10),
    )
    await bot.initialize()
    try:
        if mode == "ours":
            await _drain_ours(settings, sessions, bot)
        else:
            await _drain_naive(sessions, bot)
    finally:
        await bot.shutdown()
        await engine.dispose()


async def _pending(sessions: Any) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "pending")
            )
            or 0
        )


async def _drain_ours(settings: Settings, sessions: Any, bot: Any) -> None:
    from bot.telegram.chat_events import ChatStore
    from bot.telegram.outbox_worker import OutboxWorker
    from bot.telegram.sender import Sender

    sender = Sender(bot, settings.telegram, events=ChatStore(sessions))
    outbox = OutboxWorker(sessions, sender, settings, poll_interval=0.5)
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(stop))
    # The outbox worker's `idle` is also set while rows wait out a backoff: ask the DB.
    while await _pending(sessions):  # noqa: ASYNC110
        await asyncio.sleep(0.25)
    stop.set()
    await task


async def _drain_naive(sessions: Any, bot: Any) -> None:
    from bot.telegram import render

    async with sessions() as session:
        rows = (
            await session.execute(
                select(Delivery.id, Delivery.chat_id)
                .where(Delivery.status == "pending")
                .order_by(Delivery.id)
            )
        ).all()
    for delivery_id, chat_id in rows:
        async with sessions() as session:
            items = await outbox_repo.load_items(session, [delivery_id])
        try:
            await bot.send_message(chat_id, render.alert_message(items), parse_mode="HTML")
            status = "sent"
        except Exception:  # naive: no retry, the message is lost
            status = "failed"
        async with sessions() as session, session.begin():
            await session.execute(
                update(Delivery).where(Delivery.id == delivery_id).values(status=status)
            )
        await asyncio.sleep(1 / 30)


# ---------------------------------------------------------------- one run


@dataclass
class Run:
    scenario: str
    latency_ms: float
    mode: str
    lost: int = 0
    duplicated: int = 0
    dropped_blocked: int = 0
    p95_delay_s: float = 0.0
    max_delay_s: float = 0.0
    wall_s: float = 0.0
    answered: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)


async def _spawn(mode: str, url: str, tg: FakeTelegram) -> asyncio.subprocess.Process:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--db",
        url,
        "--base-url",
        tg.base_url,
        "--token",
        tg.token,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def run_one(
    scenario: str, latency_ms: float, mode: str, args: argparse.Namespace, workdir: Path
) -> Run:
    url = f"sqlite+aiosqlite:///{workdir}/{scenario}-{int(latency_ms)}-{mode}.db"
    await build_outbox(url, args.chats, args.cycles)
    total = args.chats * args.cycles
    async with FaultyTelegram(scenario, seed=7, latency=latency_ms / 1000) as tg:
        if scenario == "blocked":
            tg.blocked = {FIRST_CHAT + 3 * i for i in range(10)}
        reachable = [FIRST_CHAT + c for c in range(args.chats) if FIRST_CHAT + c not in tg.blocked]
        expected = {(chat, symbol_for(c)) for chat in reachable for c in range(args.cycles)}
        started = tg._clock()
        proc = await _spawn(mode, url, tg)
        if scenario == "kill":
            await tg.wait_until(lambda: len(tg.sent) >= total // 3, timeout=300)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            proc = await _spawn(mode, url, tg)
        await asyncio.wait_for(proc.wait(), timeout=OUTAGE_SECONDS + 30 + total * 2)
        wall = tg._clock() - started
        got: Counter[tuple[int, str]] = Counter()
        first: dict[tuple[int, str], float] = {}
        for m in tg.sent:
            text = m.text or ""
            found = SYMBOL.search(text)
            key = (m.chat_id, found.group(0) if found else "?")
            got[key] += 1
            first.setdefault(key, m.ts)
        fault_end = max(tg.outage_until, tg.ready_at or started)
        delays = sorted(max(0.0, ts - fault_end) for ts in first.values())
    engine = create_engine(DatabaseSettings(url=url))
    async with session_factory(engine)() as session:
        statuses = await outbox_repo.delivery_counts(session)
    await engine.dispose()
    return Run(
        scenario=scenario,
        latency_ms=latency_ms,
        mode=mode,
        lost=len(expected - set(got)),
        duplicated=sum(n - 1 for n in got.values() if n > 1),
        dropped_blocked=statuses.get("dropped", 0) if scenario == "blocked" else 0,
        p95_delay_s=round(delays[int(0.95 * (len(delays) - 1))], 1) if delays else 0.0,
        max_delay_s=round(delays[-1], 1) if delays else 0.0,
        wall_s=round(wall, 1),
        answered=dict(tg.answered, **({"502": tg.outage_502s} if tg.outage_502s else {})),
        statuses=statuses,
    )


# ---------------------------------------------------------------- report


def report(runs: list[Run], locks: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"\nDelivery under faults: {args.chats} private chats x {args.cycles} cycles = "
        f"{args.chats * args.cycles} messages per run; fake Bot API enforcing 30 msg/s"
    )
    print(f"machine: {machine()}\n")
    head = f"{'scenario':9}{'latency':>9}{'':2}{'peer':7}{'lost':>6}{'dup':>6}"
    head += f"{'p95 delay':>11}{'max delay':>11}{'wall':>8}  faults answered"
    print(head)
    for r in runs:
        print(
            f"{r.scenario:9}{r.latency_ms:>7.0f}ms  {r.mode:7}{r.lost:>6}{r.duplicated:>6}"
            f"{r.p95_delay_s:>10.1f}s{r.max_delay_s:>10.1f}s{r.wall_s:>7.1f}s  {r.answered}"
        )
    ours = [r for r in runs if r.mode == "ours"]
    if locks:
        head = f"{'lock test':22}{'peer':7}{'lock errors':>12}{'sorry':>7}{'answered':>10}"
        print(f"\n{head}{'p95':>9}")
        for engine, by in locks.items():
            for peer in ("ours", "naive"):
                f = by[peer]
                print(
                    f"{engine + ' 200 commands':22}{peer:7}{f['lock_errors']:>12}"
                    f"{f['sorry_replies']:>7}{f['answered']:>6}/{f['commands']:<3}"
                    f"{f['p95_ms']:>7.0f}ms"
                )
    print()
    print(f"{'PASS' if all(r.lost == 0 for r in ours) else 'FAIL'}  ours: 0 lost in every scenario")
    outage = [r for r in ours if r.scenario == "outage"]
    if outage:
        ok = all(r.p95_delay_s <= 60 for r in outage)
        print(f"{'PASS' if ok else 'FAIL'}  ours: p95 delay after the outage <= 60 s")
    print("\n" + json.dumps([r.__dict__ for r in runs]))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=150)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--latency-ms", default="0,250")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--no-locks", action="store_true", help="skip bench/locks.py's test")
    parser.add_argument("--worker", choices=("ours", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        await worker(args.worker, args.db, args.base_url, args.token)
        return 0
    modes = ("ours",) if args.no_naive else ("ours", "naive")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        for latency in (float(x) for x in args.latency_ms.split(",")):
            for scenario in args.scenarios.split(","):
                for mode in modes:
                    run = await run_one(scenario, latency, mode, args, Path(tmp))
                    print(
                        f"  {scenario} {latency:.0f} ms {mode}: lost {run.lost}, "
                        f"dup {run.duplicated}, p95 {run.p95_delay_s}s",
                        flush=True,
                    )
                    runs.append(run)
    locks: dict[str, Any] = {}
    if not args.no_locks:
        from locks import measure  # bench/locks.py: the same machine, the same run

        locks = await measure()
    report(runs, locks, args)
    return 0 if all(r.lost == 0 for r in runs if r.mode == "ours") else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
