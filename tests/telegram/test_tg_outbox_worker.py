"""Outbox delivery against the flood-enforcing fake: digests, faults, restarts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select

from bot.storage import outbox_repo
from bot.storage.models import Chat, Delivery, Subscription
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import Alert, add_cycle, add_deliveries, empty_cycle, snapshot

# PTB's own RetryAfter constructor warns about the int -> timedelta move.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

BTC_UP = Alert("BTCUSDT", from_band="lean", to_band="stretched", score=41)


async def statuses(sessions: Any) -> dict[int, tuple[str, str | None, int]]:
    async with sessions() as s:
        rows = (await s.scalars(select(Delivery).order_by(Delivery.id))).all()
    return {d.id: (d.status, d.reason, d.attempts) for d in rows}


async def wait_settled(
    sessions: Any, timeout: float = 60.0
) -> dict[int, tuple[str, str | None, int]]:
    """Until no delivery is pending (polls the DB; bounded by `timeout`)."""

    async def poll() -> dict[int, tuple[str, str | None, int]]:
        while True:
            current = await statuses(sessions)
            if all(status != "pending" for status, _, _ in current.values()):
                return current
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), timeout)


async def test_single_alert_reads_at_a_glance(start, settings, sessions, fake_tg: FakeTelegram):
    cycle = await add_cycle(
        sessions, [snapshot("BTCUSDT", 41, oi_24h=12.34, funding=0.02, basis=0.15)]
    )
    await add_deliveries(sessions, cycle, [11], [BTC_UP])
    await start(settings)
    [msg] = await fake_tg.wait_for_messages(11, 1)
    print("\n--- single alert ---\n" + msg.visible)
    lines = msg.visible.splitlines()
    assert lines[0] == "🔺 BTCUSDT lean → 🟠 stretched · score 41"
    assert lines[1] == "LONG · Net long bias building"
    assert lines[2] == "OI 24h +12.3% · funding 8h +0.020% · basis +0.15%"
    # What followed this alert type out of sample (bot/views/evidence_table.json).
    assert lines[3].startswith("after this alert: a ≥5% move within 24h ")
    assert lines[4] == "/symbol BTC"
    assert msg.buttons() == [("📊 BTC", "sym:BTCUSDT"), ("🔕 Mute 8h", "mute:8")]
    done = await wait_settled(sessions)
    assert [s for s, _, _ in done.values()] == ["sent"]


async def test_one_cycle_is_one_digest_per_chat(start, settings, sessions, fake_tg: FakeTelegram):
    cycle = await empty_cycle(sessions)
    alerts = [
        BTC_UP,
        Alert(
            "SOLUSDT",
            direction="up",
            from_band="stretched",
            to_band="stressed",
            score=64,
            bias="SHORT",
            regime="Short ramp",
        ),
        Alert(
            "DOGEUSDT",
            kind="squeeze",
            direction="enter",
            from_band=None,
            to_band=None,
            score=52,
            regime="Long squeeze risk",
            from_regime="Net long bias building",
            to_regime="Long squeeze risk",
        ),
    ]
    await add_deliveries(sessions, cycle, [21, 22], alerts)
    await start(settings)
    for chat in (21, 22):
        [msg] = await fake_tg.wait_for_messages(chat, 1)
        assert msg.visible.startswith("3 alerts from the latest scan")
    print("\n--- digest ---\n" + msg.visible)
    assert (
        msg.visible.index("SOLUSDT") < msg.visible.index("DOGEUSDT") < msg.visible.index("BTCUSDT")
    )
    assert "⚠️ DOGEUSDT · Longs pay, OI building: risk either way · score 52" in msg.visible
    assert "🔻" not in msg.visible
    done = await wait_settled(sessions)
    assert {s for s, _, _ in done.values()} == {"sent"} and len(done) == 6
    assert len(fake_tg.sent) == 2


async def test_notify_wakes_the_outbox_worker(start, settings, sessions, fake_tg: FakeTelegram):
    # Without the notify the next look would be an hour away: the push arriving at all
    # (within the helpers' bound) is the proof, with no timing window.
    runtime = await start(settings, poll_interval=3600)
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [31], [BTC_UP])
    runtime.notify()
    await fake_tg.wait_for_messages(31, 1)


async def test_forbidden_deactivates_chat_and_drops_its_pending(
    start, settings, sessions, fake_tg: FakeTelegram
):
    c1 = await empty_cycle(sessions)
    c2 = await empty_cycle(sessions)
    await add_deliveries(sessions, c1, [41, 42], [BTC_UP])
    await add_deliveries(sessions, c2, [41], [Alert("ETHUSDT")])
    fake_tg.fail("403", chat_id=41, times=10)
    await start(settings)
    await fake_tg.wait_for_messages(42, 1)
    done = await wait_settled(sessions)
    by_chat = {}
    async with sessions() as s:
        for d in (await s.scalars(select(Delivery))).all():
            by_chat.setdefault(d.chat_id, set()).add((d.status, d.reason))
        chat = await s.get(Chat, 41)
    assert by_chat[42] == {("sent", None)}
    assert {status for status, _ in by_chat[41]} == {"dropped"}
    assert all("blocked" in (reason or "") for _, reason in by_chat[41])
    assert chat is not None and not chat.active and "blocked" in (chat.deactivated_reason or "")
    assert fake_tg.messages_to(41) == [] and len(done) == 3


async def test_chat_not_found_deactivates_too(start, settings, sessions, fake_tg: FakeTelegram):
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [-51], [BTC_UP])
    fake_tg.fail("400", chat_id=-51)
    await start(settings)
    done = await wait_settled(sessions)
    assert [(s, r) for s, r, _ in done.values()] == [("dropped", "BadRequest: Chat not found")]
    async with sessions() as s:
        assert not (await s.get(Chat, -51)).active  # type: ignore[union-attr]


async def test_retry_after_is_honoured_and_nothing_lost(
    start, settings, sessions, fake_tg: FakeTelegram
):
    cycle = await empty_cycle(sessions)
    chats = list(range(100, 110))
    await add_deliveries(sessions, cycle, chats, [BTC_UP])
    fake_tg.fail("429", times=2, retry_after=1)
    runtime = await start(settings)
    t0 = time.monotonic()
    for chat in chats:
        await fake_tg.wait_for_messages(chat, 1)
    done = await wait_settled(sessions)
    assert {s for s, _, _ in done.values()} == {"sent"}
    assert {a for _, _, a in done.values()} == {1}  # a flood wait is not a failed attempt
    assert fake_tg.injected["429"] == 2 and fake_tg.flood_429s == 0
    assert runtime.deps.sender.stats.retry_after == 2
    assert time.monotonic() - t0 >= 1.0  # waited as told
    assert sorted(m.chat_id for m in fake_tg.sent) == chats  # each exactly once


async def test_migration_rewrites_the_chat_id_and_retries(
    start, settings, sessions, fake_tg: FakeTelegram
):
    old, new = -61, -1000000000061
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [old], [BTC_UP])
    async with sessions() as s, s.begin():
        s.add(
            Subscription(
                chat_id=old, exchange="binance", symbol="BTCUSDT", kind="bands", created_ms=0
            )
        )
    fake_tg.fail("migrate", chat_id=old, migrate_to=new)
    await start(settings)
    [msg] = await fake_tg.wait_for_messages(new, 1)
    assert "BTCUSDT" in msg.visible
    done = await wait_settled(sessions)
    assert [s for s, _, _ in done.values()] == ["sent"]
    async with sessions() as s:
        assert await s.get(Chat, old) is None
        assert (await s.get(Chat, new)).type == "supergroup"  # type: ignore[union-attr]
        assert (await s.scalars(select(Delivery.chat_id))).all() == [new]
        assert (await s.scalars(select(Subscription.chat_id))).all() == [new]


async def test_network_errors_back_off_then_succeed(
    start, settings, sessions, fake_tg: FakeTelegram
):
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [71], [BTC_UP])
    fake_tg.fail("5xx", chat_id=71, times=2)
    await start(settings, backoff_base=0.05)
    await fake_tg.wait_for_messages(71, 1)
    done = await wait_settled(sessions)
    assert list(done.values()) == [("sent", None, 3)]


async def test_network_errors_never_exhaust_a_delivery(
    start, make_settings, sessions, fake_tg: FakeTelegram
):
    """5xx is transient: more failures than max_send_attempts, and it still arrives."""
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [72], [BTC_UP])
    fake_tg.fail("5xx", chat_id=72, times=6)
    await start(make_settings(max_send_attempts=3), backoff_base=0.02, backoff_max=0.1)
    [msg] = await fake_tg.wait_for_messages(72, 1)
    done = await wait_settled(sessions)
    assert [(s, a) for s, _, a in done.values()] == [("sent", 7)]
    assert fake_tg.injected["5xx"] == 6 and "BTCUSDT" in msg.visible


async def test_unexpected_errors_are_bounded_then_failed(
    start, make_settings, sessions, fake_tg: FakeTelegram
):
    """max_send_attempts still bounds errors that are not network trouble (a revoked
    token answers 401 to every send)."""
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [72], [BTC_UP])
    fake_tg.fail("401", chat_id=72, times=100)
    await start(make_settings(max_send_attempts=3), backoff_base=0.05)
    done = await wait_settled(sessions)
    assert [(s, a) for s, _, a in done.values()] == [("failed", 3)]
    async with sessions() as s:
        error = (await s.scalars(select(Delivery.last_error))).one()
    assert "Unauthorized" in error
    assert fake_tg.injected["401"] == 3


async def test_other_bad_request_fails_without_retrying(
    start, settings, sessions, fake_tg: FakeTelegram
):
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [73], [BTC_UP])
    # "message is too long" and "can't parse entities" have fallbacks
    # (tests/telegram/test_tg_send_fallbacks.py); this one has none.
    fake_tg.fail("400", chat_id=73, description="Bad Request: message text is empty")
    await start(settings)
    done = await wait_settled(sessions)
    assert [(s, a) for s, _, a in done.values()] == [("failed", 1)]
    async with sessions() as s:
        assert (await s.get(Chat, 73)).active  # type: ignore[union-attr]


async def test_muted_chat_is_suppressed_at_send_time(
    start, settings, sessions, fake_tg: FakeTelegram
):
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [74], [BTC_UP])
    async with sessions() as s, s.begin():
        (await s.get(Chat, 74)).muted_until_ms = int(time.time() * 1000) + 3_600_000  # type: ignore[union-attr]
    await start(settings)
    done = await wait_settled(sessions)
    assert [(s, r) for s, r, _ in done.values()] == [("suppressed", "muted")]
    assert fake_tg.sent == []


async def test_flood_limits_hold_under_load(start, settings, sessions, fake_tg: FakeTelegram):
    """70 private chats, 5 cycles to one of them, 3 cycles to a group: no 429 at all."""
    chats = list(range(1000, 1070))
    for _ in range(5):
        cycle = await empty_cycle(sessions)
        await add_deliveries(sessions, cycle, [999], [BTC_UP])
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, chats, [BTC_UP])
    for _ in range(3):
        cycle = await empty_cycle(sessions)
        await add_deliveries(sessions, cycle, [-888], [BTC_UP])
    await start(settings)
    await wait_settled(sessions)
    assert fake_tg.flood_429s == 0 and fake_tg.rejected == []
    assert len(fake_tg.sent) == 70 + 5 + 3
    times = [m.ts for m in fake_tg.messages_to(999)]
    assert times[-1] - times[0] >= 1.9  # burst of 3, then about 1/s


async def test_restart_resends_what_a_crashed_run_had_claimed(
    start, settings, sessions, fake_tg: FakeTelegram
):
    cycle = await empty_cycle(sessions)
    await add_deliveries(sessions, cycle, [81, 82, 83], [BTC_UP])
    async with sessions() as s, s.begin():  # a dead process claimed them, sent nothing
        claimed = await outbox_repo.claim_due(
            s, int(time.time() * 1000), max_groups=10, lease_ms=600_000
        )
    assert len(claimed) == 3
    await start(settings)
    for chat in (81, 82, 83):
        await fake_tg.wait_for_messages(chat, 1)
    done = await wait_settled(sessions)
    assert {s for s, _, _ in done.values()} == {"sent"} and len(fake_tg.sent) == 3


async def test_stop_is_prompt_and_loses_nothing(start, settings, sessions, fake_tg: FakeTelegram):
    for _ in range(6):  # six messages to one private chat: paced over several seconds
        cycle = await empty_cycle(sessions)
        await add_deliveries(sessions, cycle, [91], [BTC_UP])
    runtime = await start(settings)
    await fake_tg.wait_for_messages(91, 1)
    await runtime.stop()
    # Prompt: sends still waiting for the chat's pace were aborted, not waited out.
    assert len(fake_tg.messages_to(91)) < 6
    current = await statuses(sessions)
    sent = [d for d, (s, _, _) in current.items() if s == "sent"]
    pending = [d for d, (s, r, _) in current.items() if s == "pending"]
    assert len(sent) == len(fake_tg.messages_to(91)) and len(sent) + len(pending) == 6
    assert all(current[d][1] is None for d in pending)  # claims released for the next run
    assert all(current[d][2] == 0 for d in pending)  # never attempted
    runtime = await start(settings)
    await fake_tg.wait_for_messages(91, 6)
    done = await wait_settled(sessions)
    assert {s for s, _, _ in done.values()} == {"sent"} and len(fake_tg.messages_to(91)) == 6
