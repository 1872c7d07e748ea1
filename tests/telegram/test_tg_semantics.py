"""Time zone and daily cap in /settings, and the catch-up and cap-note messages as a chat
receives them: the real AlertEngine writes the outbox, the real PTB Application and
outbox worker deliver it to the fake Bot API (docs/alerts.md)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.config import Settings
from bot.cycle.alert_hook import AlertEngine
from bot.storage import chat_repo
from fakes.bot_harness import BotWithWorker
from fakes.fake_telegram import FakeTelegram
from tests.alerts.helpers import add_chat, add_cycle, add_sub
from tests.telegram.test_tg_commands import USER, ask

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
MIN = 60_000


async def test_settings_time_zone_and_daily_cap(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions: Any
) -> None:
    reply = await ask(fake_tg, "/settings")
    assert "Time zone: UTC" in reply.visible
    assert "Daily cap: 20 messages a day" in reply.visible  # [alerts] daily_cap
    assert (await ask(fake_tg, "/settings tz europe/berlin")).visible == (
        "✓ Time zone: Europe/Berlin"
    )
    reply = await ask(fake_tg, "/settings tz Mars/Olympus")
    assert reply.visible.startswith("I don't know the time zone Mars/Olympus.")
    assert "Europe/Berlin" in reply.visible
    # Quiet hours are read in the chat's time zone, and say so.
    assert (await ask(fake_tg, "/settings quiet 22-07")).visible == (
        "✓ Quiet hours 22-07 Europe/Berlin"
    )
    assert (await ask(fake_tg, "/settings cap 5")).visible == "✓ Daily cap: 5 messages"
    assert "didn't understand" in (await ask(fake_tg, "/settings cap 100000")).visible
    reply = await ask(fake_tg, "/settings")
    assert "Time zone: Europe/Berlin" in reply.visible
    assert "Quiet hours: 22:00-07:00 Europe/Berlin" in reply.visible
    assert "Daily cap: 5 messages a day" in reply.visible
    async with sessions() as s:
        chat = await chat_repo.get_chat(s, USER)
    assert chat is not None and (chat.tz, chat.daily_cap) == ("Europe/Berlin", 5)
    assert (await ask(fake_tg, "/settings cap off")).visible == "✓ Daily cap off"
    assert "Daily cap: off" in (await ask(fake_tg, "/settings")).visible


def zone_near_noon(now_ms: int) -> str:
    """A fixed-offset zone where it is about noon now, so a test's last half hour never
    straddles the chat's local midnight (Etc/GMT signs are inverted: GMT-3 is UTC+3)."""
    offset = 12 - time.gmtime(now_ms / 1000).tm_hour
    return f"Etc/GMT{-offset:+d}"


async def test_cap_note_and_catch_up_reach_the_chat(
    start: Any, settings: Settings, sessions: Any, fake_tg: FakeTelegram
) -> None:
    now = int(time.time() * 1000)
    base = now - 30 * MIN  # recent: the outbox does not treat the rows as stale
    capped, muted = 31, 32
    async with sessions() as session, session.begin():
        await add_chat(session, capped, daily_cap=1, tz=zone_near_noon(now))
        await add_chat(session, muted, muted_until_ms=base + 20 * MIN)  # over by now
        for symbol in ("AUSDT", "BUSDT"):
            await add_sub(session, capped, symbol, "bands")
        await add_sub(session, muted, "AUSDT", "bands")
    engine = AlertEngine(Settings(alerts={"default_min_band": "stretched"}))  # type: ignore[arg-type]
    for minute, scores in (
        (0, {"AUSDT": 20, "BUSDT": 20}),
        (5, {"AUSDT": 72, "BUSDT": 20}),  # capped: pushed (1 of 1); muted: held
        (10, {"AUSDT": 72, "BUSDT": 72}),  # capped: past the cap, one note
        (25, {"AUSDT": 72, "BUSDT": 72}),  # muted: the mute is over, one catch-up
    ):
        async with sessions() as session, session.begin():
            await engine.in_cycle_transaction(
                session, await add_cycle(session, base + minute * MIN, scores)
            )

    await start(settings)
    first, note = await fake_tg.wait_for_messages(capped, 2)
    assert first.visible.startswith("🔺 AUSDT lean → 🔴 stressed")
    print("\n--- cap note ---\n" + note.visible)
    assert note.visible.startswith(
        "⏸ Daily limit reached: 1 more alert today is held until tomorrow (B)"
    )
    [catch_up] = await fake_tg.wait_for_messages(muted, 1)
    print("\n--- catch-up ---\n" + catch_up.visible)
    assert catch_up.visible.splitlines() == [
        "🔔 Catch-up: what changed while alerts were held",
        "🔴 A now stressed · score 72 · LONG · Net long bias building",
    ]
    assert fake_tg.rejected == []


@pytest.mark.parametrize(
    "text",
    [
        "/settings tz ../../etc/passwd",
        "/settings tz <b>Europe/Berlin</b>",
        "/settings tz " + "Z" * 60,
        "/settings tz Europe",
        "/settings timezone",
        "/settings cap -3",
        "/settings cap 1e3",
    ],
)
async def test_bad_time_zone_or_cap_gets_a_polite_reply(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions: Any, text: str
) -> None:
    reply = await ask(fake_tg, text)
    assert "I don't know the time zone" in reply.visible or "didn't understand" in reply.visible
    assert "something went wrong" not in reply.visible
    assert fake_tg.rejected == []
    async with sessions() as s:
        chat = await chat_repo.get_chat(s, USER)
    assert chat is not None and (chat.tz, chat.daily_cap) == (None, None)
