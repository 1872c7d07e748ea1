"""Windows, coverage, share of OI and multiple of normal: pure, then read from storage."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.liquidations.events import LiqEvent
from bot.liquidations.figures import LiqReader
from bot.liquidations.ingest import LiqIngest
from bot.liquidations.windows import (
    HOUR_MS,
    MINUTE_MS,
    LiqFigures,
    LiqWindow,
    combine,
    coverage_share,
    covered_hours,
    normals,
    window_start,
)

NOW = 1_767_225_600_000 + 30 * MINUTE_MS + 15_000  # 15 s into a minute, mid-hour


def test_window_starts_on_a_minute_and_coverage_is_a_share_of_it() -> None:
    since = window_start(NOW, HOUR_MS)
    assert since % MINUTE_MS == 0 and NOW - since == HOUR_MS + 15_000
    live = {since + i * MINUTE_MS: MINUTE_MS for i in range(30)}  # live the first half
    assert coverage_share(live, since, NOW) == pytest.approx(30 * MINUTE_MS / (NOW - since))


def test_normals_need_covered_history_and_skip_gaps() -> None:
    hour = NOW - NOW % HOUR_MS
    covered = {hour - i * HOUR_MS for i in range(1, 24)}  # 23 covered hours: not enough
    hourly = {h: 100.0 for h in covered}
    assert normals(hourly, covered, NOW) == {"1h": None, "24h": None}
    covered.add(hour - 24 * HOUR_MS)
    hourly[hour - 48 * HOUR_MS] = 1e9  # an uncovered hour's sum is not part of normal
    assert normals(hourly, covered, NOW)["1h"] == 100.0
    many = {hour - i * HOUR_MS for i in range(1, 24 * 8 + 1)}
    assert normals(dict.fromkeys(many, 10.0), many, NOW)["24h"] == 240.0
    minutes = {hour - HOUR_MS + i * MINUTE_MS: MINUTE_MS for i in range(54)}  # 90%
    assert covered_hours(minutes) == {hour - HOUR_MS}


def test_share_of_oi_multiple_of_normal_and_the_coin_sum() -> None:
    w = {name: LiqWindow(300.0, 100.0, 1.0) for name in ("5m", "1h", "24h")}
    a = LiqFigures(w, 40_000.0, {"1h": 200.0, "24h": None})
    assert a.oi_pct("1h") == 1.0 and a.x_normal("1h") == 2.0 and a.x_normal("24h") is None
    b = LiqFigures({n: LiqWindow(0.0, 100.0, 0.5) for n in w}, None, {"1h": 200.0})
    both = combine([a, b], 100_000.0)
    assert both.windows["1h"] == LiqWindow(300.0, 200.0, 0.5)
    assert both.fields()["liq_1h_x_normal"] == 500.0 / 400.0
    assert both.fields()["liq_1h_oi_pct"] == 0.5
    assert LiqFigures(w, 0.0, {}).fields()["liq_1h_oi_pct"] is None


async def test_the_reader_sums_windows_and_coverage_from_storage(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = NOW
    ingest = LiqIngest(sessions, lambda: 1, wall_ms=lambda: now, lateness_ms=2 * 86_400_000)

    def ev(ago_ms: int, usd: float, side: str) -> LiqEvent:
        return LiqEvent("bybit", "BTCUSDT", side, 1.0, usd, usd, now - ago_ms)  # type: ignore[arg-type]

    ingest.on_events(
        [ev(60_000, 10, "long"), ev(30 * MINUTE_MS, 20, "short"), ev(5 * HOUR_MS, 40, "long")],
        time.monotonic(),
    )
    clock = ingest.clock_for("bybit")
    clock.up(now - 30 * MINUTE_MS)
    await ingest.flush()
    async with sessions() as session:
        got = await LiqReader().read(session, now, {("bybit", "BTCUSDT"): 3_000.0})
    fig = got[("bybit", "BTCUSDT")]
    assert fig.windows["5m"] == LiqWindow(10.0, 0.0, 1.0)  # live all through it
    assert (fig.windows["1h"].long_usd, fig.windows["1h"].short_usd) == (10.0, 20.0)
    assert fig.windows["24h"].long_usd == 50.0
    assert fig.oi_pct("1h") == 1.0
    assert fig.windows["1h"].coverage == pytest.approx(30 / 60.25, abs=0.01)
    assert fig.x_normal("1h") is None  # no covered history yet


def test_per_interval_puts_each_minute_in_the_point_that_closes_it() -> None:
    from bot.liquidations.windows import per_interval

    times = [NOW, NOW + 300_000, NOW + 600_000]
    minutes = [
        (NOW - 120_000, "long", 1.0),  # before the first point: its own interval
        (NOW + 60_000, "short", 2.0),
        (NOW + 240_000, "long", 4.0),  # ends exactly at the second point
        (NOW + 300_000, "long", 8.0),
        (NOW + 900_000, "long", 16.0),  # after the last point: for the next one
    ]
    assert per_interval(times, minutes) == ([1.0, 4.0, 8.0], [0.0, 2.0, 0.0])


async def test_the_cascade_reader_never_reads_the_normals_inside_the_cycle(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Coin sums, coverage, the normal scaled to the window, the run of a cascade on;
    the 30-day normals come from a read of their own, started by the first cycle of the
    hour and served from the next (bot/liquidations/figures.py, CascadeReader)."""
    from bot.alerts.cascade import CascadeAsk
    from bot.liquidations.figures import CascadeReader
    from bot.storage import liq_repo

    hour = NOW - NOW % HOUR_MS
    first = hour - 30 * HOUR_MS
    async with sessions() as session, session.begin():
        cov = [(v, m, MINUTE_MS) for v in ("bybit", "okx") for m in range(first, NOW, MINUTE_MS)]
        await liq_repo.write_coverage(session, 1, cov)
        history = [
            ("bybit", "BTCUSDT", "short", h, 400.0, 1.0, 1) for h in range(first, hour, HOUR_MS)
        ]
        history += [
            ("okx", "BTC-USDT-SWAP", "long", h, 400.0, 1.0, 1) for h in range(first, hour, HOUR_MS)
        ]
        burst = [
            ("bybit", "BTCUSDT", "long", NOW - NOW % MINUTE_MS - 2 * MINUTE_MS, 5e5, 10.0, 9),
            ("okx", "BTC-USDT-SWAP", "long", NOW - NOW % MINUTE_MS - 20 * MINUTE_MS, 7e5, 1.0, 1),
        ]
        await liq_repo.write_buckets(session, 1, history + burst)
    reader = CascadeReader(sessions)
    keys = (("bybit", "BTCUSDT"), ("okx", "BTC-USDT-SWAP"))
    asks = {"BTC": CascadeAsk(keys, 1e8), "ON": CascadeAsk(keys, 1e8, NOW - 25 * MINUTE_MS, "long")}
    windows = (15 * MINUTE_MS, HOUR_MS)  # the cascade's and the rule fields' 1h, one read
    async with sessions() as session:
        before = await reader(session, NOW, windows, asks)
    assert before[15 * MINUTE_MS]["BTC"].normal_usd is None  # not read yet: no cascade
    await reader.settled()
    async with sessions() as session:
        got = await reader(session, NOW, windows, asks)
    btc = got[15 * MINUTE_MS]["BTC"]
    assert (btc.long_usd, btc.short_usd, btc.coverage) == (5e5, 0.0, 1.0)
    assert btc.normal_usd == 800.0 / 4  # both venues' median hour, a quarter of it
    assert btc.run_usd is None and got[15 * MINUTE_MS]["ON"].run_usd == 5e5 + 7e5
    hour_btc = got[HOUR_MS]["BTC"]  # the okx burst 20 min ago is in the hour only
    assert (hour_btc.long_usd, hour_btc.short_usd, hour_btc.coverage) == (5e5 + 7e5, 0.0, 1.0)
    assert hour_btc.normal_usd == 800.0
