"""Commands under real load (issue 9): many chats at once, while a scorer cycle writes
and the outbox worker broadcasts, on SQLite and on PostgreSQL.

Everything is real except Telegram and Binance, which are the loopback fakes: the PTB
Application (concurrent_updates=64), handlers, Sender pacing (30 msg/s), outbox worker,
Scorer with the alert engine, and the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle.alert_hook import AlertEngine
from bot.cycle.run import Scorer
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.storage.db import session_factory
from bot.storage.models import Subscription
from bot.telegram import render
from fakes.fake_binance import FakeBinance
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import ADMIN_ID, Alert, add_deliveries

SYMBOLS = 600  # a Binance-sized universe: the cycle's write is as long as in production
COMMANDS = 200
TOP_EVERY = 8  # one chat in 8 asks /top, the others /subscribe
BROADCAST_CHATS = 150


@pytest.fixture
def sessions(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """SQLite, and PostgreSQL when PRESSUREBOT_TEST_POSTGRES_URL is set (tests/conftest.py)."""
    return session_factory(db_engine)


@pytest.fixture
async def binance() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(decoys=False) as fake:
        fake.populate(SYMBOLS - 1)
        fake.add_symbol("BTCUSDT", mark=90_010.0, index=90_000.0, funding_rate=0.0001, oi=8e4)
        yield fake


def load_settings(fake_tg: FakeTelegram, binance: FakeBinance) -> Settings:
    return Settings(
        telegram={  # type: ignore[arg-type]
            "token": fake_tg.token,
            "base_url": fake_tg.base_url,
            "admin_ids": [ADMIN_ID],
            "poll_timeout_seconds": 2,
            "commands_per_minute": 1000,
        },
        exchange={"venues": ["binance"], "base_url": binance.url},  # type: ignore[arg-type]
        scorer={"backfill": False},  # type: ignore[arg-type]
    )


def lock_errors(records: list[logging.LogRecord]) -> list[str]:
    out = []
    for r in records:
        text = r.getMessage() + (str(r.exc_info[1]) if r.exc_info else "")
        if "locked" in text.lower() or "busy" in text.lower():
            out.append(f"{r.name}: {text[:200]}")
    return out


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_200_commands_during_a_cycle_and_a_broadcast_all_succeed(
    start: Callable[..., Any],
    fake_tg: FakeTelegram,
    binance: FakeBinance,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    settings = load_settings(fake_tg, binance)
    async with binance_client(settings.exchange) as client:
        adapter = BinanceAdapter(client, settings.exchange)
        scorer = Scorer(
            adapter,
            sessions,
            settings,
            in_cycle_transaction=AlertEngine(settings).in_cycle_transaction,
        )
        first = await scorer.run_cycle()  # the market /top shows and /subscribe resolves
        assert first.status == "ok"
        broadcast = [100_000 + i for i in range(BROADCAST_CHATS)]
        await add_deliveries(sessions, first.cycle_id, broadcast, [Alert("SYM0001USDT")])

        await start(settings)  # the outbox worker starts broadcasting at once
        chats = list(range(1, COMMANDS + 1))
        subscribers = [c for c in chats if c % TOP_EVERY]
        for chat in chats:  # all in the same instant, as in the report
            fake_tg.push_message(chat, "/subscribe BTC" if chat in subscribers else "/top")
        cycle = asyncio.create_task(scorer.run_cycle())  # the next cycle writes meanwhile

        # Bounds for a hung test, not timing claims: bench/commands.py measures the time.
        await fake_tg.wait_until(lambda: all(fake_tg.messages_to(c) for c in chats), 240.0)
        second = await asyncio.wait_for(cycle, 240.0)

    failed = [c for c in chats if render.internal_error() in fake_tg.messages_to(c)[0].visible]
    assert failed == [], f"{len(failed)} of {COMMANDS} chats were told something went wrong"
    assert lock_errors(caplog.records) == []
    assert second.status == "ok", second
    for chat in subscribers:
        assert "BTC" in fake_tg.messages_to(chat)[0].visible
    for chat in set(chats) - set(subscribers):
        assert fake_tg.messages_to(chat)[0].visible.startswith("Avg stress")
    async with sessions() as session:
        subscribed = set(
            await session.scalars(
                select(Subscription.chat_id).where(Subscription.symbol == "BTCUSDT")
            )
        )
    assert subscribed == set(subscribers)
