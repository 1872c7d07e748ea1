"""The /symbol card's positioning line and /status's count of fresh ratios, through the
real PTB application and the fake Bot API, from ratios the collector stored."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage import positioning_repo
from bot.storage.positioning_repo import Reading
from bot.telegram.render.positioning import positioning_lines
from bot.views.positioning import FRESH_MS
from fakes.bot_harness import BotWithWorker
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import ADMIN_ID
from tests.telegram.test_tg_commands import ask


async def _store(sessions: async_sessionmaker[AsyncSession], *readings: Reading) -> None:
    async with sessions() as session, session.begin():
        await positioning_repo.write(session, readings)


async def test_the_card_shows_the_ratios_while_fresh_and_nothing_once_stale(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    now = int(time.time() * 1000)
    await _store(sessions, Reading("binance", "KASUSDT", (1.5, now - 600_000), (0.8, now), now))
    card = (await ask(fake_tg, "/symbol kas")).visible
    print("\n--- /symbol KAS caption ---\n" + card)
    assert "L/S accounts 1.50 (60% long) · top traders' positions 0.80 (44% long)" in card
    # The top traders' endpoint failed since: the account ratio alone is replaced.
    old = now - FRESH_MS - 60_000
    await _store(sessions, Reading("binance", "KASUSDT", (2.0, old), None, now))
    card = (await ask(fake_tg, "/symbol kas")).visible
    assert "L/S accounts" not in card
    assert "top traders' positions 0.80 (44% long)" in card


async def test_status_counts_the_fresh_ratios_per_venue(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    now = int(time.time() * 1000)
    await _store(
        sessions,
        Reading("binance", "KASUSDT", (1.2, now), None, now),
        Reading("binance", "OLDUSDT", (1.2, now - FRESH_MS - 1), None, now),
    )
    reply = await ask(fake_tg, "/status", chat_id=ADMIN_ID)
    assert "Positioning: fresh long/short ratios binance 1/" in reply.visible


def test_the_line_reads_as_traders_do() -> None:
    fields = {"ls_account_ratio": 3.0, "ls_top_position_ratio": None}
    assert positioning_lines(fields, "all") == [
        "L/S accounts <b>3.00</b> (75% long, OI-weighted over venues)"
    ]
    assert positioning_lines({"ls_account_ratio": None}, "okx") == []
    assert positioning_lines(None, "okx") == []
