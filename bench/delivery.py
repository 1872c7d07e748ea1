"""P4 delivery benchmark (README, Performance): drain an outbox of N deliveries to many private
chats through the real outbox worker + sender + PTB Bot, against the loopback fake Bot API
that enforces Telegram's flood limits (30 msg/s overall, 1/s per private chat with a
burst of 3, 20/min per group) and answers 429 when they are exceeded.

    PYTHONPATH=. .venv/bin/python bench/delivery.py [--count 10000] [--chats 1000]
        [--latency-ms 0] [--no-naive]

Method:
- A fresh temp-file SQLite DB holds `count` pending deliveries: `count/chats` cycles,
  each with one alert event delivered to every chat, inserted cycle by cycle the way
  the alert engine writes them. Every (chat, cycle) is its own digest, so N deliveries
  are N messages: the strictest reading of P4.
- OURS: `OutboxWorker` (claim in one statement, per-row status commits, up to 8 in
  flight) + `Sender` (flood control) + PTB `Bot` with a real HTTPXRequest.
- NAIVE: the same outbox, same Bot, same rendering; one message after another in id
  order with `sleep(1/30)` after each send, marking each row sent; any error loses the
  message (no 429 handling, no retry).
- Sustained rate = (messages - 1) / (last accepted send - first accepted send), as the
  fake saw them. Duplicates and losses are checked per (chat, cycle) against what the
  fake accepted, and against the DB's final statuses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select, update
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.config import DatabaseSettings, Settings
from bot.storage import outbox_repo
from bot.storage.db import create_engine, migrate, session_factory
from bot.storage.market_repo import insert_ignore
from bot.storage.models import AlertEvent, Chat, Cycle, Delivery
from bot.telegram import render
from bot.telegram.app import quiet_token_loggers
from bot.telegram.chat_events import ChatStore
from bot.telegram.outbox_worker import OutboxWorker
from bot.telegram.sender import Sender
from fakes.fake_telegram import FakeTelegram

EXCHANGE = "binance"
TARGET_RATE = 27.0


def symbol_for(cycle: int) -> str:
    return f"C{cycle:05d}USDT"


async def build_outbox(sessions: Any, count: int, chats: int) -> int:
    cycles = max(1, -(-count // chats))
    now = int(time.time() * 1000)
    async with sessions() as session, session.begin():
        await insert_ignore(
            session,
            Chat,
            [
                {
                    "id": 10_000 + c,
                    "type": "private",
                    "title": None,
                    "active": True,
                    "min_band": "stretched",
                    "direction": "both",
                    "created_ms": now,
                }
                for c in range(chats)
            ],
        )
    made = 0
    for c in range(cycles):
        async with sessions() as session, session.begin():
            cycle = Cycle(
                exchange=EXCHANGE,
                started_ms=now,
                finished_ms=now,
                status="ok",
                symbols_attempted=1,
                symbols_fetched=1,
                symbols_failed=0,
            )
            session.add(cycle)
            await session.flush()
            event = AlertEvent(
                cycle_id=cycle.id,
                exchange=EXCHANGE,
                symbol=symbol_for(c),
                kind="band",
                direction="up",
                from_band="lean",
                to_band="stretched",
                score=40 + c % 60,
                bias="LONG",
                regime="Net long bias building",
                created_ms=now,
            )
            session.add(event)
            await session.flush()
            n = min(chats, count - made)
            await insert_ignore(
                session,
                Delivery,
                [
                    {
                        "event_id": event.id,
                        "chat_id": 10_000 + i,
                        "cycle_id": cycle.id,
                        "status": "pending",
                        "attempts": 0,
                        "created_ms": now,
                        "next_attempt_ms": now,
                    }
                    for i in range(n)
                ],
            )
            made += n
    return made


def expected_keys(count: int, chats: int) -> Counter[tuple[int, str]]:
    keys: Counter[tuple[int, str]] = Counter()
    for k in range(count):
        keys[(10_000 + k % chats, symbol_for(k // chats))] += 1
    return keys


def received_keys(fake: FakeTelegram) -> Counter[tuple[int, str]]:
    keys: Counter[tuple[int, str]] = Counter()
    for m in fake.sent:
        text = m.text or ""
        start = text.find("C") if "<b>C" in text else -1
        symbol = text[start : text.find("USDT", start) + 4] if start >= 0 else "?"
        keys[(m.chat_id, symbol)] += 1
    return keys


def measure(fake: FakeTelegram, expected: Counter[tuple[int, str]], wall: float) -> dict[str, Any]:
    got = received_keys(fake)
    times = sorted(m.ts for m in fake.sent)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {
        "messages": len(fake.sent),
        "wall_s": round(wall, 1),
        "sustained_msg_s": round((len(times) - 1) / span, 2) if span else 0.0,
        "flood_429": fake.flood_429s,
        "flood_scopes": dict(fake.flood_scopes),
        "duplicates": sum(n - 1 for n in got.values() if n > 1),
        "lost": sum(max(0, n - got.get(k, 0)) for k, n in expected.items()),
    }


async def db_statuses(sessions: Any) -> dict[str, int]:
    async with sessions() as session:
        return await outbox_repo.delivery_counts(session)


def make_bot(fake: FakeTelegram) -> Bot:
    return Bot(
        fake.token,
        base_url=fake.base_url,
        request=HTTPXRequest(connection_pool_size=64, read_timeout=10, pool_timeout=10),
    )


async def run_ours(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{workdir}/ours.db"}, exchange={"venues": ["binance"]}
    )
    engine = create_engine(DatabaseSettings(url=settings.database.url))
    await migrate(engine)
    sessions = session_factory(engine)
    count = await build_outbox(sessions, args.count, args.chats)
    async with FakeTelegram(latency=args.latency_ms / 1000) as fake:
        bot = make_bot(fake)
        await bot.initialize()
        sender = Sender(bot, settings.telegram, events=ChatStore(sessions))
        worker = OutboxWorker(sessions, sender, settings, poll_interval=0.5)
        stop = asyncio.Event()
        t0 = time.monotonic()
        task = asyncio.create_task(worker.run(stop))
        done = 0
        while done < count:  # a stall of 2 minutes means something is broken
            target = min(count, done + 1000)
            await fake.wait_until(lambda t=target: len(fake.sent) >= t, timeout=120)
            done = len(fake.sent)
            if args.progress:
                print(f"  ours: {done}/{count} after {time.monotonic() - t0:.0f}s", flush=True)
        await asyncio.wait_for(worker.idle.wait(), timeout=60)
        wall = time.monotonic() - t0
        stop.set()
        await task
        await bot.shutdown()
        result = measure(fake, expected_keys(count, args.chats), wall)
        result["db"] = await db_statuses(sessions)
    await engine.dispose()
    return result


async def run_naive(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{workdir}/naive.db"},
        exchange={"venues": ["binance"]},
    )
    engine = create_engine(DatabaseSettings(url=settings.database.url))
    await migrate(engine)
    sessions = session_factory(engine)
    count = await build_outbox(sessions, args.count, args.chats)
    errors: Counter[str] = Counter()
    async with FakeTelegram(latency=args.latency_ms / 1000) as fake:
        bot = make_bot(fake)
        await bot.initialize()
        async with sessions() as session:
            ids = (await session.scalars(select(Delivery.id).order_by(Delivery.id))).all()
        t0 = time.monotonic()
        for i, delivery_id in enumerate(ids):
            async with sessions() as session:
                [item] = await outbox_repo.load_items(session, [delivery_id])
                chat_id = await session.scalar(
                    select(Delivery.chat_id).where(Delivery.id == delivery_id)
                )
            try:
                await bot.send_message(chat_id, render.alert_message([item]), parse_mode="HTML")
                status = "sent"
            except Exception as exc:  # naive: no retry, the message is lost
                errors[type(exc).__name__] += 1
                status = "failed"
            async with sessions() as session, session.begin():
                await session.execute(
                    update(Delivery).where(Delivery.id == delivery_id).values(status=status)
                )
            await asyncio.sleep(1 / 30)
            if args.progress and (i + 1) % 1000 == 0:
                print(f"  naive: {i + 1}/{count} after {time.monotonic() - t0:.0f}s", flush=True)
        wall = time.monotonic() - t0
        await bot.shutdown()
        result = measure(fake, expected_keys(count, args.chats), wall)
        result["db"] = await db_statuses(sessions)
        result["errors"] = dict(errors)
    await engine.dispose()
    return result


def report(ours: dict[str, Any], naive: dict[str, Any] | None, args: argparse.Namespace) -> bool:
    print(
        f"\nP4 delivery: {args.count} deliveries to {args.chats} private chats, "
        f"fake Bot API enforcing 30 msg/s, latency {args.latency_ms} ms\n"
    )
    cols = ["messages", "wall_s", "sustained_msg_s", "flood_429", "duplicates", "lost"]
    print(f"{'':8}" + "".join(f"{c:>17}" for c in cols))
    for name, r in (("ours", ours), ("naive", naive)):
        if r is not None:
            print(f"{name:8}" + "".join(f"{r[c]!s:>17}" for c in cols))
    print(f"\nours DB statuses: {ours['db']}")
    if naive is not None:
        print(f"naive DB statuses: {naive['db']}  errors: {naive.get('errors')}")
        if naive["sustained_msg_s"]:
            ratio = ours["sustained_msg_s"] / naive["sustained_msg_s"]
            print(f"ratio ours/naive sustained rate: {ratio:.2f}x")
            wall_ratio = naive["wall_s"] / ours["wall_s"] if ours["wall_s"] else 0
            print(f"ratio naive/ours wall time: {wall_ratio:.2f}x")
    checks = {
        f"sustained >= {TARGET_RATE} msg/s": ours["sustained_msg_s"] >= TARGET_RATE,
        "zero 429s": ours["flood_429"] == 0,
        "zero duplicates": ours["duplicates"] == 0,
        "zero lost": ours["lost"] == 0 and ours["db"].get("sent") == args.count,
    }
    print()
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print("\n" + json.dumps({"ours": ours, "naive": naive}))
    return all(checks.values())


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=1_000)
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="per-request latency injected by the fake Bot API",
    )
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    args.chats = min(args.chats, args.count)
    quiet_token_loggers()
    with tempfile.TemporaryDirectory() as tmp:
        ours = await run_ours(args, Path(tmp))
        naive = None if args.no_naive else await run_naive(args, Path(tmp))
    return 0 if report(ours, naive, args) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
