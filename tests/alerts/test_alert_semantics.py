"""What a chat is told, over many cycles: cooldown vs reversal, quiet hours in the chat's
time zone, the catch-up after held alerts, and the daily cap (docs/alerts.md).

AlertEngine.in_cycle_transaction on a real database (SQLite, and PostgreSQL when configured); each
cycle is its own committed transaction, as the scorer runs it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle.alert_hook import AlertEngine
from bot.scoring.formula import Regime
from bot.storage import outbox_repo
from bot.storage.models import AlertEvent, Chat, Delivery
from tests.alerts.helpers import MIN, T0, add_chat, add_cycle, add_sub

Sessions = async_sessionmaker[AsyncSession]
LSQ = Regime.LONG_SQUEEZE
NET = Regime.NET_LONG


async def run_cycle(
    sessions: Sessions, engine: AlertEngine, minute: int, scores: dict[str, Any]
) -> int:
    async with sessions() as session, session.begin():
        cycle = await add_cycle(session, T0 + minute * MIN, scores)
        await engine.in_cycle_transaction(session, cycle)
    return cycle.cycle_id


async def rows(sessions: Sessions, cycle_id: int, chat_id: int | None = None) -> list[tuple]:
    """(chat, symbol, what, status, reason) per delivery of one cycle; `what` is the event
    for an alert ("band up"), "now <band> <regime>" for a catch-up, "held" for a cap note."""
    async with sessions() as session:
        stmt = (
            select(Delivery, AlertEvent)
            .join(AlertEvent, AlertEvent.id == Delivery.event_id)
            .where(Delivery.cycle_id == cycle_id)
            .order_by(Delivery.chat_id, AlertEvent.symbol)
        )
        if chat_id is not None:
            stmt = stmt.where(Delivery.chat_id == chat_id)
        found = (await session.execute(stmt)).all()
    out = []
    for d, e in found:
        if d.kind == "catchup":
            what = f"now {e.to_band} {e.to_regime}"
        elif d.kind == "cap_note":
            what = "held"
        else:
            what = f"{e.kind} {e.direction}"
        out.append((d.chat_id, e.symbol, what, d.status, d.reason))
    return out


async def setup(sessions: Sessions, chat_id: int, subs: list[tuple[str, str]], **prefs: Any):
    async with sessions() as session, session.begin():
        await add_chat(session, chat_id, **prefs)
        for symbol, kind in subs:
            await add_sub(session, chat_id, symbol, kind)


async def held_since(sessions: Sessions, chat_id: int) -> int | None:
    async with sessions() as session:
        return await session.scalar(select(Chat.held_since_ms).where(Chat.id == chat_id))


# ---------------------------------------------------------------- 23: cooldown vs reversal


async def test_a_reversal_is_never_cooled_down(sessions: Sessions) -> None:
    """Shipped defaults (cooldown 240 min). The issue's case: squeeze over at +245 min,
    re-entry at +270; and a band up then down within 4 h. Each reversal reaches the
    chat, so its last message always matches the state."""
    engine = AlertEngine(Settings())
    await setup(sessions, 1, [("BTCUSDT", "bands"), ("BTCUSDT", "squeeze")])
    await run_cycle(sessions, engine, 0, {"BTCUSDT": 20})
    up = await run_cycle(sessions, engine, 5, {"BTCUSDT": 72})
    down = await run_cycle(sessions, engine, 60, {"BTCUSDT": 40})
    again = await run_cycle(sessions, engine, 90, {"BTCUSDT": 72})
    assert await rows(sessions, up) == [(1, "BTCUSDT", "band up", "pending", None)]
    assert await rows(sessions, down) == [(1, "BTCUSDT", "band down", "pending", None)]
    assert await rows(sessions, again) == [(1, "BTCUSDT", "band up", "pending", None)]

    enter = await run_cycle(sessions, engine, 120, {"BTCUSDT": (72, LSQ)})
    await run_cycle(sessions, engine, 360, {"BTCUSDT": (72, NET)})
    over = await run_cycle(sessions, engine, 365, {"BTCUSDT": (72, NET)})  # +245 min
    back = await run_cycle(sessions, engine, 390, {"BTCUSDT": (72, LSQ)})  # +270 min
    assert await rows(sessions, enter) == [(1, "BTCUSDT", "squeeze enter", "pending", None)]
    assert await rows(sessions, over) == [(1, "BTCUSDT", "squeeze exit", "pending", None)]
    assert await rows(sessions, back) == [(1, "BTCUSDT", "squeeze enter", "pending", None)]


async def test_a_repeat_is_still_cooled_down(sessions: Sessions) -> None:
    engine = AlertEngine(Settings(alerts={"default_min_band": "lean"}))  # type: ignore[arg-type]
    await setup(sessions, 1, [("BTCUSDT", "bands")])
    await run_cycle(sessions, engine, 0, {"BTCUSDT": 20})
    first = await run_cycle(sessions, engine, 5, {"BTCUSDT": 40})
    repeat = await run_cycle(sessions, engine, 10, {"BTCUSDT": 72})
    assert await rows(sessions, first) == [(1, "BTCUSDT", "band up", "pending", None)]
    assert await rows(sessions, repeat) == [(1, "BTCUSDT", "band up", "suppressed", "cooldown")]


# ---------------------------------------------------------------- 24: time zone, catch-up

QUIET_BERLIN = {"tz": "Europe/Berlin", "quiet_start_min": 22 * 60, "quiet_end_min": 7 * 60}
MECHANICS = Settings(alerts={"default_min_band": "stretched", "cooldown_minutes": 30})  # type: ignore[arg-type]


async def quiet_night(sessions: Sessions, engine: AlertEngine) -> None:
    """01:00-01:10 in Berlin (00:00-00:10 UTC): BTC rises to stressed, ETH rises and
    falls back, SOL enters a squeeze. Both chats are in quiet hours."""
    await setup(
        sessions,
        1,
        [("BTCUSDT", "bands"), ("ETHUSDT", "bands"), ("SOLUSDT", "squeeze")],
        **QUIET_BERLIN,
    )
    await setup(sessions, 2, [("ETHUSDT", "bands")], **QUIET_BERLIN)
    await run_cycle(sessions, engine, 0, {"BTCUSDT": 20, "ETHUSDT": 40, "SOLUSDT": 40})
    night = await run_cycle(
        sessions, engine, 5, {"BTCUSDT": 72, "ETHUSDT": 72, "SOLUSDT": (40, LSQ)}
    )
    assert {r[3:] for r in await rows(sessions, night)} == {("suppressed", "quiet_hours")}
    await run_cycle(sessions, engine, 10, {"BTCUSDT": 72, "ETHUSDT": 40, "SOLUSDT": (40, LSQ)})


CALM = {"BTCUSDT": 72, "ETHUSDT": 40, "SOLUSDT": (40, LSQ)}


async def test_quiet_hours_end_in_the_chats_time_zone_with_one_catch_up(
    sessions: Sessions,
) -> None:
    engine = AlertEngine(MECHANICS)
    await quiet_night(sessions, engine)
    # 06:55 in Berlin: still quiet, nothing goes out.
    assert await rows(sessions, await run_cycle(sessions, engine, 355, CALM)) == []
    # 07:05 in Berlin (06:05 UTC, still inside 22-07 in UTC): quiet is over. One
    # catch-up, the state now of what changed; ETH went up and back: no news.
    woke = await run_cycle(sessions, engine, 365, CALM)
    assert await rows(sessions, woke) == [
        (1, "BTCUSDT", "now stressed Net long bias building", "pending", None),
        (1, "SOLUSDT", "now stretched Long squeeze risk", "pending", None),
    ]
    assert await held_since(sessions, 1) is None and await held_since(sessions, 2) is None
    # Exactly once: neither a later cycle nor the scorer re-running this one repeats it.
    assert await rows(sessions, await run_cycle(sessions, engine, 370, CALM)) == []
    async with sessions() as session, session.begin():
        again = await add_cycle(session, T0 + 365 * MIN, CALM)
        again.cycle_id = woke
        await engine.in_cycle_transaction(session, again)
    assert len(await rows(sessions, woke)) == 2


async def test_a_catch_up_lost_with_its_cycle_comes_with_the_next(sessions: Sessions) -> None:
    """The catch-up and the cleared marker commit with the cycle: a crash before the
    commit loses neither, a commit never leaves one to repeat."""
    engine = AlertEngine(MECHANICS)
    await quiet_night(sessions, engine)

    class Crash(Exception):
        pass

    with pytest.raises(Crash):
        async with sessions() as session, session.begin():
            await engine.in_cycle_transaction(
                session, await add_cycle(session, T0 + 365 * MIN, CALM)
            )
            raise Crash
    assert await held_since(sessions, 1) == T0 + 5 * MIN
    woke = await run_cycle(sessions, engine, 370, CALM)
    assert [r[1] for r in await rows(sessions, woke)] == ["BTCUSDT", "SOLUSDT"]


async def test_mute_end_brings_a_catch_up(sessions: Sessions) -> None:
    engine = AlertEngine(MECHANICS)
    await setup(sessions, 1, [("BTCUSDT", "bands")], muted_until_ms=T0 + 60 * MIN)
    await run_cycle(sessions, engine, 0, {"BTCUSDT": 20})
    muted = await run_cycle(sessions, engine, 5, {"BTCUSDT": 72})
    assert await rows(sessions, muted) == [(1, "BTCUSDT", "band up", "suppressed", "muted")]
    assert await rows(sessions, await run_cycle(sessions, engine, 55, {"BTCUSDT": 72})) == []
    over = await run_cycle(sessions, engine, 60, {"BTCUSDT": 72})
    assert await rows(sessions, over) == [
        (1, "BTCUSDT", "now stressed Net long bias building", "pending", None)
    ]


async def test_muted_at_send_time_is_held_too(sessions: Sessions) -> None:
    """The outbox worker withholds a pending alert when the chat muted itself after the
    cycle; once unmuted, the next cycle catches the chat up."""
    engine = AlertEngine(MECHANICS)
    await setup(sessions, 1, [("BTCUSDT", "bands")])
    await run_cycle(sessions, engine, 0, {"BTCUSDT": 20})
    await run_cycle(sessions, engine, 5, {"BTCUSDT": 72})
    async with sessions() as session, session.begin():
        ids = list(await session.scalars(select(Delivery.id)))
        await outbox_repo.mark_suppressed(session, ids, "muted")
    assert await held_since(sessions, 1) == T0 + 5 * MIN
    later = await run_cycle(sessions, engine, 10, {"BTCUSDT": 72})
    assert await rows(sessions, later) == [
        (1, "BTCUSDT", "now stressed Net long bias building", "pending", None)
    ]


async def test_nothing_changed_means_no_catch_up(sessions: Sessions) -> None:
    engine = AlertEngine(MECHANICS)
    await quiet_night(sessions, engine)
    async with sessions() as session, session.begin():
        await session.execute(update(Chat).where(Chat.id == 1).values(active=False))
    woke = await run_cycle(sessions, engine, 365, CALM)
    assert await rows(sessions, woke) == []  # chat 2 only saw ETH go up and back
    assert await held_since(sessions, 2) is None


# ---------------------------------------------------------------- 25: daily cap


async def test_daily_cap_note_then_held_until_the_next_local_day(sessions: Sessions) -> None:
    engine = AlertEngine(
        Settings(alerts={"default_min_band": "stretched", "daily_cap": 2})  # type: ignore[arg-type]
    )
    symbols = ["AUSDT", "BUSDT", "CUSDT", "DUSDT", "EUSDT", "FUSDT"]
    await setup(sessions, 1, [(s, "bands") for s in symbols])
    scores = {s: 20 for s in symbols}
    await run_cycle(sessions, engine, 0, scores)

    async def rise(minute: int, *moving: str) -> int:
        scores.update({s: 72 for s in moving})
        return await run_cycle(sessions, engine, minute, scores)

    first, second = await rise(5, "AUSDT"), await rise(10, "BUSDT")
    note = await rise(15, "CUSDT", "DUSDT")
    held = await rise(20, "EUSDT")
    assert [r[3] for r in await rows(sessions, first) + await rows(sessions, second)] == [
        "pending"
    ] * 2
    assert await rows(sessions, note) == [
        (1, "CUSDT", "held", "pending", None),
        (1, "DUSDT", "held", "pending", None),
    ]
    assert await rows(sessions, held) == [(1, "EUSDT", "band up", "suppressed", "daily_cap")]
    assert await rows(sessions, await rise(23 * 60 + 55)) == []  # still the same day
    # 00:05 the next day: the held alerts come back as one catch-up, in the same message
    # (same cycle) as the new day's first alert.
    morning = await rise(24 * 60 + 5, "FUSDT")
    now = "now stressed Net long bias building"
    assert await rows(sessions, morning) == [
        (1, "CUSDT", now, "pending", None),
        (1, "DUSDT", now, "pending", None),
        (1, "EUSDT", now, "pending", None),
        (1, "FUSDT", "band up", "pending", None),
    ]


async def test_daily_cap_day_is_the_chats_local_day(sessions: Sessions) -> None:
    """23:05 UTC is already tomorrow in Berlin: a Berlin chat's day has restarted."""
    engine = AlertEngine(MECHANICS)
    symbols = ["AUSDT", "BUSDT", "CUSDT"]
    await setup(sessions, 1, [(s, "bands") for s in symbols], tz="Europe/Berlin", daily_cap=1)
    await setup(sessions, 2, [(s, "bands") for s in symbols], daily_cap=1)
    await run_cycle(sessions, engine, 12 * 60, {s: 20 for s in symbols})
    await run_cycle(sessions, engine, 12 * 60 + 5, {"AUSDT": 72, "BUSDT": 20, "CUSDT": 20})
    late = await run_cycle(sessions, engine, 23 * 60 + 5, {"AUSDT": 72, "BUSDT": 72, "CUSDT": 20})
    assert await rows(sessions, late) == [
        (1, "BUSDT", "band up", "pending", None),
        (2, "BUSDT", "held", "pending", None),
    ]
