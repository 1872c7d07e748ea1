"""Lock benchmark (issue 9): 200 commands in the same second during a cycle write and a
broadcast, today's deferred BEGIN (naive) against write transactions that take the
write lock up front (ours), on SQLite and on PostgreSQL.

    .venv/bin/python bench/locks.py [--commands 200] [--broadcast 300] [--symbols 600]
    PRESSUREBOT_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/locks.py          # adds PostgreSQL

`figures()` (or `await measure()`) returns the same numbers as a dict, for other
benchmarks' tables.

Method:
- DB: a fresh one per scenario: a temp-file SQLite DB, or a fresh schema on the
  PostgreSQL server named by PRESSUREBOT_TEST_POSTGRES_URL; Alembic head.
- Exchange: fakes/fake_binance.py in this process, `symbols` perpetuals (BTCUSDT
  among them); the real Scorer with the real alert engine runs one warm-up cycle, then
  one more cycle starts in the same instant as the commands (its write lands among
  them).
- Broadcast: `broadcast` pending deliveries to as many private chats, sent by the real
  outbox worker through the Sender at Telegram's 30 msg/s from the moment the bot starts.
- Commands: `commands` distinct private chats send at once (the fake Bot API pushes all
  the updates in one instant, bench/_fake_telegram_server.py, in its own process):
  seven in eight /subscribe BTC, the rest /top. The real PTB Application
  (concurrent_updates=64), handlers and Sender (30 msg/s; replies before broadcast).
- Scenarios: naive = the sessions of today's code (a plain async_sessionmaker: every
  transaction starts with a deferred BEGIN); ours = bot.storage.db.session_factory
  (an explicit session.begin() starts with BEGIN IMMEDIATE on SQLite). Everything else
  is identical. On PostgreSQL the two are the same code path (it ignores the option).
- Figures: cycle write = the Scorer's persist step (its one write transaction, wrapped
  from outside); lock errors = exceptions mentioning "database is locked" anywhere in the
  bot (logged by the handler's error path, the outbox worker, or raised by the cycle);
  "sorry" = commands answered "Sorry, something went wrong"; answered = commands with
  any reply within 60 s; subscribed = /subscribe chats with the row in the DB; latency
  = from the update's arrival at the fake Bot API (pushed, ready for getUpdates) to the
  fake accepting the bot's reply. 200 replies at 30 msg/s take about 7 s whatever the
  DB does, so p95 is dominated by Telegram's pace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, make_url, select, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bench._fake_telegram_server import FakeTelegramProcess
from bot.config import DatabaseSettings, Settings
from bot.cycle.alert_hook import AlertEngine
from bot.cycle.run import Scorer
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.storage.db import create_engine, migrate, session_factory
from bot.storage.market_repo import insert_ignore
from bot.storage.models import AlertEvent, Chat, Delivery, Subscription
from bot.telegram import render
from fakes.bot_harness import start_bot_with_worker
from fakes.fake_binance import FakeBinance

POSTGRES_ENV = "PRESSUREBOT_TEST_POSTGRES_URL"
EXCHANGE = "binance"
TIMEOUT_S = 60.0
TOP_EVERY = 8
SCENARIOS = ("naive", "ours")


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class LockCounter(logging.Handler):
    """Counts log records that carry a 'database is locked' error."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += str(record.exc_info[1])
        if "database is locked" in text:
            self.count += 1


