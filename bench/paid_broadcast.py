"""Paid broadcast with several outbox workers (README, Performance): one PostgreSQL outbox,
the loopback fake Bot API enforcing 1000 paid msg/s (and 30 free), drained by 1 worker,
then by 3 worker processes, beside the naive peer where every replica sends everything.

    PYTHONPATH=. .venv/bin/python bench/paid_broadcast.py [--count 3000] [--chats 1000]

Needs PostgreSQL: $PRESSUREBOT_BENCH_POSTGRES_URL, else $PRESSUREBOT_TEST_POSTGRES_URL
(postgresql+asyncpg://...); each run gets its own throwaway database.

Method:
- `count` pending deliveries to `chats` private chats (bench/delivery.py's builder: one
  event per cycle, every (chat, cycle) its own digest).
- OURS: N processes, each the real `OutboxWorker` + `Sender` + PTB `Bot` with paid
  broadcast on, replica names w0..wN-1: claims with FOR UPDATE SKIP LOCKED, the pace
  shared through `send_pace` (bot/telegram/pace.py).
- NAIVE: N processes, each sending every pending delivery (what N copies of a
  single-process bot do): allow_paid_broadcast, 1000 msg/s paced in process, no claims.
- Throughput = (messages - 1) / (last accepted - first accepted), as the fake saw them;
  duplicates and losses per (chat, cycle) against what the fake accepted; the fake's
  429s by scope.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _machine import machine  # noqa: E402
from delivery import build_outbox, db_statuses, expected_keys, make_bot, measure  # noqa: E402
from sqlalchemy import select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402
from telegram import Bot  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot.config import DatabaseSettings, Settings  # noqa: E402
from bot.storage import outbox_repo  # noqa: E402
from bot.storage.db import create_engine, migrate, session_factory  # noqa: E402
from bot.storage.models import Delivery  # noqa: E402
from bot.telegram import render  # noqa: E402
from bot.telegram.app import quiet_token_loggers  # noqa: E402
from bot.telegram.chat_events import ChatStore  # noqa: E402
from bot.telegram.outbox_worker import OutboxWorker, default_in_flight  # noqa: E402
from bot.telegram.sender import Sender  # noqa: E402
from fakes.fake_telegram import FakeTelegram  # noqa: E402

PAID_RATE = 1000
SELF = str(Path(__file__).resolve())


def pg_url() -> str | None:
    return os.environ.get("PRESSUREBOT_BENCH_POSTGRES_URL") or os.environ.get(
        "PRESSUREBOT_TEST_POSTGRES_URL"
    )


@asynccontextmanager
async def fresh_database(url: str) -> AsyncIterator[str]:
    name = f"pbbench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def settings_for(db_url: str, base_url: str, token: str, name: str) -> Settings:
    return Settings(
        database={"url": db_url},
        exchange={"venues": ["binance"]},
        telegram={
            "token": token,
            "base_url": base_url,
            "allow_paid_broadcast": True,
            "paid_broadcast_messages_per_second": PAID_RATE,
        },
        replica={"name": name},
    )


# ---------------------------------------------------------------- child processes


async def worker_main(args: argparse.Namespace) -> None:
    """One replica's outbox worker, until SIGTERM."""
    logging.basicConfig(level=logging.WARNING, format=f"{args.name} %(levelname)s %(message)s")
    settings = settings_for(args.db, args.base_url, args.token, args.name)
    engine = create_engine(DatabaseSettings(url=args.db))
    sessions = session_factory(engine)
    pool = default_in_flight(PAID_RATE) + 32  # as bot/telegram/app.py sizes it
    bot = Bot(
        args.token,
        base_url=args.base_url,
        request=HTTPXRequest(connection_pool_size=pool, read_timeout=10, pool_timeout=10),
    )
    await bot.initialize()
    sender = Sender(bot, settings.telegram, events=ChatStore(sessions))
    worker = OutboxWorker(sessions, sender, settings, poll_interval=0.2)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await worker.run(stop)
    await bot.shutdown()
    await engine.dispose()
    print(json.dumps({"cpu_s": time.process_time(), "messages": worker.stats.messages}))


async def naive_main(args: argparse.Namespace) -> None:
    """Sends every pending delivery, paced at the paid rate in process, no claims."""
    engine = create_engine(DatabaseSettings(url=args.db))
    sessions = session_factory(engine)
    fake = argparse.Namespace(token=args.token, base_url=args.base_url)
    bot = make_bot(fake)  # type: ignore[arg-type]
    await bot.initialize()
    async with sessions() as session:
        rows = (await session.execute(select(Delivery.id, Delivery.chat_id))).all()
        items = {
            i.delivery_id: i for i in await outbox_repo.load_items(session, [r[0] for r in rows])
        }
    sem = asyncio.Semaphore(64)

    async def one(delivery_id: int, chat_id: int) -> None:
        async with sem:
            try:
                await bot.send_message(
                    chat_id,
                    render.alert_message([items[delivery_id]]),
                    parse_mode="HTML",
                    allow_paid_broadcast=True,
                )
            except Exception:  # naive: no retry, the message is lost
                return
            async with sessions() as session, session.begin():
                await session.execute(
                    update(Delivery).where(Delivery.id == delivery_id).values(status="sent")
                )

    tasks = []
    for delivery_id, chat_id in rows:
        tasks.append(asyncio.create_task(one(delivery_id, chat_id)))
        await asyncio.sleep(1 / PAID_RATE)
    await asyncio.gather(*tasks)
    await bot.shutdown()
    await engine.dispose()


