"""The scoring cycle against the fake exchange and a real database.

Figures are checked exactly against docs/scoring.md: deltas from stored or backfilled samples,
funding_8h = funding * 8 / h, basis = (mark - index) / index * 100.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle.run import Scorer
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.markets.rest_client import RestClient
from bot.storage.models import Cycle, OiSample, ScoreSnapshot
from bot.views.market import latest_market
from fakes.fake_binance import OPEN_INTEREST, OPEN_INTEREST_HIST, PREMIUM_INDEX, FakeBinance

HOUR = 3_600_000
NOW_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z
NOW = int(NOW_S * 1000)


class Clock:
    def __init__(self) -> None:
        self.now = NOW_S

    def time(self) -> float:
        return self.now

    def ms(self) -> int:
        return int(self.now * 1000)


def stepped_history(now_ms: int, steps: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """5-minute points over the last 25h; value = the first step whose age bound covers it.

    steps: [(age_ms_upper_bound, contracts), ...] newest-first; breakpoints are kept far
    (> tolerance) from the 1h/4h/24h targets so the expected anchor is unambiguous.
    """
    points = []
    for k in range(1, 25 * 12 + 1):
        t = now_ms - k * 300_000
        age = now_ms - t
        value = next(v for bound, v in steps if age <= bound)
        points.append((t, value))
    return points


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    clock = Clock()
    async with FakeBinance(now_ms=clock.ms) as f:
        f.clock = clock  # type: ignore[attr-defined]
        yield f


def make_scorer(
    fake: FakeBinance, sessions: async_sessionmaker[AsyncSession], client: RestClient
) -> Scorer:
    settings = Settings(exchange={"venues": ["binance"], "base_url": fake.url})  # type: ignore[arg-type]
    adapter = BinanceAdapter(client, settings.exchange, clock=fake.clock.time)  # type: ignore[attr-defined]
    return Scorer(adapter, sessions, settings, clock=fake.clock.time)  # type: ignore[attr-defined]


@pytest.fixture
async def client(fake: FakeBinance) -> AsyncIterator[RestClient]:
    # A short timeout so the "timeout" fault costs little, yet long enough that a loaded
    # CI machine (four test workers on two cores) never turns a slow answer into one.
    settings = Settings(
        exchange={
            "venues": ["binance"],
            "base_url": fake.url,
            "max_retries": 1,
            "request_timeout_seconds": 2.0,
        }  # type: ignore[arg-type]
    )

    async def no_sleep(_: float) -> None:
        return None

    async with binance_client(settings.exchange, sleep=no_sleep) as c:
        yield c


async def test_cycle_figures_match_design_exactly(fake, sessions, client) -> None:
    fake.add_symbol("BTCUSDT", mark=50_100, index=50_000, funding_rate=0.0003, oi=2000)
    fake.set_oi_history(
        "BTCUSDT", stepped_history(NOW, [(2 * HOUR, 1800), (20 * HOUR, 1500), (26 * HOUR, 1000)])
    )
    fake.add_symbol(
        "DOGEUSDT",
        mark=0.2,
        index=0.2002,
        funding_rate=0.00005,
        oi=100,
        funding_interval_hours=4,
    )
    fake.set_oi_history("DOGEUSDT", stepped_history(NOW, [(26 * HOUR, 100)]))

    result = await make_scorer(fake, sessions, client).run_cycle()

    assert result.status == "ok" and result.symbols_fetched == 2
    async with sessions() as session:
        market = await latest_market(session, "binance")
    assert market is not None
    rows = {r.symbol: r for r in market.rows}
    btc = rows["BTCUSDT"]
    assert btc.oi_1h_pct == pytest.approx((2000 - 1800) / 1800 * 100)
    assert btc.oi_4h_pct == pytest.approx((2000 - 1500) / 1500 * 100)
    assert btc.oi_24h_pct == pytest.approx(100.0)
    assert btc.funding_pct == pytest.approx(0.03)
    assert btc.funding_8h_pct == pytest.approx(0.03)
    assert btc.basis_pct == pytest.approx(0.2)
    doge = rows["DOGEUSDT"]
    assert doge.funding_interval_hours == 4
    assert doge.funding_8h_pct == pytest.approx(0.005 * 8 / 4)
    assert doge.basis_pct == pytest.approx((0.2 - 0.2002) / 0.2002 * 100)
    assert doge.oi_24h_pct == pytest.approx(0.0)  # a real zero, not a missing window
    assert [r.symbol for r in market.rows] == sorted(rows, key=lambda s: -rows[s].score)


async def test_new_listing_has_null_long_windows_and_no_backfill_for_them(
    fake, sessions, client
) -> None:
    listed = NOW - 2 * HOUR
    fake.add_symbol("NEWUSDT", mark=1.0, index=1.0, funding_rate=0.0001, oi=500, onboard_ms=listed)
    fake.set_oi_history("NEWUSDT", [(t, 400.0) for t in range(listed, NOW, 300_000)])
    await make_scorer(fake, sessions, client).run_cycle()
    async with sessions() as session:
        market = await latest_market(session, "binance")
    row = market.rows[0]
    assert row.oi_1h_pct == pytest.approx(25.0)
    assert row.oi_4h_pct is None and row.oi_24h_pct is None


async def test_warm_cycle_uses_stored_samples_and_makes_no_history_calls(
    fake, sessions, client
) -> None:
    names = fake.populate(30, seed=3, history_hours=25)
    scorer = make_scorer(fake, sessions, client)
    cold = await scorer.run_cycle()
    assert cold.history_calls == 30
    fake.clock.now += 300  # next cycle, five minutes later
    fake.reset_counters()
    warm = await scorer.run_cycle()
    assert warm.history_calls == 0 and fake.calls[OPEN_INTEREST_HIST] == 0
    assert warm.symbols_fetched == len(names)
    async with sessions() as session:
        market = await latest_market(session, "binance")
    assert all(r.oi_1h_pct is not None and r.oi_24h_pct is not None for r in market.rows)
    # Bulk premiumIndex (10) + one openInterest per symbol; universe and funding cached.
    assert warm.weight_used == 10 + 30


async def test_a_gap_in_history_leaves_the_window_null_never_zero(fake, sessions, client) -> None:
    fake.add_symbol("GAPUSDT", mark=1.0, index=1.0, funding_rate=0.0001, oi=500)
    # Samples exist only for the last 3 hours: 4h and 24h targets have nothing near them.
    fake.set_oi_history("GAPUSDT", [(NOW - k * 300_000, 450.0) for k in range(1, 36)])
    await make_scorer(fake, sessions, client).run_cycle()
    async with sessions() as session:
        row = (await latest_market(session, "binance")).rows[0]
    assert row.oi_1h_pct == pytest.approx(500 / 450 * 100 - 100)
    assert row.oi_4h_pct is None and row.oi_24h_pct is None


@pytest.mark.parametrize(
    ("endpoint", "kind", "reason"),
    [
        (OPEN_INTEREST, "delisted", "Invalid symbol"),
        (OPEN_INTEREST, "5xx", "open interest"),
        (OPEN_INTEREST, "malformed", "open interest"),
        (OPEN_INTEREST, "missing_fields", "open interest"),
        (OPEN_INTEREST, "timeout", "open interest"),
        (PREMIUM_INDEX, "missing_fields", "premium index"),
    ],
)
async def test_symbol_fault_flags_that_symbol_and_completes_the_cycle(
    fake, sessions, client, endpoint, kind, reason
) -> None:
    fake.populate(5, seed=1, history_hours=25)
    fake.timeout_delay = 3.0
    fake.fault(endpoint, kind, times=None, symbol="SYM0002USDT")
    result = await make_scorer(fake, sessions, client).run_cycle()
    assert result.status == "partial"
    assert set(result.failed) == {"SYM0002USDT"}
    assert reason.lower() in result.failed["SYM0002USDT"].lower()
    async with sessions() as session:
        cycle = await session.get(Cycle, result.cycle_id)
        stored = await session.scalar(
            select(func.count())
            .select_from(ScoreSnapshot)
            .where(ScoreSnapshot.cycle_id == result.cycle_id)
        )
    assert cycle.status == "partial" and cycle.symbols_failed == 1 and stored == 4
    assert "SYM0002USDT" in (cycle.errors or "")


async def test_a_second_cycle_adds_only_live_samples(fake, sessions, client) -> None:
    fake.populate(3, seed=2, history_hours=25)
    scorer = make_scorer(fake, sessions, client)
    first = await scorer.run_cycle()
    async with sessions() as session:
        before = await session.scalar(select(func.count()).select_from(OiSample))
    # A restarted scorer has forgotten what it backfilled; it may fetch overlapping
    # history again, and the store must absorb it.
    scorer = make_scorer(fake, sessions, client)
    fake.clock.now += 1
    fake.set_oi_history("SYM0000USDT", [])  # and the exchange's history may thin out
    second = await scorer.run_cycle()
    async with sessions() as session:
        after = await session.scalar(select(func.count()).select_from(OiSample))
    assert first.history_calls == 3 and second.history_calls == 0
    # The refetched history adds nothing; only each symbol's new live sample is new.
    assert after == before + 3
