"""Delivery under faults, through the real PTB Application and the fake Bot API: a locked
database while a send completes, a 429 for one chat, stale and late deliveries, and a
digest whose own alert must not drown in market-wide ones."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.config import DatabaseSettings, Settings
from bot.storage.db import create_engine, session_factory
from bot.storage.models import Subscription
from bot.telegram.flood_control import FloodControl
from fakes.bot_harness import start_bot_with_worker
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import Alert, add_deliveries, empty_cycle
from tests.telegram.test_tg_outbox_worker import BTC_UP, wait_settled

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    async def poll() -> None:  # log records and counters have no event to wait on
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


# ------------------------------------------------------------------ sent, then locked


async def test_a_locked_database_after_the_send_does_not_resend(
    make_settings: Callable[..., Settings],
    sessions: Any,
    db_url: str,
    fake_tg: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Telegram accepts the message; recording `sent` then hits a write lock held by
    another connection for longer than busy_timeout, and for longer than the claim's
    lease. The record is retried until it lands: the chat gets the alert once."""
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [301], [BTC_UP])
    engine = create_engine(DatabaseSettings(url=db_url, busy_timeout_ms=150))
    bot_sessions = session_factory(engine)
    # The send stays on the wire until the lock is taken: no timing window.
    on_the_wire = fake_tg.hold("sendMessage")
    settings = make_settings()
    runtime = await start_bot_with_worker(settings, bot_sessions, poll_interval=0.1, lease_ms=400)
    path = db_url.split("///", 1)[1]
    locker = sqlite3.connect(path, isolation_level=None, timeout=5, check_same_thread=False)
    caplog.set_level(logging.DEBUG, logger="bot.telegram.outbox_worker")

    def logged(text: str) -> int:
        return sum(
            text in r.getMessage() or text in str(r.exc_info[1] if r.exc_info else "")
            for r in caplog.records
        )

    try:
        await fake_tg.wait_until(lambda: fake_tg.calls["sendMessage"] >= 1)
        # In a thread: if the outbox worker is mid-write, waiting here must not block the
        # loop its commit needs.
        await asyncio.to_thread(locker.execute, "BEGIN IMMEDIATE")
        on_the_wire.set()
        await fake_tg.wait_for_messages(301, 1)  # Telegram has accepted it
        # Held until recording has failed and the claim's lease ran out several times
        # over (each failed claim is a busy_timeout plus a poll).
        await wait_for(lambda: logged("database is locked") >= 6, 60, "the lock to bite")
        locker.execute("COMMIT")
        done = await wait_settled(sessions)
        assert [s for s, _, _ in done.values()] == ["sent"]
        # A resend would need one more claim: give the outbox worker several polls.
        for _ in range(3):
            runtime.notify()
            await asyncio.wait_for(runtime.outbox_worker.idle.wait(), 60)
            runtime.outbox_worker.idle.clear()
    finally:
        locker.close()
        await runtime.stop()
        await engine.dispose()
    assert len(fake_tg.messages_to(301)) == 1, "the accepted message was sent again"
    assert runtime.outbox_worker.stats.record_retries >= 1


# ------------------------------------------------------------------ one chat's 429


async def test_one_groups_flood_wait_does_not_stall_private_chats(
    start, settings, sessions, fake_tg: FakeTelegram
) -> None:
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [-500], [BTC_UP])
    fake_tg.fail("429", chat_id=-500, retry_after=4)
    runtime = await start(settings)
    await fake_tg.wait_until(lambda: fake_tg.injected["429"] == 1)
    hit = time.monotonic()

    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [601, 602], [Alert("ETHUSDT")])
    runtime.notify()
    private = [(await fake_tg.wait_for_messages(chat, 1))[0] for chat in (601, 602)]
    [late] = await fake_tg.wait_for_messages(-500, 1)
    assert late.ts - hit >= 4.0  # the group itself waited as told
    # Ordering, not a timing window: had they waited out the group's flood wait, they
    # would have gone after it.
    assert all(msg.ts < late.ts for msg in private), "a private chat waited for the group"
    done = await wait_settled(sessions)
    assert {s for s, _, _ in done.values()} == {"sent"} and len(fake_tg.sent) == 3


def test_429s_on_several_chats_pause_everything() -> None:
    flood = FloodControl()
    assert flood.pause(5, now=100.0, chat_id=-1) is False
    assert flood.wait_global(100.0) == 0 and flood.wait_chat(-1, 100.0) == pytest.approx(5)
    assert flood.pause(5, now=101.0, chat_id=-1) is False  # the same chat again
    assert flood.pause(5, now=102.0, chat_id=2) is False
    assert flood.wait_chat(3, 102.0) == 0
    assert flood.pause(5, now=103.0, chat_id=3) is True  # three distinct chats in 10 s
    assert flood.wait_global(103.0) == pytest.approx(5)
    # Spread over more than the window, 429s on three chats are not a global signal.
    calm = FloodControl()
    for i, at in enumerate((0.0, 11.0, 22.0)):
        assert calm.pause(1, now=at, chat_id=i + 1) is False


# ------------------------------------------------------------------ old deliveries


