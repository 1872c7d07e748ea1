"""AlertEngine.in_cycle_transaction on a real database: SQLite always, PostgreSQL when set.

Each cycle runs in its own transaction, as the scorer does: add the Cycle row, call the
hook, commit.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle.alert_hook import AlertEngine
from bot.scoring.formula import Regime
from bot.storage import alert_repo
from bot.storage.market_repo import count_rows
from bot.storage.models import AlertEvent, AlertState, Delivery
from tests.alerts.helpers import EXCHANGE, MIN, T0, add_chat, add_cycle, add_sub

Sessions = async_sessionmaker[AsyncSession]
LSQ = Regime.LONG_SQUEEZE


# These tests pin the mechanics with explicit settings (the design's original stretched
# / 30 min), so recalibrating the shipped defaults does not rewrite them.
MECHANICS = Settings(
    alerts={  # type: ignore[arg-type]
        "default_min_band": "stretched",
        "cooldown_minutes": 30,
        "default_kinds": ("bands", "squeeze"),
    },
    exchange={"venues": ["binance"]},  # type: ignore[arg-type]
)


async def run_cycle(
    sessions: Sessions,
    engine: AlertEngine,
    minute: int,
    scores: dict[str, int | tuple[int, Regime]],
    **kw: object,
) -> tuple[int, int]:
    """One committed cycle at T0 + minute; returns (cycle id, events created)."""
    async with sessions() as session, session.begin():
        cycle = await add_cycle(session, T0 + minute * MIN, scores, **kw)  # type: ignore[arg-type]
        created = await engine.in_cycle_transaction(session, cycle)
    return cycle.cycle_id, created


async def deliveries(sessions: Sessions, cycle_id: int | None = None) -> list[tuple]:
    async with sessions() as session:
        stmt = select(
            Delivery.chat_id, AlertEvent.symbol, AlertEvent.kind, Delivery.status, Delivery.reason
        ).join(AlertEvent, AlertEvent.id == Delivery.event_id)
        if cycle_id is not None:
            stmt = stmt.where(Delivery.cycle_id == cycle_id)
        rows = (await session.execute(stmt.order_by(Delivery.id))).all()
    return [tuple(r) for r in rows]


async def setup_chats(sessions: Sessions, *chats: tuple[int, dict, list[tuple]]) -> None:
    async with sessions() as session, session.begin():
        for chat_id, prefs, subs in chats:
            await add_chat(session, chat_id, **prefs)
            for sub in subs:
                await add_sub(session, chat_id, *sub)


@pytest.fixture
def engine() -> AlertEngine:
    return AlertEngine(MECHANICS)


async def test_first_sighting_is_silent_and_a_crossing_is_delivered(
    sessions: Sessions, engine: AlertEngine
) -> None:
    await setup_chats(sessions, (1, {}, [("BTCUSDT", "bands")]))
    _, created = await run_cycle(sessions, engine, 0, {"BTCUSDT": 20, "ETHUSDT": 70})
    assert created == 0
    async with sessions() as session:
        states, _ = await alert_repo.load_states(session, EXCHANGE)
    assert {s: st.band.value for s, st in states.items()} == {
        "BTCUSDT": "lean",
        "ETHUSDT": "stressed",
    }

    cycle_id, created = await run_cycle(sessions, engine, 5, {"BTCUSDT": 72, "ETHUSDT": 72})
    assert created == 1
    assert await deliveries(sessions, cycle_id) == [(1, "BTCUSDT", "band", "pending", None)]
    async with sessions() as session:
        [row] = await alert_repo.cycle_deliveries(session, cycle_id)
    assert (row.created_ms, row.next_attempt_ms, row.attempts) == (T0 + 5 * MIN,) * 2 + (0,)


async def test_partial_cycle_emits_nothing_and_keeps_state(
    sessions: Sessions, engine: AlertEngine
) -> None:
    await setup_chats(sessions, (1, {}, [("BTCUSDT", "bands")]))
    await run_cycle(sessions, engine, 0, {"BTCUSDT": 20})
    # 1 of 2 symbols fetched: 50% < 80%.
    _, created = await run_cycle(
        sessions, engine, 5, {"BTCUSDT": 72}, failed={"ETHUSDT": "timeout"}
    )
    assert created == 0
    async with sessions() as session:
        states, _ = await alert_repo.load_states(session, EXCHANGE)
    assert states["BTCUSDT"].band.value == "lean" and states["BTCUSDT"].last_cycle_id == 1
    assert await count_rows_of(sessions, AlertEvent) == 0
    # The next good cycle compares against the last trustworthy state.
    _, created = await run_cycle(sessions, engine, 10, {"BTCUSDT": 72})
    assert created == 1


async def test_failed_symbols_keep_their_state(sessions: Sessions, engine: AlertEngine) -> None:
    symbols = {f"S{i}USDT": 20 for i in range(10)}
    await run_cycle(sessions, engine, 0, symbols)
    # 9 of 10 fetched (90% >= 80%): the failed one is not touched.
    moved = {s: 72 for s in list(symbols)[1:]}
    _, created = await run_cycle(sessions, engine, 5, moved, failed={"S0USDT": "Invalid symbol."})
    assert created == 9
    async with sessions() as session:
        states, _ = await alert_repo.load_states(session, EXCHANGE)
    assert (states["S0USDT"].band.value, states["S0USDT"].last_cycle_id) == ("lean", 1)
    assert states["S1USDT"].band.value == "stressed"


async def test_replaying_a_cycle_creates_nothing_new(
    sessions: Sessions, engine: AlertEngine
) -> None:
    await setup_chats(sessions, (1, {}, [("BTCUSDT", "bands"), ("BTCUSDT", "squeeze")]))
    await run_cycle(sessions, engine, 0, {"BTCUSDT": 20})
    async with sessions() as session, session.begin():
        cycle = await add_cycle(session, T0 + 5 * MIN, {"BTCUSDT": (72, LSQ)})
        assert await engine.in_cycle_transaction(session, cycle) == 2
    before = await deliveries(sessions)
    assert len(before) == 2
    for _ in range(3):  # the scorer (or an operator) re-runs the same cycle
        async with sessions() as session, session.begin():
            assert await engine.in_cycle_transaction(session, cycle) == 0
    assert await deliveries(sessions) == before
    assert await count_rows_of(sessions, AlertEvent) == 2


async def test_replay_with_lost_state_still_does_not_duplicate(
    sessions: Sessions, engine: AlertEngine
) -> None:
    """Even if the state row were rolled back separately, the unique keys hold."""
    await setup_chats(sessions, (1, {}, [("BTCUSDT", "bands")]))
    await run_cycle(sessions, engine, 0, {"BTCUSDT": 20})
    async with sessions() as session, session.begin():
        cycle = await add_cycle(session, T0 + 5 * MIN, {"BTCUSDT": 72})
        assert await engine.in_cycle_transaction(session, cycle) == 1
    async with sessions() as session, session.begin():
        await session.execute(update(AlertState).values(band="lean", last_cycle_id=1))
    async with sessions() as session, session.begin():
        assert await engine.in_cycle_transaction(session, cycle) == 0
    assert len(await deliveries(sessions)) == 1


async def test_squeeze_entry_and_exit(sessions: Sessions, engine: AlertEngine) -> None:
    await setup_chats(
        sessions,
        (1, {}, [("BTCUSDT", "squeeze")]),
        (2, {}, [("*", "squeeze")]),
        (3, {}, [("BTCUSDT", "bands")]),
    )
    await run_cycle(sessions, engine, 0, {"BTCUSDT": 40})
    c_enter, n = await run_cycle(sessions, engine, 5, {"BTCUSDT": (40, LSQ)})
    assert n == 1
    assert await deliveries(sessions, c_enter) == [
        (1, "BTCUSDT", "squeeze", "pending", None),
        (2, "BTCUSDT", "squeeze", "pending", None),
    ]
    await run_cycle(sessions, engine, 60, {"BTCUSDT": 40})  # one cycle out: not yet
    c_exit, n = await run_cycle(sessions, engine, 65, {"BTCUSDT": 40})
    assert n == 1
    # Exit goes to the per-symbol squeeze subscriber only.
    assert await deliveries(sessions, c_exit) == [(1, "BTCUSDT", "squeeze", "pending", None)]


async def test_cooldown_across_cycles(sessions: Sessions, engine: AlertEngine) -> None:
    """The cooldown (30 min here) holds back repeats of the last delivered direction;
    a reversal always goes out (tests/alerts/test_alert_semantics.py has more)."""
    await setup_chats(sessions, (1, {"min_band": "lean"}, [("BTCUSDT", "bands")]))
    await run_cycle(sessions, engine, 0, {"BTCUSDT": 20})
    c1, _ = await run_cycle(sessions, engine, 5, {"BTCUSDT": 40})  # lean -> stretched
    c2, _ = await run_cycle(sessions, engine, 10, {"BTCUSDT": 72})  # up again: a repeat
    c3, _ = await run_cycle(sessions, engine, 20, {"BTCUSDT": 40})  # down: a reversal
    c4, _ = await run_cycle(sessions, engine, 25, {"BTCUSDT": 20})  # down again: a repeat
    c5, _ = await run_cycle(sessions, engine, 55, {"BTCUSDT": 5})  # 35 min after c3
    got = [await deliveries(sessions, c) for c in (c1, c2, c3, c4, c5)]
    assert [[(s, r) for *_, s, r in rows] for rows in got] == [
        [("pending", None)],
        [("suppressed", "cooldown")],
        [("pending", None)],
        [("suppressed", "cooldown")],
        [("pending", None)],  # suppressed rows do not extend the cooldown
    ]


async def test_failed_deliveries_do_not_start_a_cooldown(
    sessions: Sessions, engine: AlertEngine
) -> None:
    await setup_chats(sessions, (1, {}, [("BTCUSDT", "bands")]))
    await run_cycle(sessions, engine, 0, {"BTCUSDT": 20})
    await run_cycle(sessions, engine, 5, {"BTCUSDT": 72})
    async with sessions() as session, session.begin():
        await session.execute(update(Delivery).values(status="failed"))
    c2, _ = await run_cycle(sessions, engine, 10, {"BTCUSDT": 40})
    assert [s for *_, s, _ in await deliveries(sessions, c2)] == ["pending"]


async def test_who_receives_a_cycle(sessions: Sessions, engine: AlertEngine) -> None:
    await setup_chats(
        sessions,
        (1, {}, [("BTCUSDT", "bands"), ("*", "bands")]),  # dedupe: one row per event
        (2, {"direction": "up"}, [("BTCUSDT", "bands"), ("ETHUSDT", "bands")]),
        (3, {"active": False}, [("BTCUSDT", "bands")]),
        (4, {"quiet_start_min": 23 * 60, "quiet_end_min": 60}, [("BTCUSDT", "bands")]),
        (5, {"muted_until_ms": T0 + 999 * MIN}, [("*", "bands")]),
        (6, {"min_band": "lean"}, [("SOLUSDT", "bands")]),
        (7, {}, [("SOLUSDT", "bands")]),
    )
    await run_cycle(sessions, engine, -10, {"BTCUSDT": 20, "ETHUSDT": 70, "SOLUSDT": 5})
    # At 00:00 UTC: BTC lean -> stressed, ETH stressed -> lean, SOL neutral -> lean.
    c, n = await run_cycle(sessions, engine, 0, {"BTCUSDT": 72, "ETHUSDT": 20, "SOLUSDT": 25})
    assert n == 3
    assert sorted(await deliveries(sessions, c)) == [
        (1, "BTCUSDT", "band", "pending", None),
        (2, "BTCUSDT", "band", "pending", None),
        (4, "BTCUSDT", "band", "suppressed", "quiet_hours"),
        (5, "BTCUSDT", "band", "suppressed", "muted"),
        (6, "SOLUSDT", "band", "pending", None),
    ]


async def test_a_digest_is_one_chat_and_one_cycle(sessions: Sessions, engine: AlertEngine) -> None:
    await setup_chats(sessions, (1, {}, [("*", "bands"), ("*", "squeeze")]))
    await run_cycle(sessions, engine, 0, {"AUSDT": 20, "BUSDT": 20})
    c, n = await run_cycle(sessions, engine, 5, {"AUSDT": (72, LSQ), "BUSDT": 72})
    assert n == 3
    async with sessions() as session:
        rows = await alert_repo.cycle_deliveries(session, c)
    assert {(r.chat_id, r.cycle_id) for r in rows} == {(1, c)} and len(rows) == 3


async def test_headless_log_lines(sessions: Sessions, caplog: pytest.LogCaptureFixture) -> None:
    engine = AlertEngine(MECHANICS, log_events=True)
    await run_cycle(sessions, engine, 0, {"AUSDT": 20, "BUSDT": 40, "CUSDT": 5})
    with caplog.at_level(logging.INFO, logger="bot.alerts"):
        await run_cycle(sessions, engine, 5, {"AUSDT": 72, "BUSDT": (40, LSQ), "CUSDT": 20})
        await run_cycle(sessions, engine, 10, {"AUSDT": 72, "BUSDT": 40, "CUSDT": 20})
        await run_cycle(sessions, engine, 15, {"AUSDT": 72, "BUSDT": 40, "CUSDT": 20})
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.alerts"]
    # neutral -> lean (CUSDT) is below the default subscriber's stretched: not logged.
    assert lines == [
        "ALERT AUSDT lean -> stressed score 72 LONG Net long bias building",
        "ALERT BUSDT squeeze enter Long squeeze risk score 40 LONG",
        "ALERT BUSDT squeeze exit Long squeeze risk score 40 LONG",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "bot.alerts")


async def test_headless_log_follows_the_default_kinds(
    sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    # Shipped default: band changes only; squeeze alerts are opt-in (alerts.default_kinds).
    settings = MECHANICS.model_copy(
        update={"alerts": MECHANICS.alerts.model_copy(update={"default_kinds": ("bands",)})}
    )
    engine = AlertEngine(settings, log_events=True)
    await run_cycle(sessions, engine, 0, {"AUSDT": 20, "BUSDT": 40})
    with caplog.at_level(logging.INFO, logger="bot.alerts"):
        await run_cycle(sessions, engine, 5, {"AUSDT": 72, "BUSDT": (40, LSQ)})
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.alerts"]
    assert lines == ["ALERT AUSDT lean -> stressed score 72 LONG Net long bias building"]


async def test_without_log_events_nothing_is_logged(
    sessions: Sessions, engine: AlertEngine, caplog: pytest.LogCaptureFixture
) -> None:
    await run_cycle(sessions, engine, 0, {"AUSDT": 20})
    with caplog.at_level(logging.INFO, logger="bot.alerts"):
        assert (await run_cycle(sessions, engine, 5, {"AUSDT": 72}))[1] == 1
    assert [r for r in caplog.records if r.name == "bot.alerts"] == []


async def count_rows_of(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return await count_rows(session, model)


async def test_insert_ignore_many_any_column_order(sessions: Sessions, engine: AlertEngine) -> None:
    await setup_chats(sessions, (1, {}, []), (2, {}, []))
    await run_cycle(sessions, engine, 0, {"AUSDT": 20})
    await run_cycle(sessions, engine, 5, {"AUSDT": 72})
    async with sessions() as session:
        event_id = await session.scalar(select(AlertEvent.id))
    cols = ("next_attempt_ms", "status", "created_ms", "chat_id", "cycle_id", "event_id")
    rows = [(T0, "pending", T0, chat, 2, event_id) for chat in (1, 2, 1)]  # one duplicate
    for _ in range(2):
        async with sessions() as session, session.begin():
            await alert_repo.insert_ignore_many(session, Delivery, cols, rows)
    assert sorted(await deliveries(sessions)) == [
        (1, "AUSDT", "band", "pending", None),
        (2, "AUSDT", "band", "pending", None),
    ]


async def test_unreadable_state_is_reinitialised(sessions: Sessions, engine: AlertEngine) -> None:
    await run_cycle(sessions, engine, 0, {"AUSDT": 20, "BUSDT": 20})
    async with sessions() as session, session.begin():
        await session.execute(
            update(AlertState).where(AlertState.symbol == "AUSDT").values(regime="Renamed")
        )
    _, n = await run_cycle(sessions, engine, 5, {"AUSDT": 72, "BUSDT": 72})
    assert n == 1  # BUSDT alerts; AUSDT starts over silently instead of failing the cycle
    async with sessions() as session:
        states, _ = await alert_repo.load_states(session, EXCHANGE)
    assert states["AUSDT"].regime is Regime.NET_LONG and states["AUSDT"].band.value == "stressed"
