"""What Telegram refuses, through the real PTB Application and the fake Bot API
answering in Telegram's own words: an alert whose HTML it cannot parse goes out as
plain text, one it finds too long goes out in parts, and one no fallback fixes is
failed with a logged reason. An outage behind Telegram's front end (an HTML 502 page)
is one line, not an ERROR and a traceback per send."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.storage.models import Delivery
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import add_deliveries, empty_cycle
from tests.telegram.test_tg_outbox_worker import BTC_UP, wait_settled

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_an_alert_telegram_cannot_parse_goes_out_as_plain_text(
    start: Callable[..., Any], settings: Settings, sessions: Any, fake_tg: FakeTelegram
) -> None:
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [901], [BTC_UP])
    fake_tg.fail("parse", chat_id=901, method="sendMessage")
    await start(settings)
    [msg] = await fake_tg.wait_for_messages(901, 1)
    assert fake_tg.injected["parse"] == 1
    assert msg.parse_mode is None  # plain text: the words, no markup
    assert "BTC" in msg.visible and "<b>" not in msg.visible and "&amp;" not in msg.visible
    assert msg.buttons(), "the alert's buttons still come with it"
    done = await wait_settled(sessions)
    assert [s for s, _, _ in done.values()] == ["sent"]


async def test_an_alert_telegram_finds_too_long_goes_out_in_parts(
    start: Callable[..., Any], settings: Settings, sessions: Any, fake_tg: FakeTelegram
) -> None:
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [902], [BTC_UP])
    fake_tg.fail("too_long", chat_id=902, method="sendMessage")
    await start(settings)
    done = await wait_settled(sessions)
    assert [s for s, _, _ in done.values()] == ["sent"]
    parts = fake_tg.messages_to(902)
    assert len(parts) >= 2 and fake_tg.injected["too_long"] == 1
    assert all(p.parse_mode == "HTML" for p in parts)  # each part still parses
    assert "BTC" in "\n".join(p.visible for p in parts)
    assert [bool(p.buttons()) for p in parts] == [False] * (len(parts) - 1) + [True]


async def test_an_alert_no_fallback_fixes_is_failed_with_its_reason_logged(
    start: Callable[..., Any],
    settings: Settings,
    sessions: Any,
    fake_tg: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [903], [BTC_UP])
    fake_tg.fail("too_long", chat_id=903, method="sendMessage", times=1000)
    await start(settings)
    done = await wait_settled(sessions)
    assert [s for s, _, _ in done.values()] == ["failed"]
    async with sessions() as session:
        [error] = (await session.scalars(select(Delivery.last_error))).all()
    assert error is not None and "message is too long" in error.lower()
    assert fake_tg.injected["too_long"] < 30  # cut down to a floor, then given up
    assert not fake_tg.messages_to(903)
    lost = [r.getMessage() for r in caplog.records if "no fallback" in r.getMessage()]
    assert len(lost) == 1 and "903" in lost[0] and "message is too long" in lost[0].lower(), lost


async def test_an_html_502_outage_is_one_line_without_tracebacks(
    start: Callable[..., Any],
    make_settings: Callable[..., Settings],
    sessions: Any,
    fake_tg: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    chats = list(range(1001, 1007))
    caplog.set_level(logging.INFO)
    runtime = await start(make_settings(), backoff_base=0.05, backoff_max=0.2)
    fake_tg.outage(3600)  # nginx's HTML 502 page to every call, until ended below
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, chats, [BTC_UP])
    runtime.notify()
    # Every chat's send failed, most of them several times over.
    await fake_tg.wait_until(lambda: fake_tg.calls["sendMessage"] >= 3 * len(chats), 15)
    fake_tg.down_until = 0.0
    done = await wait_settled(sessions, timeout=20)
    assert {s for s, _, _ in done.values()} == {"sent"}
    assert all(len(fake_tg.messages_to(c)) == 1 for c in chats)
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [f"{r.name}: {r.getMessage()[:120]}" for r in loud]
    assert "Can not load invalid JSON" not in caplog.text
    down = [r.getMessage() for r in caplog.records if "telegram unreachable" in r.getMessage()]
    assert len(down) == 1, down
    assert "Bad Gateway (502)" in down[0] and "<html>" not in down[0]
    polling = [r for r in caplog.records if r.levelno >= logging.WARNING and "polling" in r.msg]
    assert len(polling) <= 1, [r.getMessage()[:120] for r in polling]


async def test_one_chats_repeated_5xx_is_one_unreachable_line(
    start: Callable[..., Any],
    make_settings: Callable[..., Settings],
    sessions: Any,
    fake_tg: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """getMe keeps answering between the failed sends (Telegram flapping, or one
    chat's 5xx): still one "telegram unreachable" line, not one per failed send."""
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [72], [BTC_UP])
    fake_tg.fail("5xx", chat_id=72, times=6)
    await start(make_settings(), backoff_base=0.02, backoff_max=0.1)
    await fake_tg.wait_for_messages(72, 1)
    done = await wait_settled(sessions)
    assert [s for s, _, _ in done.values()] == ["sent"] and fake_tg.injected["5xx"] == 6
    down = [r.getMessage() for r in caplog.records if "telegram unreachable" in r.getMessage()]
    assert len(down) == 1, down
