"""/rule test and /rule add over the deployment's hourly store merged with the shipped
history, through the real PTB Application and the fake Bot API: the reply names each
source with its period and n, the lift of the planted signal, and a young store."""

from __future__ import annotations

import re
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.replay.rule_history import LoadOnce
from bot.replay.rule_store import StoreHistory
from fakes.bot_harness import BotWithWorker
from fakes.fake_telegram import FakeTelegram
from tests.replay.store_rows import HOUR, planted_rows, write
from tests.telegram.test_tg_commands import ask
from tests.telegram.test_tg_rules import tiny_history


def wire(runtime: BotWithWorker, sessions: async_sessionmaker[AsyncSession]) -> None:
    """As bot/service.py wires it: the store merged with the (here tiny) shipped file."""
    deps = runtime.bot.deps
    deps.rule_history = LoadOnce(tiny_history)
    deps.backtest_rows = StoreHistory(sessions, deps.now_ms, deps.rule_history)


async def test_rule_test_reports_the_stores_n_and_lift(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    now = int(time.time() * 1000)
    await write(sessions, planted_rows(["ETHUSDT", "SOLUSDT"], 30 * 24, now - now % HOUR))
    wire(runtime, sessions)
    text = (await ask(fake_tg, "/rule test oi_4h > 10")).visible
    assert "Tested on 62 symbol-days of recorded history (ETH, SOL):" in text
    assert re.search(
        r"• hourly store \(binance\): 2 symbols, \S+ – \S+, n=1,440 hours, 20 fires", text
    )
    assert re.search(r"• tiny\.csv: 1 symbol, 2026-01-01 – 2026-01-02, n=48 hours, 0 fires", text)
    assert "hourly store holds only" not in text
    after = re.search(r"After it fired \(n=20\): .*P\(≥5%\) 1\.00 \((\d+\.\d)× all hours\)", text)
    assert after is not None and float(after.group(1)) > 2, text

    reply = await ask(fake_tg, "/rule add jump oi_4h > 10")
    assert "n=1,440 hours" in reply.visible and "Rule jump added" in reply.visible
    # A built-in switched on answers with the same backtest (the store's funding never
    # changes sign).
    reply = await ask(fake_tg, "/rule on funding-flip")
    assert "• hourly store (binance): 2 symbols" in reply.visible
    assert "It never fired" in reply.visible


async def test_a_young_store_is_said(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    now = int(time.time() * 1000)
    await write(sessions, planted_rows(["ETHUSDT"], 5 * 24, now - now % HOUR))
    wire(runtime, sessions)
    text = (await ask(fake_tg, "/rule test oi_4h > 10")).visible
    assert "The hourly store holds only 5.0 days for binance (under 14)" in text
