"""Several venues in the bot: /top and /symbol default to the cross-venue aggregate, a
venue word picks one venue, /subscribe keys by (venue, symbol), and /status lists a
venue that stopped answering. The cycles are real: three venue fakes, VenueScorers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle.run import Scorer
from bot.cycle.venues import VenueScorers
from bot.markets.adapters import open_adapters
from bot.storage.models import Subscription
from fakes.bot_harness import BotWithWorker
from fakes.fake_binance import FakeBinance
from fakes.fake_bybit import FakeBybit
from fakes.fake_okx import FakeOkx
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import ADMIN_ID
from tests.telegram.test_tg_commands import USER, ask
from tests.test_scan_venues import _set_up

OKX_BULK = (
    "/api/v5/public/mark-price",
    "/api/v5/public/open-interest",
    "/api/v5/market/index-tickers",
    "/api/v5/public/funding-rate",
)


@pytest.fixture
async def venues_bot(
    start: Callable[..., Any],
    make_settings: Callable[..., Settings],
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[BotWithWorker]:
    """Two cycles over the three venues (OKX down in the second), then the bot."""
    base = make_settings()
    now = [time.time()]
    async with FakeBinance() as fb, FakeBybit() as fy, FakeOkx() as fo:
        _set_up(fb, fy, fo)
        exchange = base.exchange.model_copy(
            update={
                "venues": ["binance", "bybit", "okx"],
                "base_url": fb.url,
                "bybit_base_url": fy.url,
                "okx_base_url": fo.url,
                "max_retries": 0,
            }
        )
        settings = base.model_copy(update={"exchange": exchange})
        async with contextlib.AsyncExitStack() as stack:
            adapters = await open_adapters(settings, stack, clock=lambda: now[0])
            scorer = VenueScorers(
                [Scorer(a, sessions, settings) for a in adapters], sessions, settings
            )
            await scorer.run_cycle()
            for path in OKX_BULK:
                fo.fault(path, "5xx", times=None)
            now[0] += 300
            await scorer.run_cycle()
    yield await start(settings)


async def test_top_and_symbol_default_to_the_aggregate(
    venues_bot: BotWithWorker, fake_tg: FakeTelegram
) -> None:
    top = await ask(fake_tg, "/top")
    assert "all venues · Top 2 of 2" in top.visible
    assert "Partial scan" not in top.visible  # every coin scored, OKX's part missing
    assert "Partial: okx missing this cycle; no alert from those rows." in top.visible
    card = await ask(fake_tg, "/symbol btc")
    text = card.text or ""
    assert "<b>BTC</b> · all venues" in text
    assert "<b>Venues</b>" in text, text
    assert "binance: 62% · +0.0100% · +0.020%" in text  # 80,000 of 130,000 BTC
    assert "okx: no answer this cycle" in text
    assert "Partial: okx missing; no alert from it" in text
    # The same coin on one venue: its own contract, as Bybit lists it.
    card = await ask(fake_tg, "/symbol BTC bybit")
    text = card.text or ""
    assert "<b>BTCUSDT</b> · Bybit perp" in text and "<b>Venues</b>" not in text
    top = await ask(fake_tg, "/top bybit")
    assert "Bybit perp · Top 2 of 2" in top.visible


async def test_subscribe_keys_by_venue_and_status_lists_the_missing_one(
    venues_bot: BotWithWorker, fake_tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    reply = await ask(fake_tg, "/subscribe pepe")
    assert "Subscribed to PEPE" in reply.visible
    reply = await ask(fake_tg, "/subscribe 1000pepe bybit")
    assert "Subscribed to 1000PEPEUSDT" in reply.visible
    async with sessions() as s:
        subs = (await s.scalars(select(Subscription).where(Subscription.chat_id == USER))).all()
    assert {(x.exchange, x.symbol) for x in subs} == {("all", "PEPE"), ("bybit", "1000PEPEUSDT")}
    status = await ask(fake_tg, "/status", chat_id=ADMIN_ID)
    assert "Venue okx unreachable" in status.visible
    assert "binance" not in status.visible.split("Venue okx")[0].split("Deliveries")[-1]


async def test_subscriptions_on_other_venues_are_listed(
    venues_bot: BotWithWorker, fake_tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from bot.storage import chat_repo

    # A subscription from before venues: Binance's symbol.
    async with sessions() as s, s.begin():
        await chat_repo.upsert_chat(s, USER, "private", "me", 0)
        await chat_repo.subscribe(s, USER, "binance", "BTCUSDT", ["bands"], 0, cap=200)
    await ask(fake_tg, "/subscribe btc")
    listing = await ask(fake_tg, "/subscriptions")
    assert "BTC" in listing.visible
    assert "Also on other venues: binance 1 (see /subscriptions binance)" in listing.visible
    binance = await ask(fake_tg, "/subscriptions binance")
    assert "binance subscriptions (remove one with /unsubscribe SYMBOL binance)" in binance.visible
    assert "BTC" in binance.visible and binance.buttons() == []
    removed = await ask(fake_tg, "/unsubscribe btcusdt binance")
    assert "Unsubscribed from BTCUSDT" in removed.visible
    async with sessions() as s:
        left = await chat_repo.list_subscriptions(s, USER, "binance")
    assert list(left) == []


async def test_a_venue_cards_buttons_act_on_that_venue(
    venues_bot: BotWithWorker, fake_tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """/symbol BTC bybit shows Bybit's contract; its Subscribe button must subscribe to
    Bybit's BTCUSDT, not to the default view's symbol."""
    from tests.telegram.test_tg_commands import tap

    card = await ask(fake_tg, "/symbol BTC bybit")
    [(label, data)] = card.buttons()
    assert label == "🔔 Subscribe" and data == "sub:BTCUSDT:bybit"
    answer = await tap(fake_tg, USER, data, message_id=card.message_id)
    assert "Subscribed to BTCUSDT" in answer.get("text", "")
    async with sessions() as s:
        subs = (await s.scalars(select(Subscription).where(Subscription.chat_id == USER))).all()
    assert {(x.exchange, x.symbol) for x in subs} == {("bybit", "BTCUSDT")}

    def buttons_now() -> list[tuple[str, str]]:
        markup = fake_tg._messages[(USER, card.message_id)].get("reply_markup") or {}
        rows = markup.get("inline_keyboard", [])
        return [(b["text"], b["callback_data"]) for row in rows for b in row]

    await fake_tg.wait_until(lambda: buttons_now() == [("🔕 Unsubscribe", "uns:BTCUSDT:bybit")])
    answer = await tap(fake_tg, USER, "uns:BTCUSDT:bybit", message_id=card.message_id)
    assert "Unsubscribed from BTCUSDT" in answer.get("text", "")
    async with sessions() as s:
        left = (await s.scalars(select(Subscription).where(Subscription.chat_id == USER))).all()
    assert left == []
    # A forged venue word is an expired button, not an error.
    answer = await tap(fake_tg, USER, "sub:BTCUSDT:nowhere", message_id=card.message_id)
    assert "expired" in answer.get("text", "").lower()


async def test_a_venue_tables_filters_keep_the_venue(
    venues_bot: BotWithWorker, fake_tg: FakeTelegram
) -> None:
    """/top bybit, then its Squeeze button: the table stays Bybit's."""
    from tests.telegram.test_tg_commands import tap

    table = await ask(fake_tg, "/top bybit")
    assert "Bybit perp" in table.visible
    data = dict((label.lstrip("• "), d) for label, d in table.buttons())["OI/funding"]
    assert data == "topf:10:squeeze:bybit"
    await tap(fake_tg, USER, data, message_id=table.message_id)
    await fake_tg.wait_until(lambda: bool(fake_tg.edits), 10.0)
    edited = fake_tg.edits[-1]
    assert "Bybit perp" in edited.visible and "all venues" not in edited.visible


