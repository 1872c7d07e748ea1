"""Liquidation rule fields (`liq_*`, docs/rules.md) through the real cycle: buckets and
coverage stored as the streams store them, read by the cascade reader in the cycle's
transaction, evaluated by the rule hook. A window the streams did not cover, or no
streams at all, leaves them unknown: the rule waits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.cascade import CascadeAsk, CascadeReading
from bot.cycle.alert_hook import AlertEngine
from bot.liquidations.figures import CascadeReader
from bot.storage import liq_repo
from tests.alerts.helpers import EXCHANGE, MIN, T0
from tests.cycle.test_rule_hook import SETTINGS, add_rule, cycle, rule_deliveries

Sessions = async_sessionmaker[AsyncSession]
AT = 120  # the cycle's minute after T0: two hours of stream behind it
NOW = T0 + AT * MIN
OI_USD = 1000.0 * 100.0  # tests.alerts.helpers.symbol_score: contracts x mark


@pytest.fixture
async def reader(sessions: Sessions) -> AsyncIterator[CascadeReader]:
    found = CascadeReader(sessions)
    yield found
    await found.settled()  # the hour's normals, read in the background


async def store(sessions: Sessions, live_ms: int) -> None:
    """SOLUSDT: longs 0.4% of OI 10 minutes ago, shorts 0.3% 40 minutes ago (0.7% over
    1h); XRPUSDT: 0.1%. The stream live `live_ms` of every minute of the last 2 hours."""
    async with sessions() as session, session.begin():
        await liq_repo.write_coverage(
            session, 1, [(EXCHANGE, m, live_ms) for m in range(T0, NOW, MIN)]
        )
        buckets = [
            (EXCHANGE, "SOLUSDT", "long", NOW - 10 * MIN, 0.004 * OI_USD, 1.0, 3),
            (EXCHANGE, "SOLUSDT", "short", NOW - 40 * MIN, 0.003 * OI_USD, 1.0, 2),
            (EXCHANGE, "XRPUSDT", "long", NOW - 20 * MIN, 0.001 * OI_USD, 1.0, 1),
        ]
        await liq_repo.write_buckets(session, 1, buckets)


async def fired(sessions: Sessions) -> list[tuple[str, str]]:
    return [(r[3], r[2]) for r in await rule_deliveries(sessions)]


async def test_a_liquidation_rule_fires_through_the_cycle(
    sessions: Sessions, reader: CascadeReader
) -> None:
    engine = AlertEngine(SETTINGS, cascades=reader)
    whole = await add_rule(sessions, "liq_1h_oi_pct > 0.5", "whole")
    longs = await add_rule(
        sessions, "liq_15m_long_oi_pct > 0.3 and liq_15m_short_oi_pct < 0.1", "longs"
    )
    usd = await add_rule(sessions, "liq_1h_short_usd >= 300 and liq_coverage_1h > 0.9", "usd")
    await store(sessions, live_ms=MIN)
    _, created = await cycle(sessions, engine, AT, {"SOLUSDT": 1.0, "XRPUSDT": 1.0})
    assert created == 3
    assert sorted(await fired(sessions)) == [
        (f"rule:{whole}", "SOLUSDT"),
        (f"rule:{longs}", "SOLUSDT"),
        (f"rule:{usd}", "SOLUSDT"),
    ]


async def test_it_waits_when_the_streams_covered_too_little_or_are_off(
    sessions: Sessions, reader: CascadeReader
) -> None:
    """Half of each minute live: under the 90% floor, so the figures are unknown (a gap
    must not read as calm, nor as a burst), while the coverage itself is known."""
    await add_rule(sessions, "liq_1h_oi_pct > 0.5 or not (liq_1h_oi_pct > 0.5)", "either")
    gap = await add_rule(sessions, "liq_coverage_1h < 0.9", "gap")
    await store(sessions, live_ms=MIN // 2)
    engine = AlertEngine(SETTINGS, cascades=reader)
    await cycle(sessions, engine, AT, {"SOLUSDT": 1.0})
    assert await fired(sessions) == [(f"rule:{gap}", "SOLUSDT")]
    # No streams (no reader): every liq_* field unknown, the coverage too.
    blind = AlertEngine(SETTINGS)
    _, created = await cycle(sessions, blind, AT + 5, {"XRPUSDT": 1.0})
    assert created == 0


class Recording(CascadeReader):
    """The real reader, noting the windows each cycle asks for."""

    def __init__(self, sessions: Sessions) -> None:
        super().__init__(sessions)
        self.asked: list[tuple[int, ...]] = []

    async def __call__(
        self,
        session: AsyncSession,
        now_ms: int,
        windows_ms: Sequence[int],
        asks: Mapping[str, CascadeAsk],
    ) -> dict[int, dict[str, CascadeReading]]:
        self.asked.append(tuple(windows_ms))
        return await super().__call__(session, now_ms, windows_ms, asks)


async def test_the_hour_is_summed_only_while_a_rule_names_a_1h_field(sessions: Sessions) -> None:
    reader = Recording(sessions)
    engine = AlertEngine(SETTINGS, cascades=reader)
    await store(sessions, live_ms=MIN)
    quarter = await add_rule(sessions, "liq_15m_long_oi_pct > 0.3", "quarter")
    await cycle(sessions, engine, AT, {"SOLUSDT": 1.0})
    assert reader.asked == [(15 * MIN,)]  # the cascade's window is the rules' 15 min
    assert await fired(sessions) == [(f"rule:{quarter}", "SOLUSDT")]
    hour = await add_rule(sessions, "liq_1h_x_normal > 0 or liq_1h_oi_pct > 0.5", "hour")
    await cycle(sessions, engine, AT + 1, {"SOLUSDT": 1.0})
    assert reader.asked[-1] == (15 * MIN, 60 * MIN)
    assert (f"rule:{hour}", "SOLUSDT") in await fired(sessions)
    await reader.settled()