@contextlib.asynccontextmanager
async def fresh_engine(kind: str, workdir: Path) -> AsyncIterator[AsyncEngine]:
    if kind == "sqlite":
        path = workdir / f"locks-{uuid.uuid4().hex[:8]}.db"
        engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{path}"))
        try:
            await migrate(engine)
            yield engine
        finally:
            await engine.dispose()
        return
    url = os.environ[POSTGRES_ENV]
    schema = f"pblocks_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    if make_url(url).get_driver_name() == "asyncpg":
        connect_args: dict[str, Any] = {"server_settings": {"search_path": schema}}
    else:
        connect_args = {"options": f"-csearch_path={schema}"}
    engine = create_async_engine(url, connect_args=connect_args)
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def sessions_for(scenario: str, engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    if scenario == "naive":  # today's code: every transaction starts with a deferred BEGIN
        return async_sessionmaker(engine, expire_on_commit=False)
    return session_factory(engine)


async def add_broadcast(
    sessions: async_sessionmaker[AsyncSession], cycle_id: int, chats: list[int]
) -> None:
    now = int(time.time() * 1000)
    async with sessions() as session, session.begin():
        await insert_ignore(
            session,
            Chat,
            [
                {
                    "id": c,
                    "type": "private",
                    "active": True,
                    "min_band": "stretched",
                    "direction": "both",
                    "created_ms": 0,
                }
                for c in chats
            ],
        )
        event = AlertEvent(
            cycle_id=cycle_id,
            exchange=EXCHANGE,
            symbol="SYM0001USDT",
            kind="band",
            direction="up",
            from_band="lean",
            to_band="stretched",
            score=42,
            bias="LONG",
            regime="Net long bias building",
            created_ms=now,
        )
        session.add(event)
        await session.flush()
        await insert_ignore(
            session,
            Delivery,
            [
                {
                    "event_id": event.id,
                    "chat_id": c,
                    "cycle_id": cycle_id,
                    "status": "pending",
                    "attempts": 0,
                    "created_ms": now,
                    "next_attempt_ms": now,
                }
                for c in chats
            ],
        )


async def run_scenario(
    kind: str,
    scenario: str,
    fake: FakeTelegramProcess,
    pool: ThreadPoolExecutor,
    workdir: Path,
    *,
    commands: int,
    broadcast: int,
    symbols: int,
    base: int,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()

    async def ask(*msg: Any) -> Any:
        return await loop.run_in_executor(pool, functools.partial(fake.ask, *msg))

    counter = LockCounter()
    root = logging.getLogger()
    level = root.level
    root.setLevel(min(level, logging.WARNING))  # the records must exist to be counted
    root.addHandler(counter)
    try:
        async with (
            fresh_engine(kind, workdir) as engine,
            FakeBinance(decoys=False) as binance,
        ):
            settings = _market_and_settings(fake, binance, symbols)
            sessions = sessions_for(scenario, engine)
            async with binance_client(settings.exchange) as client:
                adapter = BinanceAdapter(client, settings.exchange)
                alerts = AlertEngine(settings)
                scorer = Scorer(
                    adapter, sessions, settings, in_cycle_transaction=alerts.in_cycle_transaction
                )
                warm = await scorer.run_cycle()
                write_s = _time_persist(scorer)
                await add_broadcast(
                    sessions, warm.cycle_id, [base + 100_000 + i for i in range(broadcast)]
                )
                chats = [base + i for i in range(1, commands + 1)]
                subscribers = [c for c in chats if (c - base) % TOP_EVERY]
                plan = [[(0.0, c, "/subscribe BTC" if c in subscribers else "/top") for c in chats]]
                burst = await _burst(settings, sessions, scorer, ask, plan)
                got, cycle_error, broadcast_sent = burst
            async with sessions() as session:
                subscribed = await session.scalar(
                    select(func.count(func.distinct(Subscription.chat_id))).where(
                        Subscription.chat_id.in_(subscribers)
                    )
                )
    finally:
        root.removeHandler(counter)
        root.setLevel(level)
    results = got["results"]
    sorry = sum(1 for r in results if r["head"].startswith(render.internal_error()[:40]))
    latency = [r["first"] for r in results if r["first"] is not None]
    return {
        "engine": kind,
        "scenario": scenario,
        "commands": commands,
        "lock_errors": counter.count + ("database is locked" in cycle_error),
        "sorry_replies": sorry,
        "answered": sum(1 for r in results if not r["timed_out"]),
        "subscribed": int(subscribed or 0),
        "subscribers": len(subscribers),
        "cycle_ok": not cycle_error,
        "cycle_write_ms": write_s[0] * 1000 if write_s else math.nan,
        "broadcast_sent": broadcast_sent,
        "p50_ms": pct(latency, 0.5) * 1000,
        "p95_ms": pct(latency, 0.95) * 1000,
        "wall_s": got["wall"],
    }


async def _burst(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    scorer: Scorer,
    ask: Callable[..., Awaitable[Any]],
    plan: list[list[tuple[float, int, str]]],
) -> tuple[dict[str, Any], str, int]:
    """The measured phase: every chat's command at once while a scoring cycle writes and
    the outbox worker broadcasts. Returns the fake's results, the cycle's error (empty when
    it committed) and the broadcast messages sent."""
    await ask("clear")
    runtime = await start_bot_with_worker(settings, sessions)
    try:
        cycle = asyncio.create_task(scorer.run_cycle())
        got = await ask("run", "burst", plan, 0.0, TIMEOUT_S)
        cycle_error = ""
        try:
            await asyncio.wait_for(cycle, TIMEOUT_S)
        except Exception as exc:  # a locked write fails the whole cycle
            cycle_error = str(exc)
    finally:
        broadcast_sent = runtime.outbox_worker.stats.messages
        await runtime.stop()
    return got, cycle_error, broadcast_sent


def _market_and_settings(fake: FakeTelegramProcess, binance: FakeBinance, symbols: int) -> Settings:
    """A market of `symbols` (BTCUSDT among them, the one /subscribe asks for) and the
    bot's settings against both fakes, with the command limit out of the way."""
    binance.populate(symbols - 1)
    binance.add_symbol("BTCUSDT", mark=90_010.0, index=90_000.0, funding_rate=0.0001, oi=8e4)
    return Settings(
        telegram={  # type: ignore[arg-type]
            "token": fake.token,
            "base_url": fake.base_url,
            "poll_timeout_seconds": 10,
            "commands_per_minute": 100_000,
        },
        exchange={"venues": ["binance"], "base_url": binance.url},  # type: ignore[arg-type]
        scorer={"backfill": False},  # type: ignore[arg-type]
    )


def _time_persist(scorer: Scorer) -> list[float]:
    """Wraps the scorer's write so the bench can report how long the cycle held the
    write lock; the returned list fills with one duration per persisted cycle."""
    write_s: list[float] = []
    persist = scorer._persist

    async def timed_persist(*args: Any) -> None:
        t0 = time.monotonic()
        try:
            await persist(*args)
        finally:
            write_s.append(time.monotonic() - t0)

    scorer._persist = timed_persist  # type: ignore[method-assign]
    return write_s


def engines_available() -> list[str]:
    return ["sqlite", "postgres"] if os.environ.get(POSTGRES_ENV) else ["sqlite"]


async def measure(
    *,
    commands: int = 200,
    broadcast: int = 300,
    symbols: int = 600,
    engines: Sequence[str] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """{engine: {"naive": figures, "ours": figures}} for every engine available."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    fake = FakeTelegramProcess()
    pool = ThreadPoolExecutor(1)
    try:
        with tempfile.TemporaryDirectory(prefix="pb-locks-") as tmp:
            base = 0
            for kind in engines or engines_available():
                for scenario in SCENARIOS:
                    base += 1_000_000  # fresh chats: every pacing bucket starts full
                    out.setdefault(kind, {})[scenario] = await run_scenario(
                        kind,
                        scenario,
                        fake,
                        pool,
                        Path(tmp),
                        commands=commands,
                        broadcast=broadcast,
                        symbols=symbols,
                        base=base,
                    )
    finally:
        pool.shutdown()
        fake.close()
    return out


def figures(**kwargs: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """`measure()` for synchronous callers (not from inside a running loop)."""
    return asyncio.run(measure(**kwargs))


def report(result: dict[str, dict[str, dict[str, Any]]]) -> None:
    rows = [
        ("lock errors", "lock_errors"),
        ("'something went wrong' replies", "sorry_replies"),
        ("commands answered", "answered"),
        ("/subscribe chats subscribed", "subscribed"),
        ("cycle written", "cycle_ok"),
        ("cycle write transaction (ms)", "cycle_write_ms"),
        ("broadcast messages sent meanwhile", "broadcast_sent"),
        ("command latency p50 (ms)", "p50_ms"),
        ("command latency p95 (ms)", "p95_ms"),
    ]
    for kind, by in result.items():
        naive, ours = by["naive"], by["ours"]
        print(
            f"\n{kind}: {naive['commands']} commands in one instant "
            f"({naive['subscribers']} /subscribe), a cycle write and a broadcast"
        )
        print(f"  {'':34} {'naive':>10} {'ours':>10}")
        for label, key in rows:

            def cell(v: Any) -> str:
                if isinstance(v, bool):
                    return "yes" if v else "NO"
                if isinstance(v, float):
                    return f"{v:.0f}"
                return str(v)

            print(f"  {label:34} {cell(naive[key]):>10} {cell(ours[key]):>10}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--broadcast", type=int, default=300)
    ap.add_argument("--symbols", type=int, default=600)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.CRITICAL)  # the naive run's tracebacks are counted, not shown
    t0 = time.perf_counter()
    result = figures(commands=args.commands, broadcast=args.broadcast, symbols=args.symbols)
    print("Locks — commands during a cycle write and a broadcast (naive = deferred BEGIN)")
    from bench._machine import machine

    print(f"machine: {machine()}")
    if POSTGRES_ENV not in os.environ:
        print(f"(PostgreSQL skipped: set {POSTGRES_ENV})")
    report(result)
    print(f"\ntotal bench time {time.perf_counter() - t0:.0f} s")
    ours_clean = all(
        by["ours"]["lock_errors"] == 0 and by["ours"]["sorry_replies"] == 0
        for by in result.values()
    )
    sys.exit(0 if ours_clean else 1)


if __name__ == "__main__":
    main()
