"""/subscribe before the first scan has landed (a fresh install: minutes with three venues
and a cold backfill): the symbol list is empty, so no symbol is unknown yet. The bot says
the market is still loading, keeps the request, and once a cycle lands subscribes it (or
refuses a symbol that does not exist) with exactly one follow-up message, through the
real PTB Application and the fake Bot API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.storage.models import PendingSubscription, Subscription
from bot.telegram import chart_prerender
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import add_market
from tests.telegram.test_tg_commands import USER, ask

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

OTHER = 43


@pytest.fixture(autouse=True)
def quick_cycle_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot notices a new cycle by polling; a short poll keeps these tests fast."""
    monkeypatch.setattr(chart_prerender, "POLL_SECONDS", 0.05)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """The latest cycle id re-read every 0.05 s instead of every second, for the same reason."""
    return make_settings(latest_cycle_cache_seconds=0.05)


async def _subscriptions(sessions: Any) -> set[tuple[int, str, str]]:
    async with sessions() as s:
        rows = (await s.scalars(select(Subscription))).all()
        return {(r.chat_id, r.symbol, r.kind) for r in rows}


async def _pending(sessions: Any) -> list[PendingSubscription]:
    async with sessions() as s:
        return list((await s.scalars(select(PendingSubscription))).all())


async def test_subscribe_before_the_first_scan_says_the_market_is_loading(
    start: Callable[..., Any], settings: Settings, sessions: Any, fake_tg: FakeTelegram
) -> None:
    await start(settings)  # no cycle stored: the universe is empty
    reply = await ask(fake_tg, "/subscribe btcusdt eth")
    text = reply.visible
    assert "I don't know the symbol" not in text
    assert text.startswith("⏳ Still loading the market (the first scan, about ")
    assert "BTCUSDT, ETH" in text and "I'll subscribe you as soon as it is loaded" in text
    deadline = settings.scorer.interval_seconds * settings.scorer.cycle_deadline_share
    seconds = int(text.split("about ")[1].split(" s)")[0])
    assert 5 <= seconds <= deadline
    assert await _subscriptions(sessions) == set()
    assert sorted(p.symbol for p in await _pending(sessions)) == ["BTCUSDT", "ETH"]


async def test_kept_requests_are_subscribed_once_the_first_cycle_lands(
    start: Callable[..., Any], settings: Settings, sessions: Any, fake_tg: FakeTelegram
) -> None:
    runtime = await start(settings)
    await ask(fake_tg, "/subscribe btcusdt squeeze")
    await ask(fake_tg, "/subscribe sol", chat_id=OTHER)
    await ask(fake_tg, "/subscribe sol", chat_id=OTHER)  # asked twice: kept once
    await add_market(sessions)  # the first cycle lands
    first = (await fake_tg.wait_for_messages(USER, 2))[1]
    other = (await fake_tg.wait_for_messages(OTHER, 3))[2]
    await runtime.pending_resolver.idle.wait()
    assert first.visible.startswith("✅ The market is loaded.") and "BTCUSDT" in first.visible
    assert other.visible.startswith("✅ The market is loaded.") and "SOLUSDT" in other.visible
    # Exactly one follow-up per request, and nothing left waiting.
    assert len(fake_tg.messages_to(USER)) == 2
    assert len(fake_tg.messages_to(OTHER)) == 3
    assert await _pending(sessions) == []
    subs = await _subscriptions(sessions)
    assert (USER, "BTCUSDT", "squeeze") in subs and (USER, "BTCUSDT", "bands") not in subs
    assert {(chat, symbol) for chat, symbol, _ in subs} == {(USER, "BTCUSDT"), (OTHER, "SOLUSDT")}


async def test_a_symbol_that_does_not_exist_is_refused_once(
    start: Callable[..., Any], settings: Settings, sessions: Any, fake_tg: FakeTelegram
) -> None:
    runtime = await start(settings)
    await ask(fake_tg, "/subscribe nosuchcoin")
    await add_market(sessions)
    refusal = (await fake_tg.wait_for_messages(USER, 2))[1]
    await runtime.pending_resolver.idle.wait()
    assert refusal.visible.startswith("The market is loaded, but nothing was subscribed.")
    assert "I don't know the symbol “NOSUCHCOIN”" in refusal.visible
    assert len(fake_tg.messages_to(USER)) == 2
    assert await _subscriptions(sessions) == set() and await _pending(sessions) == []


async def test_kept_requests_survive_a_restart(
    start: Callable[..., Any], settings: Settings, sessions: Any, fake_tg: FakeTelegram
) -> None:
    first = await start(settings)
    await ask(fake_tg, "/subscribe eth")
    await first.stop()
    await add_market(sessions)  # landed while no bot ran
    second = await start(settings)
    confirmation = (await fake_tg.wait_for_messages(USER, 2))[1]
    await second.pending_resolver.idle.wait()
    assert "ETHUSDT" in confirmation.visible and len(fake_tg.messages_to(USER)) == 2
    assert {s for _, s, _ in await _subscriptions(sessions)} == {"ETHUSDT"}
