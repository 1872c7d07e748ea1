"""bot/views/actions.py without Telegram: what a web page would call. Real SQLite (and
PostgreSQL when configured); the caller is a plain object, not the bot's Deps."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.storage import chat_repo
from bot.views import actions, settings_actions
from bot.views.actions import SettingChanged, UserError
from bot.views.market import MarketSnapshot

NOW_MS = 1_700_000_000_000
CHAT = 7


class NoMarket:
    async def snapshot(self) -> MarketSnapshot | None:
        return None


@dataclass
class Caller:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    market: NoMarket
    chart_hours: int = 48

    @property
    def exchange(self) -> str:
        return self.settings.exchange.name

    def now_ms(self) -> int:
        return NOW_MS


@pytest.fixture
async def caller(sessions: async_sessionmaker[AsyncSession]) -> Caller:
    settings = Settings(telegram={"subscriptions_per_chat": 1})
    async with sessions() as session, session.begin():
        await chat_repo.upsert_chat(session, CHAT, "private", "me", NOW_MS)
    return Caller(settings, sessions, NoMarket())


async def test_actions_return_data_and_refuse_with_a_code(caller: Caller) -> None:
    first = await actions.subscribe(caller, CHAT, "BTCUSDT")
    # No kind named: alerts.default_kinds (band changes; squeeze alerts are opt-in).
    assert (first.symbol, first.already, sorted(first.kinds)) == ("BTCUSDT", False, ["bands"])
    with pytest.raises(UserError) as refused:
        await actions.subscribe(caller, CHAT, "ETHUSDT")
    assert (refused.value.code, refused.value.params) == ("over_cap", {"cap": 1})
    assert await actions.followed_symbols(caller, CHAT) == {"BTCUSDT"}

    assert await settings_actions.apply_setting(caller, CHAT, ["mute", "8"]) == SettingChanged(
        "mute", 8
    )
    view = await settings_actions.settings(caller, CHAT)
    assert view.chat.muted_until_ms == NOW_MS + 8 * 3_600_000
    with pytest.raises(UserError) as refused:
        await settings_actions.apply_setting(caller, CHAT, ["tz", "Mars/Olympus"])
    assert (refused.value.code, refused.value.params) == (
        "unknown_timezone",
        {"value": "Mars/Olympus"},
    )
    with pytest.raises(UserError) as refused:
        await actions.set_market(caller, CHAT, "Sideways")
    assert (refused.value.code, refused.value.params) == ("not_understood", {"words": "Sideways"})

    top = await actions.top(caller, 10, "all")
    assert top.snapshot is None and top.rows == []
    card = await actions.symbol_card(caller, CHAT, "BTCUSDT")
    assert card.row is None and card.subscribed
