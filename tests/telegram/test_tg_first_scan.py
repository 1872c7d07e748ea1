"""/subscribe before the first scan has landed (a fresh install: minutes with three venues
and a cold backfill): the symbol list is empty, so no symbol is unknown yet. The bot says
the market is still loading instead of "I don't know the symbol", through the real PTB
Application and the fake Bot API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.storage.models import Subscription
from fakes.fake_telegram import FakeTelegram
from tests.telegram.test_tg_commands import ask

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_subscribe_before_the_first_scan_says_the_market_is_loading(
    start: Callable[..., Any], settings: Settings, sessions: Any, fake_tg: FakeTelegram
) -> None:
    await start(settings)  # no cycle stored: the universe is empty
    reply = await ask(fake_tg, "/subscribe btcusdt eth")
    text = reply.visible
    assert "I don't know the symbol" not in text
    assert text.startswith("⏳ Still loading the market (the first scan, about ")
    assert "BTCUSDT, ETH" in text and "Nothing was subscribed" in text
    deadline = settings.scorer.interval_seconds * settings.scorer.cycle_deadline_share
    seconds = int(text.split("about ")[1].split(" s)")[0])
    assert 5 <= seconds <= deadline
    async with sessions() as s:
        assert (await s.scalars(select(Subscription))).all() == []