# ---------------------------------------------------------------- the parent


async def spawn(mode: str, db: str, fake: FakeTelegram, name: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        SELF,
        f"--{mode}",
        "--db",
        db,
        "--base-url",
        fake.base_url,
        "--token",
        fake.token,
        "--name",
        name,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )


async def settled(sessions: Any) -> None:
    """Until the last outcomes are recorded (just after the fake took the last send)."""
    for _ in range(600):
        if not (await db_statuses(sessions)).get("pending"):
            return
        await asyncio.sleep(0.1)


async def run(mode: str, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    url = pg_url()
    assert url is not None
    async with fresh_database(url) as db, FakeTelegram(paid_per_second=PAID_RATE) as fake:
        engine = create_engine(DatabaseSettings(url=db))
        await migrate(engine)
        sessions = session_factory(engine)
        count = await build_outbox(sessions, args.count, args.chats)
        want = count * (workers if mode == "naive" else 1)
        t0 = time.monotonic()
        procs = [await spawn(mode, db, fake, f"w{i}") for i in range(workers)]
        try:
            if mode == "naive":
                await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), timeout=600)
            else:
                await fake.wait_until(lambda: len(fake.sent) >= want, timeout=600)
                await settled(sessions)
        finally:
            for p in procs:
                if p.returncode is None:
                    p.send_signal(signal.SIGTERM)
            outputs = await asyncio.gather(*(p.communicate() for p in procs))
        wall = time.monotonic() - t0
        usage = [json.loads(out) for out, _ in outputs if out.strip()]
        result = measure(fake, expected_keys(count, args.chats), wall)
        result["db"] = await db_statuses(sessions)
        result["paid"] = fake.paid_messages
        if usage:  # the workers' own CPU (process time, imports included) per message
            cpu = sum(u["cpu_s"] for u in usage)
            result["worker_cpu_ms_per_msg"] = round(1000 * cpu / max(1, result["messages"]), 2)
        await engine.dispose()
    return result


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> bool:
    print(machine())
    print(
        f"\nPaid broadcast: {args.count} deliveries to {args.chats} private chats, one "
        f"PostgreSQL outbox, fake Bot API enforcing {PAID_RATE} paid msg/s\n"
    )
    cols = ["messages", "wall_s", "sustained_msg_s", "flood_429", "duplicates", "lost"]
    cols.append("worker_cpu_ms_per_msg")
    widths = [max(17, len(c) + 2) for c in cols]
    print(f"{'':14}" + "".join(f"{c:>{w}}" for c, w in zip(cols, widths, strict=True)))
    for name, r in results.items():
        cells = (f"{r.get(c, '-')!s:>{w}}" for c, w in zip(cols, widths, strict=True))
        print(f"{name:14}" + "".join(cells))
    one, three = results["ours 1 worker"], results["ours 3 workers"]
    naive = results.get("naive 3 copies")
    ratio = three["sustained_msg_s"] / one["sustained_msg_s"]
    print(f"\nratio 3 workers / 1 worker throughput: {ratio:.2f}x")
    if naive is not None:
        print(
            f"naive 3 copies: {naive['duplicates']} duplicates "
            f"({naive['duplicates'] / args.count:.1f} per delivery), {naive['flood_429']} 429s "
            f"vs ours {three['duplicates']} duplicates, {three['flood_429']} 429s"
        )
    checks = {
        "3 workers: zero duplicates": three["duplicates"] == 0,
        "3 workers: zero lost": three["lost"] == 0 and three["db"].get("sent") == args.count,
        "every message paid": all(r["paid"] == r["messages"] for r in (one, three)),
        "no paid 429s": one["flood_429"] == 0 and three["flood_429"] == 0,
    }
    print()
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print("\n" + json.dumps(results))
    return all(checks.values())


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--no-naive", action="store_true")
    for child in ("worker", "naive"):
        parser.add_argument(f"--{child}", action="store_true", help=argparse.SUPPRESS)
    for opt in ("db", "base-url", "token", "name"):
        parser.add_argument(f"--{opt}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    quiet_token_loggers()
    if args.worker:
        await worker_main(args)
        return 0
    if args.naive:
        await naive_main(args)
        return 0
    if pg_url() is None:
        print("bench/paid_broadcast.py needs PostgreSQL: set PRESSUREBOT_BENCH_POSTGRES_URL")
        return 0
    args.chats = min(args.chats, args.count)
    results = {
        "ours 1 worker": await run("worker", 1, args),
        "ours 3 workers": await run("worker", 3, args),
    }
    if not args.no_naive:
        results["naive 3 copies"] = await run("naive", 3, args)
    return 0 if report(results, args) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
