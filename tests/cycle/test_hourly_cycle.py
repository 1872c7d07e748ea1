"""The scorer writes the hourly store as the hour passes and puts the symbol's own
percentiles, read from that store, on every row it stores and shows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.scoring.percentile import trailing_percentiles
from bot.storage import hourly_repo
from bot.views.market import latest_market, row_to_json
from fakes.fake_binance import FakeBinance
from tests.cycle.test_run import NOW, Clock, client, make_scorer, stepped_history
from tests.storage.test_hourly_repo import cycle, scored

HOUR = 3_600_000
__all__ = ["client"]  # the fixture, imported for these tests


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    clock = Clock()
    async with FakeBinance(now_ms=clock.ms) as f:
        f.clock = clock  # type: ignore[attr-defined]
        yield f


async def test_cycles_fill_the_hour_and_rows_carry_percentiles(fake, sessions, client) -> None:
    # 20 days of BTC's stored hours: funding per 8h 0.000-0.024%, so 0.03% is above all.
    days = 20
    stored = [(NOW - h * HOUR, 0.001 * (h % 25)) for h in range(days * 24, 0, -1)]
    rows = [
        hourly_repo.cycle_rows(cycle(t - 1, scored("BTCUSDT", 1.0, funding=f)))[0]
        for t, f in stored
    ]
    async with sessions() as session, session.begin():
        await hourly_repo.upsert_rows(session, rows)

    fake.add_symbol("BTCUSDT", mark=50_100, index=50_000, funding_rate=0.0003, oi=2000)
    fake.set_oi_history("BTCUSDT", stepped_history(NOW, [(26 * HOUR, 1000)]))
    fake.clock.now = (NOW + 5 * 60_000) / 1000
    scorer = make_scorer(fake, sessions, client)
    await scorer.run_cycle()
    fake.symbols["BTCUSDT"].mark = 50_300
    fake.clock.now = (NOW + 20 * 60_000) / 1000
    await scorer.run_cycle()

    async with sessions() as session:
        (hour,) = await hourly_repo.symbol_hours(session, "binance", "BTCUSDT", NOW, NOW + HOUR + 1)
        market = await latest_market(session, "binance")
    assert hour.hour_ms == NOW + HOUR  # the cycles at :05 and :20 belong to the hour ending 01:00
    assert (hour.low, hour.high, hour.mark_price) == (50_100, 50_300, 50_300)
    assert hour.funding_8h_pct == pytest.approx(0.03)

    assert market is not None
    (row,) = market.rows
    expected = trailing_percentiles([*stored, (NOW + HOUR, 0.03)])[-1]
    assert row.funding_pctl_90d == expected == 100
    assert row.basis_pctl_90d == 100  # 0.2% against a stored 0.02%
    assert row.oi_24h_pctl_90d == 100  # +100% against a stored +1%
    doc = row_to_json(row)
    assert (doc["funding_pctl_90d"], doc["oi_24h_pctl_90d"], doc["basis_pctl_90d"]) == (
        100,
        100,
        100,
    )
