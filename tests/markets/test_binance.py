"""BinanceAdapter against the fake: parsing real shapes, filters, caches, faults."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from bot.markets.base import (
    ExchangeUnavailable,
    HistoryBudgetExhausted,
    Instrument,
    OiPoint,
    SymbolUnavailable,
)
from bot.markets.binance import HISTORY_MAX_AGE_MS, BinanceAdapter
from fakes.fake_binance import (
    EXCHANGE_INFO,
    FUNDING_INFO,
    OPEN_INTEREST,
    OPEN_INTEREST_HIST,
    PREMIUM_INDEX,
    TICKER_24H,
    FakeBinance,
)
from tests.markets.conftest import FakeClock, make_client, make_settings

FIVE_MIN = 300_000


@pytest.fixture(autouse=True)
def _market(fake: FakeBinance) -> None:
    fake.add_symbol(
        "BTCUSDT",
        mark=50_010.0,
        index=50_000.0,
        funding_rate=0.0001,
        oi=80_000.5,
        onboard_ms=1_569_398_400_000,
    )
    fake.add_symbol(
        "ETHUSDT",
        mark=2_999.0,
        index=3_000.0,
        funding_rate=-0.00005,
        oi=1.5e6,
        funding_interval_hours=4,
    )


def _adapter(fake: FakeBinance, clock: FakeClock, **overrides: object) -> BinanceAdapter:
    settings = make_settings(fake, **overrides)
    return BinanceAdapter(make_client(settings, clock), settings, clock=clock.time)


# Universe.


async def test_universe_keeps_trading_usdt_perpetuals_only(adapter: BinanceAdapter) -> None:
    universe = await adapter.universe()
    # The fake also lists a quarterly, two SETTLING and a USDC contract.
    assert [i.symbol for i in universe] == ["BTCUSDT", "ETHUSDT"]
    assert universe[0] == Instrument("binance", "BTCUSDT", "BTC", "USDT", 1_569_398_400_000)


async def test_universe_quote_assets_are_configurable(fake: FakeBinance, clock: FakeClock) -> None:
    adapter = _adapter(fake, clock, quote_assets=["usdt", "usdc"])
    assert [i.symbol for i in await adapter.universe()] == ["BTCUSDC", "BTCUSDT", "ETHUSDT"]


async def test_universe_is_cached_for_its_ttl(
    adapter: BinanceAdapter, fake: FakeBinance, clock: FakeClock
) -> None:
    await adapter.universe()
    fake.add_symbol("SOLUSDT", mark=100.0, index=100.0, funding_rate=0.0001, oi=1e6)
    clock.advance(3599)
    assert len(await adapter.universe()) == 2
    assert fake.calls[EXCHANGE_INFO] == 1
    clock.advance(1)
    assert "SOLUSDT" in {i.symbol for i in await adapter.universe()}
    assert fake.calls[EXCHANGE_INFO] == 2


async def test_universe_refresh_failure_keeps_the_cached_one(
    adapter: BinanceAdapter, fake: FakeBinance, clock: FakeClock
) -> None:
    first = await adapter.universe()
    fake.fault(EXCHANGE_INFO, "5xx", times=None)
    clock.advance(3600)
    assert await adapter.universe() == first


async def test_universe_failure_without_cache_raises(
    adapter: BinanceAdapter, fake: FakeBinance
) -> None:
    fake.fault(EXCHANGE_INFO, "5xx", times=None)
    with pytest.raises(ExchangeUnavailable, match=EXCHANGE_INFO):
        await adapter.universe()


async def test_min_volume_filter_uses_the_bulk_ticker_and_is_cached(
    fake: FakeBinance, clock: FakeClock
) -> None:
    fake.set_market("ETHUSDT", quote_volume=999.0)
    adapter = _adapter(fake, clock, min_quote_volume_usd=1_000.0)
    assert [i.symbol for i in await adapter.universe()] == ["BTCUSDT"]
    await adapter.universe()
    assert fake.calls[TICKER_24H] == 1
    assert adapter.weight_used() == 1 + 40


async def test_no_volume_filter_means_no_ticker_call(
    adapter: BinanceAdapter, fake: FakeBinance
) -> None:
    await adapter.universe()
    assert fake.calls[TICKER_24H] == 0


# premiumIndex.


async def test_premium_index_parses_strings_to_floats(
    adapter: BinanceAdapter, clock: FakeClock
) -> None:
    await adapter.universe()
    records = await adapter.premium_index()
    btc = records["BTCUSDT"]
    assert (btc.mark_price, btc.index_price, btc.funding_rate) == (50_010.0, 50_000.0, 0.0001)
    assert btc.time_ms == clock.now_ms()
    assert records["ETHUSDT"].funding_rate == -0.00005
    # Symbols outside the universe may come back; the scorer filters them.
    assert "BTCUSDC" in records
    # The quarterly's empty funding rate is not news once the universe is known.
    assert "BTCUSDT_260327" not in records
    assert adapter.last_skipped == []


async def test_premium_index_skips_a_row_with_missing_fields_and_says_so(
    adapter: BinanceAdapter, fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    await adapter.universe()
    fake.fault(PREMIUM_INDEX, "missing_fields", symbol="ETHUSDT")
    with caplog.at_level(logging.WARNING, logger="bot.markets.binance"):
        records = await adapter.premium_index()
    assert "ETHUSDT" not in records and "BTCUSDT" in records
    assert adapter.last_skipped == ["ETHUSDT"]
    assert adapter.skipped_rows == 1
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "ETHUSDT (markPrice missing)" in warning.getMessage()
    # The fault was one-shot: next cycle the symbol is back.
    assert "ETHUSDT" in await adapter.premium_index()
    assert adapter.last_skipped == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mark", "abc"),
        ("index", "0"),
        ("mark", "-1"),
        ("funding_rate", "NaN"),
        ("funding_rate", ""),
        ("index", "Infinity"),
    ],
)
async def test_premium_index_rejects_unusable_values(
    adapter: BinanceAdapter, fake: FakeBinance, field: str, value: str
) -> None:
    fake.set_market("BTCUSDT", **{field: value})
    records = await adapter.premium_index()
    assert "BTCUSDT" not in records and "ETHUSDT" in records
    assert "BTCUSDT" in adapter.last_skipped


async def test_premium_index_without_a_universe_reports_every_bad_row(
    adapter: BinanceAdapter,
) -> None:
    await adapter.premium_index()
    assert adapter.last_skipped == ["BTCUSDT_260327"]


# fundingInfo.


async def test_funding_intervals_list_adjusted_symbols_only(adapter: BinanceAdapter) -> None:
    intervals = await adapter.funding_intervals()
    assert intervals["ETHUSDT"] == 4
    assert "BTCUSDT" not in intervals  # absent means 8h; the caller applies the default
    assert adapter.weight_used() == 0


async def test_funding_intervals_refresh_after_the_ttl(
    adapter: BinanceAdapter, fake: FakeBinance, clock: FakeClock
) -> None:
    await adapter.funding_intervals()
    fake.set_market("BTCUSDT", funding_interval_hours=4)
    clock.advance(3599)
    assert "BTCUSDT" not in await adapter.funding_intervals()
    clock.advance(1)
    assert (await adapter.funding_intervals())["BTCUSDT"] == 4
    assert fake.calls[FUNDING_INFO] == 2


async def test_funding_intervals_skip_bad_rows(adapter: BinanceAdapter, fake: FakeBinance) -> None:
    fake.fault(FUNDING_INFO, "missing_fields", symbol="ETHUSDT")
    assert "ETHUSDT" not in await adapter.funding_intervals()


async def test_funding_info_empty_answer_keeps_the_last_good_copy(
    adapter: BinanceAdapter, fake: FakeBinance, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    assert (await adapter.funding_intervals())["ETHUSDT"] == 4
    fake.fault(FUNDING_INFO, "empty", times=2)  # a 200 with []
    clock.advance(3600)
    with caplog.at_level(logging.WARNING, logger="bot.markets.binance"):
        assert (await adapter.funding_intervals())["ETHUSDT"] == 4
        # Not cached as a good answer: the next cycle asks again, and warns only once.
        assert (await adapter.funding_intervals())["ETHUSDT"] == 4
    assert fake.calls[FUNDING_INFO] == 3
    [warning] = [r.getMessage() for r in caplog.records]
    assert "fundingInfo answered no usable row; keeping the cached intervals" in warning
    fake.set_market("ETHUSDT", funding_interval_hours=1)
    assert (await adapter.funding_intervals())["ETHUSDT"] == 1  # recovered
    assert fake.calls[FUNDING_INFO] == 4


async def test_funding_info_empty_at_start_means_8h_for_now_and_asks_again(
    adapter: BinanceAdapter, fake: FakeBinance
) -> None:
    fake.fault(FUNDING_INFO, "empty")
    assert await adapter.funding_intervals() == {}
    assert (await adapter.funding_intervals())["ETHUSDT"] == 4


async def test_funding_info_duplicate_rows_the_last_one_wins_logged_once(
    adapter: BinanceAdapter, fake: FakeBinance, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Binance appends an adjustment: the later row is the newer interval.
    fake.extra_funding_rows = [("ETHUSDT", 1), ("GTCUSDT", 8)]  # GTCUSDT: an exact repeat
    with caplog.at_level(logging.WARNING, logger="bot.markets.binance"):
        intervals = await adapter.funding_intervals()
        clock.advance(3600)
        await adapter.funding_intervals()  # the same conflict again: not logged again
    assert fake.calls[FUNDING_INFO] == 2
    assert intervals["ETHUSDT"] == 1 and intervals["GTCUSDT"] == 8
    [warning] = [r.getMessage() for r in caplog.records]
    assert "1 symbol(s) twice with different intervals; using the last row" in warning
    assert "ETHUSDT 4h, 1h -> 1h" in warning


# openInterest.


async def test_open_interest_parses(adapter: BinanceAdapter, clock: FakeClock) -> None:
    oi = await adapter.open_interest("BTCUSDT")
    assert (oi.symbol, oi.contracts, oi.time_ms) == ("BTCUSDT", 80_000.5, clock.now_ms())
    assert adapter.weight_used() == 1


async def test_delisted_symbol_is_unavailable(adapter: BinanceAdapter, fake: FakeBinance) -> None:
    fake.delist("ETHUSDT")
    with pytest.raises(SymbolUnavailable, match="Invalid symbol"):
        await adapter.open_interest("ETHUSDT")
    assert fake.calls[OPEN_INTEREST] == 1  # a 4xx is never retried
    assert "ETHUSDT" not in await adapter.premium_index()


async def test_symbol_delisted_mid_cycle(adapter: BinanceAdapter, fake: FakeBinance) -> None:
    fake.fault(OPEN_INTEREST, "delisted", symbol="ETHUSDT")
    results = await asyncio.gather(
        adapter.open_interest("BTCUSDT"),
        adapter.open_interest("ETHUSDT"),
        return_exceptions=True,
    )
    assert results[0].contracts == 80_000.5
    assert isinstance(results[1], SymbolUnavailable)


@pytest.mark.parametrize("kind", ["missing_fields", "malformed"])
async def test_unparsable_open_interest_is_unavailable(
    adapter: BinanceAdapter, fake: FakeBinance, kind: str
) -> None:
    fake.fault(OPEN_INTEREST, kind, symbol="BTCUSDT")
    with pytest.raises(SymbolUnavailable, match="BTCUSDT"):
        await adapter.open_interest("BTCUSDT")


async def test_open_interest_exchange_down_is_not_a_symbol_problem(
    adapter: BinanceAdapter, fake: FakeBinance
) -> None:
    fake.fault(OPEN_INTEREST, "5xx", times=None)
    with pytest.raises(ExchangeUnavailable):
        await adapter.open_interest("BTCUSDT")


# openInterestHist.


def _floor(clock: FakeClock) -> int:
    """The latest 5-minute mark; the fake clock sits 10 s past one."""
    return clock.now_ms() // FIVE_MIN * FIVE_MIN


def _history(clock: FakeClock, hours: float, base: float = 1000.0) -> list[tuple[int, float]]:
    now = _floor(clock)
    steps = int(hours * 12)
    return [(now - k * FIVE_MIN, base + k) for k in range(steps, -1, -1)]


async def test_history_parses_string_and_int_timestamps(
    adapter: BinanceAdapter, fake: FakeBinance, clock: FakeClock
) -> None:
    fake.set_oi_history("BTCUSDT", _history(clock, 2))
    async with aiohttp.ClientSession() as session:
        url = f"{fake.url}{OPEN_INTEREST_HIST}?symbol=BTCUSDT&period=5m&limit=4"
        async with session.get(url) as resp:
            raw = await resp.json()
    assert {type(r["timestamp"]) for r in raw} == {int, str}
    assert isinstance(raw[0]["sumOpenInterest"], str)

    now = clock.now_ms()
    points = await adapter.open_interest_history(
        "BTCUSDT", start_ms=_floor(clock) - 3_600_000, end_ms=now
    )
    assert len(points) == 13
    assert points == sorted(points, key=lambda p: p.time_ms)
    assert all(isinstance(p.time_ms, int) for p in points)
    assert points[-1] == OiPoint(now // FIVE_MIN * FIVE_MIN, 1000.0)
    assert adapter.history_calls() == 1
    assert adapter.weight_used() == 0


async def test_history_pages_ranges_over_500_points(
    adapter: BinanceAdapter, fake: FakeBinance, clock: FakeClock
) -> None:
    fake.set_oi_history("BTCUSDT", _history(clock, 72))  # 865 points
    now = clock.now_ms()
    points = await adapter.open_interest_history(
        "BTCUSDT", start_ms=_floor(clock) - 72 * 3_600_000, end_ms=now
    )
    assert len(points) == 865
    assert len({p.time_ms for p in points}) == 865
    pages = [p for path, p in fake.requests_log if path == OPEN_INTEREST_HIST]
    assert len(pages) == 2
    assert all(p["limit"] == "500" and p["period"] == "5m" for p in pages)
    assert int(pages[1]["startTime"]) == int(pages[0]["endTime"]) + 1


async def test_history_clamps_start_to_the_30_day_window(
    adapter: BinanceAdapter, fake: FakeBinance, clock: FakeClock
) -> None:
    fake.set_oi_history("BTCUSDT", _history(clock, 1))
    now = clock.now_ms()
    points = await adapter.open_interest_history(
        "BTCUSDT", start_ms=now - 40 * 86_400_000, end_ms=now
    )
    assert len(points) == 13  # no -1130 error from the fake
    first = next(p for path, p in fake.requests_log if path == OPEN_INTEREST_HIST)
    assert int(first["startTime"]) == now - HISTORY_MAX_AGE_MS


async def test_history_of_a_new_listing_is_empty(adapter: BinanceAdapter, clock: FakeClock) -> None:
    now = clock.now_ms()
    points = await adapter.open_interest_history("ETHUSDT", start_ms=now - 86_400_000, end_ms=now)
    assert points == []


async def test_history_skips_rows_without_figures(
    adapter: BinanceAdapter, fake: FakeBinance, clock: FakeClock
) -> None:
    fake.set_oi_history("BTCUSDT", _history(clock, 1))
    fake.fault(OPEN_INTEREST_HIST, "missing_fields", symbol="BTCUSDT")
    start = _floor(clock) - 3_600_000
    points = await adapter.open_interest_history("BTCUSDT", start_ms=start, end_ms=clock.now_ms())
    assert points == []
    assert adapter.skipped_rows == 13


async def test_history_of_a_delisted_symbol_is_unavailable(
    adapter: BinanceAdapter, fake: FakeBinance, clock: FakeClock
) -> None:
    fake.delist("BTCUSDT")
    with pytest.raises(SymbolUnavailable):
        await adapter.open_interest_history("BTCUSDT", start_ms=0, end_ms=clock.now_ms())


async def test_history_budget_exhaustion_raises_instead_of_waiting(
    fake: FakeBinance, clock: FakeClock
) -> None:
    adapter = _adapter(fake, clock, history_calls_per_5m=2)
    now = clock.now_ms()
    for _ in range(2):
        await adapter.open_interest_history("BTCUSDT", start_ms=now - 3_600_000, end_ms=now)
    with pytest.raises(HistoryBudgetExhausted):
        await adapter.open_interest_history("BTCUSDT", start_ms=now - 3_600_000, end_ms=now)
    assert clock.sleeps == []


# A whole cycle's worth of calls.


async def test_cycle_weight_for_many_symbols(fake: FakeBinance, clock: FakeClock) -> None:
    names = fake.populate(300, seed=7)
    adapter = _adapter(fake, clock, concurrency=16)
    universe = await adapter.universe()
    assert len(universe) == 302
    await adapter.premium_index()
    await adapter.funding_intervals()
    results = await asyncio.gather(*(adapter.open_interest(n) for n in names))
    assert len(results) == 300
    assert adapter.weight_used() == fake.total_weight == 1 + 10 + 0 + 300
    assert adapter.last_skipped == []


def test_populate_is_deterministic(clock: FakeClock) -> None:
    a, b = FakeBinance(now_ms=clock.now_ms), FakeBinance(now_ms=clock.now_ms)
    assert a.populate(50, seed=3, history_hours=1) == b.populate(50, seed=3, history_hours=1)
    assert a.symbols == b.symbols
    assert {s.funding_interval_hours for s in a.symbols.values()} >= {4, 8}
