"""The built-in funding rules through the alert engine on a real database: a sign flip
is a change since the cycle before (`funding_8h_prev`, kept by the rule hook), and the
predicted next funding is read where the venue publishes it."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.rules.builtins import BUILTINS, BY_NAME, unavailable
from bot.alerts.rules.rows import row_values
from bot.cycle.alert_hook import AlertEngine
from bot.scoring.result import CycleResult
from bot.storage.models import Cycle
from tests.alerts.helpers import EXCHANGE, MIN, T0, symbol_score
from tests.cycle.test_rule_hook import SETTINGS, add_rule, rule_deliveries

Sessions = async_sessionmaker[AsyncSession]
FLIP = BY_NAME["funding-flip"].condition


async def funding_cycle(
    sessions: Sessions, engine: AlertEngine, minute: int, funding_8h: dict[str, float]
) -> int:
    async with sessions() as session, session.begin():
        ts = T0 + minute * MIN
        row = Cycle(
            exchange=EXCHANGE, started_ms=ts - 5000, finished_ms=ts, status="ok",
            symbols_attempted=len(funding_8h), symbols_fetched=len(funding_8h),
            symbols_failed=0,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        scores = []
        for symbol, f8 in funding_8h.items():
            s = symbol_score(symbol, 20)
            scores.append(replace(s, score=replace(s.score, funding_8h_pct=f8)))
        result = CycleResult(row.id, EXCHANGE, ts - 5000, ts, len(scores), scores=scores)
        await engine.in_cycle_transaction(session, result)
    return row.id


async def test_a_sign_flip_fires_on_the_cycle_it_happens_and_not_before(sessions: Sessions):
    engine = AlertEngine(SETTINGS)
    # The hook keeps funding from cycles before any rule exists, so a rule added later
    # compares with the cycle just before, not with a stale one.
    await funding_cycle(sessions, engine, 0, {"SOLUSDT": -0.02, "XRPUSDT": 0.01})
    await add_rule(sessions, FLIP, name="funding-flip")
    c1 = await funding_cycle(sessions, engine, 60, {"SOLUSDT": 0.01, "XRPUSDT": 0.02})
    assert [(r[0], r[2]) for r in await rule_deliveries(sessions)] == [(c1, "SOLUSDT")]
    # Staying positive is no flip; XRP going negative is one.
    c2 = await funding_cycle(sessions, engine, 120, {"SOLUSDT": 0.03, "XRPUSDT": -0.01})
    assert [(r[0], r[2]) for r in await rule_deliveries(sessions)] == [
        (c1, "SOLUSDT"),
        (c2, "XRPUSDT"),
    ]


async def test_a_new_engine_has_no_cycle_before_and_fires_no_flip(sessions: Sessions):
    await add_rule(sessions, FLIP, name="funding-flip")
    await funding_cycle(sessions, AlertEngine(SETTINGS), 0, {"SOLUSDT": -0.02})
    await funding_cycle(sessions, AlertEngine(SETTINGS), 60, {"SOLUSDT": 0.02})  # a restart
    assert await rule_deliveries(sessions) == []


def test_predicted_funding_is_a_row_field_where_published() -> None:
    s = symbol_score("BTC-USDT-SWAP", 20)
    assert row_values(s)["funding_next_8h"] is None  # Binance, Bybit: none published
    okx = replace(s, funding_next_pct=0.0125, funding_interval_hours=4)
    assert row_values(okx)["funding_next_8h"] == 0.025  # per 8h, as funding_8h
    assert row_values(okx, funding_8h_prev=-0.01)["funding_8h_prev"] == -0.01


def test_every_builtin_parses_now_the_percentile_field_exists() -> None:
    assert [b.name for b in BUILTINS if unavailable(b) is not None] == []
    assert "funding_pctl_90d" in BY_NAME["funding-top-2pct"].condition
