"""Rules through the alert engine on a real database: enter/exit hysteresis, the owner's
mute/quiet hours/cooldown/daily cap, one digest with the band alerts, idempotent re-runs."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.rules.parser import parse_rule
from bot.config import Settings
from bot.cycle.alert_hook import AlertEngine
from bot.scoring.result import CycleResult
from bot.storage import rule_repo
from bot.storage.models import AlertEvent, Chat, Cycle, Delivery, RuleState
from tests.alerts.helpers import EXCHANGE, MIN, T0, add_chat, symbol_score

Sessions = async_sessionmaker[AsyncSession]
SETTINGS = Settings(
    alerts={"default_min_band": "stretched", "cooldown_minutes": 30},  # type: ignore[arg-type]
    exchange={"venues": ["binance"]},  # type: ignore[arg-type]
)
CHAT = 11


@pytest.fixture
def engine() -> AlertEngine:
    return AlertEngine(SETTINGS)


async def add_rule(sessions: Sessions, text: str, name: str = "hot", chat: int = CHAT) -> int:
    rule = parse_rule(text)
    async with sessions() as session, session.begin():
        if await session.get(Chat, chat) is None:
            await add_chat(session, chat)
        stored, problem = await rule_repo.add_rule(
            session,
            chat,
            name,
            EXCHANGE,
            rule.symbol,
            str(rule.condition),
            rule.for_cycles,
            T0,
            cap=20,
        )
    assert stored is not None, problem
    return stored.id


async def cycle(
    sessions: Sessions,
    engine: AlertEngine,
    minute: int,
    oi_4h: dict[str, float | None],
    *,
    score: int = 20,
    failed: dict[str, str] | None = None,
) -> tuple[int, int]:
    """One committed cycle; every symbol at `score`, with the given OI 4h."""
    async with sessions() as session, session.begin():
        ts = T0 + minute * MIN
        row = Cycle(
            exchange=EXCHANGE,
            started_ms=ts - 5000,
            finished_ms=ts,
            status="ok",
            symbols_attempted=len(oi_4h) + len(failed or {}),
            symbols_fetched=len(oi_4h),
            symbols_failed=len(failed or {}),
        )
        session.add(row)
        await session.flush()
        scores = [replace(symbol_score(s, score), oi_4h_pct=v) for s, v in oi_4h.items()]
        result = CycleResult(
            row.id,
            EXCHANGE,
            ts - 5000,
            ts,
            len(oi_4h) + len(failed or {}),
            scores=scores,
            failed=failed or {},
        )
        created = await engine.in_cycle_transaction(session, result)
    return row.id, created


async def rule_deliveries(sessions: Sessions) -> list[tuple]:
    async with sessions() as session:
        stmt = (
            select(
                Delivery.cycle_id,
                Delivery.chat_id,
                AlertEvent.symbol,
                AlertEvent.kind,
                Delivery.status,
                Delivery.reason,
                Delivery.kind,
            )
            .join(AlertEvent, AlertEvent.id == Delivery.event_id)
            .where(AlertEvent.rule_id.is_not(None))
            .order_by(Delivery.id)
        )
        return [tuple(r) for r in (await session.execute(stmt)).all()]


async def test_fires_after_its_cycles_once_until_it_exits(sessions: Sessions, engine: AlertEngine):
    rid = await add_rule(sessions, "oi_4h > 8 for 2 cycles on SOLUSDT")
    kind = f"rule:{rid}"
    await cycle(sessions, engine, 0, {"SOLUSDT": 9.0, "XRPUSDT": 9.0})
    assert await rule_deliveries(sessions) == []
    c2, created = await cycle(sessions, engine, 60, {"SOLUSDT": 9.0, "XRPUSDT": 9.0})
    assert created == 1
    assert await rule_deliveries(sessions) == [
        (c2, CHAT, "SOLUSDT", kind, "pending", None, "alert")
    ]
    # Still holding, one miss (not yet an exit), holding again: no new fire.
    for minute, oi in ((120, 9.0), (180, 1.0), (240, 9.0), (300, 1.0)):
        await cycle(sessions, engine, minute, {"SOLUSDT": oi})
    assert len(await rule_deliveries(sessions)) == 1
    # Two misses in a row: exited; two cycles holding again: it fires again (90 min
    # after the last push, past the 30 min cooldown).
    await cycle(sessions, engine, 330, {"SOLUSDT": 1.0})
    await cycle(sessions, engine, 360, {"SOLUSDT": 9.0})
    c_again, _ = await cycle(sessions, engine, 390, {"SOLUSDT": 9.0})
    assert (await rule_deliveries(sessions))[-1][:5] == (c_again, CHAT, "SOLUSDT", kind, "pending")


async def test_market_rule_fires_per_symbol_and_unknown_values_never_fire(
    sessions: Sessions, engine: AlertEngine
):
    await add_rule(sessions, "oi_4h > 8 or not (oi_4h > -100)")
    _, created = await cycle(sessions, engine, 0, {"AUSDT": 9.0, "BUSDT": 1.0, "CUSDT": None})
    assert created == 1
    assert [r[2] for r in await rule_deliveries(sessions)] == ["AUSDT"]


async def test_a_re_run_cycle_fires_nothing_twice(sessions: Sessions, engine: AlertEngine):
    await add_rule(sessions, "oi_4h > 8")
    await cycle(sessions, engine, 0, {"AUSDT": 9.0})
    async with sessions() as session, session.begin():
        row = (await session.scalars(select(Cycle))).one()
        scores = [replace(symbol_score("AUSDT", 20), oi_4h_pct=9.0)]
        again = CycleResult(row.id, EXCHANGE, row.started_ms, row.finished_ms, 1, scores=scores)
        assert await engine.in_cycle_transaction(session, again) == 0
    assert len(await rule_deliveries(sessions)) == 1


async def test_a_failed_symbol_keeps_its_place(sessions: Sessions, engine: AlertEngine):
    await add_rule(sessions, "oi_4h > 8 for 2 cycles")
    await cycle(sessions, engine, 0, {"AUSDT": 9.0, "BUSDT": 1.0})
    await cycle(sessions, engine, 60, {"BUSDT": 1.0}, failed={"AUSDT": "timeout"})
    await cycle(sessions, engine, 120, {"AUSDT": 9.0, "BUSDT": 1.0})
    assert [r[2] for r in await rule_deliveries(sessions)] == ["AUSDT"]


async def test_quiet_hours_hold_a_fire_and_it_fires_when_they_end(
    sessions: Sessions, engine: AlertEngine
):
    async with sessions() as session, session.begin():
        # 00:00-01:00 UTC quiet; T0 is midnight.
        await add_chat(session, CHAT, quiet_start_min=0, quiet_end_min=60)
    await add_rule(sessions, "oi_4h > 8 for 3 cycles")
    for minute in (0, 20, 40):
        await cycle(sessions, engine, minute, {"AUSDT": 9.0})
    assert [r[4:6] for r in await rule_deliveries(sessions)] == [("suppressed", "quiet_hours")]
    await cycle(sessions, engine, 50, {"AUSDT": 9.0})  # still quiet: held again
    c_after, _ = await cycle(sessions, engine, 65, {"AUSDT": 9.0})
    rows = await rule_deliveries(sessions)
    assert [r[4:6] for r in rows] == [("suppressed", "quiet_hours")] * 2 + [("pending", None)]
    assert rows[-1][0] == c_after


async def test_rule_and_band_alerts_share_the_daily_cap_and_the_digest(
    sessions: Sessions, engine: AlertEngine
):
    async with sessions() as session, session.begin():
        await add_chat(session, CHAT, daily_cap=1)
    await add_rule(sessions, "oi_4h > 8", name="a")
    c1, _ = await cycle(sessions, engine, 0, {"AUSDT": 9.0})
    await cycle(sessions, engine, 60, {"AUSDT": 1.0})
    await cycle(sessions, engine, 90, {"AUSDT": 1.0})
    c4, _ = await cycle(sessions, engine, 120, {"AUSDT": 9.0})
    rows = await rule_deliveries(sessions)
    assert [(r[0], r[4], r[6]) for r in rows] == [
        (c1, "pending", "alert"),
        (c4, "pending", "cap_note"),
    ]


async def test_removing_a_rule_drops_its_unsent_pushes_and_places(
    sessions: Sessions, engine: AlertEngine
):
    await add_rule(sessions, "oi_4h > 8")
    await cycle(sessions, engine, 0, {"AUSDT": 9.0})
    async with sessions() as session, session.begin():
        assert await rule_repo.remove_rule(session, CHAT, "hot") == 1
    assert await rule_deliveries(sessions) == []
    async with sessions() as session:
        assert (await session.scalars(select(RuleState))).all() == []
    await cycle(sessions, engine, 60, {"AUSDT": 9.0})
    assert await rule_deliveries(sessions) == []
