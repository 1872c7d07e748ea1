"""Paid broadcast (Bot API 7.11 `allow_paid_broadcast`): alerts leave faster than the
free 30 msg/s on their own budget, replies stay free (bot/telegram/pace.py)."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Bot
from telegram.error import RetryAfter

from bot.telegram.sender import Priority
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import Alert, add_deliveries, empty_cycle

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_the_fake_keeps_a_separate_paid_limit():
    # A frozen clock: on a busy machine 26 sends can straddle the fake's one-second
    # window, which would refill the budgets mid-test.
    tg = FakeTelegram(global_per_second=5, paid_per_second=20, clock=lambda: 1_000.0)
    async with tg, Bot(tg.token, base_url=tg.base_url) as bot:
        paid = await asyncio.gather(
            *(bot.send_message(100 + i, "hi", allow_paid_broadcast=True) for i in range(20)),
            return_exceptions=True,
        )
        assert not [r for r in paid if isinstance(r, Exception)]
        free = await asyncio.gather(
            *(bot.send_message(200 + i, "hi") for i in range(6)), return_exceptions=True
        )  # the free budget was untouched by the paid messages: 5 of 6 go through
        assert sum(isinstance(r, RetryAfter) for r in free) == 1
        with pytest.raises(RetryAfter):
            await bot.send_message(300, "over", allow_paid_broadcast=True)
    assert tg.paid_messages == 20 and tg.flood_scopes == {"global": 1, "paid": 1}


async def test_paid_broadcast_drains_past_the_free_rate_and_replies_stay_free(
    start, make_settings, sessions, fake_tg: FakeTelegram
):
    chats = list(range(1, 241))
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, chats, [Alert("BTCUSDT")])
    settings = make_settings(allow_paid_broadcast=True, paid_broadcast_messages_per_second=200)
    runtime = await start(settings)
    # The mechanism, not a measured rate (a busy machine sets that; bench/paid_broadcast.py
    # measures it): the window is sized for the paid pace, ceil(200 msg/s x 0.25 s)...
    assert runtime.outbox_worker.in_flight == 50
    await runtime.bot.deps.sender.send_text(9999, "a reply", priority=Priority.REPLY)
    await fake_tg.wait_until(lambda: len(fake_tg.sent) >= len(chats) + 1)
    alerts = [m for m in fake_tg.sent if m.chat_id != 9999]
    [reply] = fake_tg.messages_to(9999)
    # ...every alert went on the paid budget and the reply on the free one; the fake
    # enforces both (free: 30 msg/s), so a paced-too-fast free send would have been a 429.
    assert all(m.paid for m in alerts) and not reply.paid
    assert fake_tg.flood_429s == 0
