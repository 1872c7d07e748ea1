"""A busy group must not stall the bot (issue 9).

Telegram lets the bot post 20 messages a minute in a group. A handler that waits for
that budget holds one of PTB's 64 concurrent update slots, so 64 /top in one group used
to block every other user for minutes. Now a group has its own command budget (one
polite note when it is exceeded), and an answer that cannot leave within
`reply_max_wait_seconds` is dropped instead of holding its slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.telegram import render
from bot.telegram.rate_limits import CommandLimiter, Verdict
from fakes.bot_harness import BotWithWorker
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import add_market

GROUP = -500
USER = 42
BURST = 64  # as many as PTB's concurrent update slots
# The failure this guards against is minutes: 64 handlers holding PTB's slots until the
# group's 20-a-minute budget lets them send. Seconds on an idle machine; the bound leaves
# room for a busy one.
PROMPT_S = 20.0


async def idle(runtime: BotWithWorker, fake: FakeTelegram, timeout: float = 60.0) -> None:
    """Until every pushed update was fetched and fully handled."""
    await fake.wait_until_polled(timeout)
    app = runtime.application

    async def handled() -> None:
        # PTB signals no "all handled" event; its counters are the only source.
        while app.update_processor.current_concurrent_updates or not app.update_queue.empty():  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    await asyncio.wait_for(handled(), timeout)


async def burst_then_private(fake: FakeTelegram) -> float:
    """64 members send /top in the same second; then a private user asks. Returns how
    long the private user waited for the answer."""
    for i in range(BURST):
        fake.push_message(GROUP, "/top", user_id=5000 + i)
    await fake.wait_for_messages(GROUP, 1)  # the group's burst is being handled
    t0 = time.monotonic()
    fake.push_message(USER, "/top")
    [answer] = await fake.wait_for_messages(USER, 1)
    assert answer.visible.startswith("Avg stress")
    return answer.ts - t0


def no_errors(fake: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    assert not [m for m in fake.sent if render.internal_error() in m.visible]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_busy_group_gets_its_budget_and_one_note_and_others_are_answered_promptly(
    start: Callable[..., Any],
    make_settings: Callable[..., Any],
    sessions: Any,
    fake_tg: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await add_market(sessions)
    settings = make_settings()
    budget = settings.telegram.group_commands_per_minute
    assert budget < settings.telegram.group_messages_per_minute  # the note fits Telegram's
    runtime = await start(settings)

    waited = await burst_then_private(fake_tg)

    assert waited < PROMPT_S, f"a private /top waited {waited:.1f}s behind a busy group"
    await idle(runtime, fake_tg)
    to_group = fake_tg.messages_to(GROUP)
    notes = [m for m in to_group if m.visible == render.group_rate_limited(budget)]
    tables = [m for m in to_group if m.visible.startswith("Avg stress")]
    assert len(notes) == 1
    assert len(tables) == budget and len(to_group) == budget + 1
    assert fake_tg.flood_429s == 0
    no_errors(fake_tg, caplog)


async def test_an_answer_that_cannot_leave_in_time_is_dropped_not_waited_for(
    start: Callable[..., Any],
    make_settings: Callable[..., Any],
    sessions: Any,
    fake_tg: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without the group limit, the second line holds: the group gets what Telegram
    allows (20 a minute) and the other answers are dropped at once."""
    await add_market(sessions)
    settings = make_settings(group_commands_per_minute=1000)
    runtime = await start(settings)

    waited = await burst_then_private(fake_tg)

    assert waited < PROMPT_S, f"a private /top waited {waited:.1f}s behind a busy group"
    await idle(runtime, fake_tg)
    per_minute = settings.telegram.group_messages_per_minute
    assert len(fake_tg.messages_to(GROUP)) == per_minute
    assert runtime.deps.sender.stats.replies_dropped == BURST - per_minute
    assert fake_tg.flood_429s == 0
    no_errors(fake_tg, caplog)


def test_group_limiter_sends_at_most_one_note_a_minute() -> None:
    """A group flooding at the refill rate gets one note a minute, not one per command."""
    now = [0.0]
    limiter = CommandLimiter(10, clock=lambda: now[0], notice_interval=60.0)
    assert [limiter.check(GROUP) for _ in range(10)] == [Verdict.ALLOW] * 10
    assert limiter.check(GROUP) is Verdict.DENY_NOTIFY
    verdicts = []
    for _ in range(50):  # a command every 3 s for 150 s; a token comes back every 6 s
        now[0] += 3.0
        verdicts.append(limiter.check(GROUP))
    notes = verdicts.count(Verdict.DENY_NOTIFY)
    assert verdicts.count(Verdict.ALLOW) == 25
    assert notes == 2  # at 60 s and 120 s (the first came at 0 s)
