"""The /symbol card's liquidations line, through the real PTB application and the fake
Bot API, from buckets the stream ingest wrote."""

from __future__ import annotations

import re
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.liquidations.events import LiqEvent
from bot.liquidations.ingest import LiqIngest
from bot.liquidations.windows import LiqFigures, LiqWindow
from bot.storage import leases
from bot.telegram.render.liquidations import liquidation_lines, usd
from fakes.bot_harness import BotWithWorker
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import ADMIN_ID
from tests.telegram.test_tg_commands import ask


async def test_the_card_shows_liquidations_by_side_with_coverage_and_the_sample_note(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    now = int(time.time() * 1000)
    ingest = LiqIngest(sessions, lambda: 1, wall_ms=lambda: now, lateness_ms=86_400_000)
    ingest.clock_for("binance").up(now - 30 * 60_000)  # live the last half hour only
    ingest.on_events(
        [
            LiqEvent("binance", "KASUSDT", "long", 0.1, 84_000, 8_400.0, now - 60_000),
            LiqEvent("binance", "KASUSDT", "short", 0.1, 21_000, 2_100.0, now - 120_000),
            LiqEvent("binance", "KASUSDT", "long", 0.1, 350_000, 35_000.0, now - 5 * 3_600_000),
        ],
        time.monotonic(),
    )
    await ingest.flush()
    card = (await ask(fake_tg, "/symbol kas")).visible
    print("\n--- /symbol KAS caption ---\n" + card)
    assert "Liquidations 1h: longs $8.4k · shorts $2.1k · 1.05% of OI" in card
    assert "24h: longs $43k · shorts $2.1k" in card
    # Live from half an hour ago until the last write: about half of the hour.
    assert re.search(r"Stream live (49|50)% of the last hour: partial", card)
    assert "Binance sends at most one per symbol per second: a sample" in card
    assert len(card) <= 1024


def test_the_lines_read_as_traders_do() -> None:
    window = LiqWindow(2_500_000.0, 0.0, 1.0)
    figures = LiqFigures({"5m": window, "1h": window, "24h": window}, 250e6, {"1h": 500_000.0})
    lines = liquidation_lines(figures, "bybit")
    assert lines[1] == (
        "<b>Liquidations</b> 1h: longs <b>$2.50M</b> · shorts <b>$0</b> · 1.00% of OI · 5.0× normal"
    )
    assert len(lines) == 3  # fully covered, and Bybit sends every liquidation
    assert [usd(x) for x in (950, 1_500, 45_000, 3.2e9)] == ["$950", "$1.5k", "$45k", "$3.20B"]
    assert liquidation_lines(None, "binance") == []


async def test_status_says_who_holds_the_streams_and_how_live_they_were(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    reply = await ask(fake_tg, "/status", chat_id=ADMIN_ID)
    assert "Liquidations: nobody holds the streams · live binance 0%" in reply.visible
    async with sessions() as session, session.begin():
        await leases.try_acquire(session, leases.LIQUIDATIONS, "vps1-a", 60_000)
    now = int(time.time() * 1000)
    ingest = LiqIngest(sessions, lambda: 1, wall_ms=lambda: now)
    ingest.clock_for("binance").up(now - 20 * 60_000)
    await ingest.flush()
    reply = await ask(fake_tg, "/status", chat_id=ADMIN_ID)
    assert re.search(
        r"streams held by vps1-a · live binance (9\d|100)% \(last 15 min\)", reply.visible
    )


async def test_top_liq_lists_the_largest_hour_against_oi(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    reply = await ask(fake_tg, "/top liq")
    assert "No liquidations in the last hour." in reply.visible
    now = int(time.time() * 1000)
    ingest = LiqIngest(sessions, lambda: 1, wall_ms=lambda: now)
    ingest.clock_for("binance").up(now - 2 * 3_600_000)
    ingest.on_events(
        [
            LiqEvent("binance", "KASUSDT", "long", 0.1, 84_000, 8_400.0, now - 60_000),
            LiqEvent("binance", "BTCUSDT", "short", 1.0, 1.0, 5_000.0, now - 60_000),
            LiqEvent("binance", "DOGEUSDT", "long", 1.0, 1.0, 5.0, now - 60_000),
        ],
        time.monotonic(),
    )
    await ingest.flush()
    reply = await ask(fake_tg, "/top liq 2")
    text = reply.visible
    print("\n--- /top liq 2 ---\n" + text)
    lines = text.splitlines()
    ranked = [line.split()[1] for line in lines if re.match(r"\s*\d+ ", line)]
    assert ranked == ["KAS", "BTC"]  # KAS: the larger share of its OI
    assert "Binance sends at most one per symbol per second: a sample" in text
    assert ("• Liq", "topf:2:liq") in reply.buttons()
    assert all(len(line) <= 40 for line in lines if re.match(r"\s*(#|\d+) ", line))