async def test_status_and_healthz_name_a_venue_serving_stale_open_interest(
    start: Callable[..., Any],
    make_settings: Callable[..., Settings],
    sessions: async_sessionmaker[AsyncSession],
    fake_tg: FakeTelegram,
) -> None:
    """OKX's open-interest answer stops moving (the same `ts` and `oi` every cycle):
    /status and /healthz say OKX is stale; Binance and Bybit are not named."""
    from aiohttp import ClientSession

    from bot.metrics import Metrics
    from bot.web.health_server import start_health_server

    base = make_settings()
    now = [time.time()]
    async with FakeBinance() as fb, FakeBybit() as fy, FakeOkx() as fo:
        _set_up(fb, fy, fo)
        exchange = base.exchange.model_copy(
            update={
                "venues": ["binance", "bybit", "okx"],
                "base_url": fb.url,
                "bybit_base_url": fy.url,
                "okx_base_url": fo.url,
            }
        )
        settings = base.model_copy(update={"exchange": exchange})
        async with contextlib.AsyncExitStack() as stack:
            adapters = await open_adapters(settings, stack, clock=lambda: now[0])
            scorer = VenueScorers(
                [Scorer(a, sessions, settings) for a in adapters], sessions, settings
            )
            fo.fault("/api/v5/public/open-interest", "frozen", times=None)
            for _ in range(2):  # the first frozen answer is news, the second a repeat
                await scorer.run_cycle()
                now[0] += 300  # past the venues' 20 s reuse of their bulk answers
    await start(settings)
    status = await ask(fake_tg, "/status", chat_id=ADMIN_ID)
    assert "Venue okx serves stale open interest" in status.visible
    assert "Venue binance" not in status.visible and "Venue bybit" not in status.visible
    runner = await start_health_server(settings, sessions, Metrics())
    try:
        host, port = runner.addresses[0][:2]
        async with ClientSession() as http, http.get(f"http://{host}:{port}/healthz") as resp:
            doc = await resp.json()
    finally:
        await runner.cleanup()
    assert doc["stale_venues"] == ["okx"]