async def test_stale_deliveries_are_dropped_not_sent(
    start, settings, sessions, fake_tg: FakeTelegram
) -> None:
    """A backlog older than delivery_expiry_hours (6 h) is dropped, counted and logged;
    a fresh delivery in the same outbox still goes out."""
    now = int(time.time() * 1000)
    old = await empty_cycle(sessions)
    stale_ids = await add_deliveries(
        sessions, old, [401, 402, 403], [BTC_UP], now_ms=now - 7 * HOUR_MS
    )
    fresh = await empty_cycle(sessions)
    await add_deliveries(sessions, fresh, [404], [Alert("ETHUSDT")])
    runtime = await start(settings)
    await fake_tg.wait_for_messages(404, 1)
    done = await wait_settled(sessions)
    assert {done[i][:2] for i in stale_ids} == {("dropped", "stale")}
    assert [m.chat_id for m in fake_tg.sent] == [404]
    assert runtime.outbox_worker.stats.stale == 3


async def test_a_delivery_that_expires_while_retrying_is_dropped(
    start, make_settings, sessions, fake_tg: FakeTelegram
) -> None:
    clock = [time.time()]  # the outbox worker's: it moves only when the test says
    now = int(clock[0] * 1000)
    cycle = await empty_cycle(sessions)
    # 5 h 59 min 59 s old: fresh when claimed, stale by its first retry.
    await add_deliveries(sessions, cycle, [405], [BTC_UP], now_ms=now - 6 * HOUR_MS + 1000)
    fake_tg.fail("5xx", chat_id=405, times=1000)
    runtime = await start(make_settings(), backoff_base=1.5, clock=lambda: clock[0])
    await fake_tg.wait_until(lambda: fake_tg.injected["5xx"] >= 1)  # sent once, failed
    clock[0] += 10  # past its expiry and the retry's backoff
    runtime.notify()
    done = await wait_settled(sessions)
    assert [(s, r) for s, r, _ in done.values()] == [("dropped", "stale")]
    assert fake_tg.sent == [] and runtime.outbox_worker.stats.stale == 1


async def test_a_late_alert_says_when_it_happened(
    start, settings, sessions, fake_tg: FakeTelegram
) -> None:
    now = int(time.time() * 1000)
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [406], [BTC_UP], now_ms=now - 12 * MINUTE_MS)
    cycle = await empty_cycle(sessions)
    await add_deliveries(
        sessions, cycle, [406], [BTC_UP, Alert("ETHUSDT")], now_ms=now - 95 * MINUTE_MS
    )
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [407], [BTC_UP], now_ms=now)  # on time: no age
    await start(settings, clock=lambda: now / 1000)  # ages exact however long start takes
    messages = await fake_tg.wait_for_messages(406, 2)
    texts = sorted(m.visible for m in messages)
    print("\n--- late ---\n" + "\n\n".join(texts))
    assert texts[0].startswith("2 alerts from the scan 1 h 35 min ago")
    assert texts[1].splitlines()[-1] == "⏱ 12 min ago"
    [on_time] = await fake_tg.wait_for_messages(407, 1)
    assert "ago" not in on_time.visible


# ------------------------------------------------------------------ digest order


async def test_a_big_digest_leads_with_the_chats_own_symbol(
    start, settings, sessions, fake_tg: FakeTelegram
) -> None:
    """60 market-wide rises outscore the chat's own per-symbol squeeze alert; the
    digest shows it first instead of hiding it in '…and 21 more'."""
    cycle = await empty_cycle(sessions)
    market = [
        Alert(f"M{i:02d}USDT", from_band="stretched", to_band="stressed", score=99 - i // 3)
        for i in range(60)
    ]
    own = Alert(
        "KASUSDT",
        kind="squeeze",
        direction="enter",
        from_band=None,
        to_band=None,
        score=30,
        regime="Long squeeze risk",
        from_regime="Net long bias building",
        to_regime="Long squeeze risk",
    )
    await add_deliveries(sessions, cycle, [408], [*market, own])
    async with sessions() as s, s.begin():
        for symbol, kind in (("*", "bands"), ("KASUSDT", "squeeze")):
            s.add(
                Subscription(
                    chat_id=408, exchange="binance", symbol=symbol, kind=kind, created_ms=0
                )
            )
    await start(settings)
    [msg] = await fake_tg.wait_for_messages(408, 1)
    lines = msg.visible.splitlines()
    assert lines[0].startswith("61 alerts")
    assert lines[1].startswith("⚠️ KAS → Longs pay, OI building: risk either way · 30"), lines[:3]
    assert "…and 21 more" in msg.visible
    assert msg.buttons()[0] == ("📊 KAS", "sym:KASUSDT")
    done = await wait_settled(sessions)
    assert {s for s, _, _ in done.values()} == {"sent"} and len(fake_tg.sent) == 1


async def test_one_chats_5xx_keeps_its_backoff_while_others_succeed(
    start, settings, sessions, fake_tg: FakeTelegram
) -> None:
    """A 5xx for one chat only is not an outage: the other chats' successes must not
    make its deliveries due again each time (getMe still answers, so no recovery)."""
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [-701], [BTC_UP])
    fake_tg.fail("5xx", chat_id=-701, times=1000)
    for _ in range(6):  # 3 at once, then 1/s: about 4 s of successes
        cycle = await empty_cycle(sessions)
        await add_deliveries(sessions, cycle, [702], [BTC_UP])
    runtime = await start(settings, backoff_base=3.0)
    await fake_tg.wait_for_messages(702, 6)
    # Backoff 3 s, then 6 s: two or three tries over the broadcast, not one per success.
    assert fake_tg.injected["5xx"] <= 3, fake_tg.injected["5xx"]
    assert runtime.outbox_worker.stats.retried >= 1
