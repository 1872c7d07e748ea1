"""BybitAdapter against the fake: real shapes, both-sides OI, cursors, limits, faults."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator

import pytest

from bot.markets.base import (
    BulkOpenInterest,
    ExchangeAdapter,
    ExchangeError,
    ExchangeUnavailable,
    HistoryBudgetExhausted,
    HistoryPaused,
    Instrument,
    MalformedResponse,
    SymbolUnavailable,
    VenueBlocked,
)
from bot.markets.bybit import BybitAdapter, make_client
from fakes.fake_bybit import INSTRUMENTS, OPEN_INTEREST, TICKERS, FakeBybit
from tests.markets.conftest import FakeClock
from tests.markets.venue_helpers import (
    SHORT_TIMEOUT,
    close_clients,
    run_cycle,
    served,
    venue_client,
    venue_settings,
)

FIVE_MIN = 300_000


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeBybit]:
    async with FakeBybit(now_ms=clock.now_ms, timeout_delay=2.0) as server:
        server.add_symbol(
            "BTCUSDT", mark=50_010.0, index=50_000.0, funding_rate=0.0001, oi=40_000.25
        )
        server.add_symbol(
            "ETHUSDT",
            mark=2_999.0,
            index=3_000.0,
            funding_rate=-0.00005,
            oi=750_000.0,
            funding_interval_hours=4,
        )
        server.add_symbol(
            "1000PEPEUSDT", mark=0.012, index=0.01199, funding_rate=0.0002, oi=5_000_000.0
        )
        yield server


def _adapter(fake: FakeBybit, clock: FakeClock, **overrides: object) -> BybitAdapter:
    client = venue_client(make_client, fake.url, clock, **overrides)
    return BybitAdapter(client, venue_settings(**overrides), clock=clock.time)


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    await close_clients()


@pytest.fixture
def adapter(fake: FakeBybit, clock: FakeClock) -> BybitAdapter:
    return _adapter(fake, clock)


def _tickers_by_symbol(body: dict[str, object]) -> dict[str, dict[str, str]]:
    rows = body["result"]["list"]  # type: ignore[index]
    return {row["symbol"]: row for row in rows}  # type: ignore[index, union-attr]


# Protocol and universe.


def test_implements_the_protocol_and_bulk_oi(adapter: BybitAdapter) -> None:
    typed: ExchangeAdapter = adapter
    assert typed.name == "bybit"
    assert isinstance(adapter, BulkOpenInterest)


async def test_universe_keeps_trading_usdt_perpetuals_only(adapter: BybitAdapter) -> None:
    universe = await adapter.universe()
    # The fake also lists a future, a USDC perpetual, a closed, a pre-listing and a stock.
    assert [i.symbol for i in universe] == ["1000PEPEUSDT", "BTCUSDT", "ETHUSDT"]
    assert universe[1] == Instrument("bybit", "BTCUSDT", "BTC", "USDT", 1_585_526_400_000)
    pepe = universe[0]
    assert (pepe.coin, pepe.multiplier) == ("PEPE", 1000.0)


async def test_universe_follows_the_cursor(fake: FakeBybit, clock: FakeClock) -> None:
    fake.page_max = 2  # Bybit pages at 1000; more than 500 linear symbols exist
    names = fake.populate(7)
    adapter = _adapter(fake, clock)
    universe = await adapter.universe()
    assert [i.symbol for i in universe] == sorted([*names, "1000PEPEUSDT", "BTCUSDT", "ETHUSDT"])
    total_rows = len(fake.symbols)
    assert fake.calls[INSTRUMENTS] == math.ceil(total_rows / 2)
    cursors = [p.get("cursor") for path, p in fake.requests_log if path == INSTRUMENTS]
    assert cursors[0] is None and all(cursors[1:])


async def test_volume_floor_uses_the_tickers_turnover(fake: FakeBybit, clock: FakeClock) -> None:
    fake.set_market("ETHUSDT", turnover=3_000_000.0)
    adapter = _adapter(fake, clock, min_quote_volume_usd=5_000_000)
    assert [i.symbol for i in await adapter.universe()] == ["1000PEPEUSDT", "BTCUSDT"]
    await run_cycle(adapter)
    assert fake.calls[TICKERS] == 1  # the cycle reuses the answer the universe fetched


# One tickers call per cycle.


async def test_one_tickers_call_gives_mark_index_funding_oi_and_intervals(
    adapter: BybitAdapter, fake: FakeBybit
) -> None:
    cycle = await run_cycle(adapter)
    assert fake.calls[TICKERS] == 1
    rows = _tickers_by_symbol(await served(fake.url, TICKERS, {"category": "linear"}))
    for symbol in ("BTCUSDT", "ETHUSDT", "1000PEPEUSDT"):
        row = rows[symbol]
        assert cycle.premium[symbol].mark_price == float(row["markPrice"])
        assert cycle.premium[symbol].index_price == float(row["indexPrice"])
        assert cycle.premium[symbol].funding_rate == float(row["fundingRate"])
        assert cycle.premium[symbol].predicted_funding_rate is None
        # One side: the single-side field, which is half the both-sides openInterest.
        assert cycle.oi[symbol].contracts == float(row["singleOpenInterest"])
        assert cycle.oi[symbol].contracts == float(row["openInterest"]) / 2
        assert cycle.intervals[symbol] == int(row["fundingIntervalHour"])
    assert cycle.oi["BTCUSDT"].contracts == 40_000.25
    assert cycle.intervals["ETHUSDT"] == 4


async def test_both_sides_oi_is_halved_when_no_single_side_field(
    adapter: BybitAdapter, fake: FakeBybit
) -> None:
    fake.single_oi = False  # before 2026-06 Bybit sent only the both-sides figure
    cycle = await run_cycle(adapter)
    rows = _tickers_by_symbol(await served(fake.url, TICKERS, {"category": "linear"}))
    assert "singleOpenInterest" not in rows["BTCUSDT"]
    assert cycle.oi["BTCUSDT"].contracts == float(rows["BTCUSDT"]["openInterest"]) / 2
    # In coins and USD, 1000PEPE's one side: 5e6 units = 5e9 PEPE worth 5e6 * 0.012 USD.
    pepe = cycle.oi["1000PEPEUSDT"].contracts
    assert pepe * 1000 == 5e9
    assert pepe * cycle.premium["1000PEPEUSDT"].mark_price == pytest.approx(60_000.0)


async def test_funding_interval_is_read_every_cycle(
    adapter: BybitAdapter, fake: FakeBybit, clock: FakeClock
) -> None:
    assert (await run_cycle(adapter)).intervals["BTCUSDT"] == 8
    fake.set_market("BTCUSDT", funding_interval_minutes=60)  # Bybit moved it to 1h
    clock.advance(300)
    assert (await run_cycle(adapter)).intervals["BTCUSDT"] == 1
    assert fake.calls[TICKERS] == 2
    assert fake.calls[INSTRUMENTS] == 1  # the universe stays cached


async def test_instrument_interval_covers_a_ticker_row_without_one(
    adapter: BybitAdapter, fake: FakeBybit
) -> None:
    fake.fault(TICKERS, "missing_fields", symbol="ETHUSDT", fields=("fundingIntervalHour",))
    cycle = await run_cycle(adapter)
    assert cycle.intervals["ETHUSDT"] == 4  # instruments-info: fundingInterval 240 minutes


# History (backfill only).


async def test_history_pages_by_cursor_in_one_side_coins(fake: FakeBybit, clock: FakeClock) -> None:
    fake.populate(1, history_hours=26)
    adapter = _adapter(fake, clock)
    now = clock.now_ms() // FIVE_MIN * FIVE_MIN
    start = now - 24 * 3_600_000
    points = await adapter.open_interest_history("SYM0000USDT", start_ms=start, end_ms=now)
    truth = [(t, oi) for t, oi in fake.symbols["SYM0000USDT"].history if start <= t <= now]
    assert [(p.time_ms, p.contracts) for p in points] == [
        (t, pytest.approx(oi, rel=1e-9)) for t, oi in truth
    ]
    assert len(points) == 288 and fake.calls[OPEN_INTEREST] == 2  # 200 a page, newest first
    assert adapter.history_calls() == 2


async def test_history_without_single_side_field_is_halved(
    fake: FakeBybit, clock: FakeClock
) -> None:
    fake.single_oi = False
    fake.set_oi_history("BTCUSDT", [(1_000 * FIVE_MIN, 1234.5)])
    adapter = _adapter(fake, clock)
    points = await adapter.open_interest_history("BTCUSDT", start_ms=0, end_ms=2_000 * FIVE_MIN)
    page = await served(
        fake.url,
        OPEN_INTEREST,
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "intervalTime": "5min",
            "limit": "200",
            "startTime": "0",
            "endTime": str(2_000 * FIVE_MIN),
        },
    )
    assert points[0].contracts == float(page["result"]["list"][0]["openInterest"]) / 2


async def test_history_of_an_unknown_symbol_is_symbol_unavailable(adapter: BybitAdapter) -> None:
    with pytest.raises(SymbolUnavailable, match="NOPEUSDT"):
        await adapter.open_interest_history("NOPEUSDT", start_ms=0, end_ms=FIVE_MIN)


async def test_backfill_stays_within_the_ip_limit(fake: FakeBybit, clock: FakeClock) -> None:
    """700 history requests at once: paced under 600 per 5 s, never banned."""
    names = fake.populate(700, history_hours=0.5)
    # Pacing is under test, not timeouts: on a busy machine 700 loopback requests can
    # take longer than the tests' usual 0.5 s, and timeouts would pause the backfill.
    adapter = _adapter(fake, clock, request_timeout_seconds=30.0)
    now = clock.now_ms()

    async def one(symbol: str) -> str:
        try:
            await adapter.open_interest_history(symbol, start_ms=now - 1_800_000, end_ms=now)
        except HistoryBudgetExhausted:
            return "later"
        return "ok"

    outcomes = await asyncio.gather(*(one(n) for n in names))
    assert fake.rejected == 0 and fake.banned_until_ms == 0
    assert outcomes.count("ok") >= 500  # the rest wait for the next cycle, not for minutes
    assert adapter.blocked_status() is None


# Faults, each through a full cycle.


async def test_5xx_is_retried(adapter: BybitAdapter, fake: FakeBybit) -> None:
    fake.fault(TICKERS, "5xx", times=2)
    cycle = await run_cycle(adapter)
    assert "BTCUSDT" in cycle.oi and fake.calls[TICKERS] == 3


async def test_5xx_that_persists_fails_the_cycle(adapter: BybitAdapter, fake: FakeBybit) -> None:
    await adapter.universe()
    fake.fault(TICKERS, "5xx", times=None)
    with pytest.raises(ExchangeUnavailable, match="HTTP 503"):
        await run_cycle(adapter)


async def test_rate_limit_in_the_envelope_backs_off_and_retries(
    adapter: BybitAdapter, fake: FakeBybit, clock: FakeClock
) -> None:
    fake.fault(TICKERS, "rate_limit")  # HTTP 200, retCode 10006
    cycle = await run_cycle(adapter)
    assert "ETHUSDT" in cycle.premium
    assert fake.calls[TICKERS] == 2 and max(clock.sleeps) >= 1.0


async def test_403_ban_stops_every_request_until_it_ends(
    adapter: BybitAdapter, fake: FakeBybit, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await adapter.universe()
    fake.fault(TICKERS, "ban")
    with caplog.at_level(logging.INFO), pytest.raises(VenueBlocked) as blocked:
        await run_cycle(adapter)
    assert blocked.value.status == 403
    assert fake.calls[TICKERS] == 1  # a ban is not retried: that would extend it
    # The error says it; the cycle logs it once per venue (tests/cycle/test_venue_faults.py).
    assert "HTTP 403" in str(blocked.value) and "bybit" in str(blocked.value)
    assert not caplog.records
    clock.advance(300)
    with pytest.raises(VenueBlocked):
        await run_cycle(adapter)
    assert fake.calls[TICKERS] == 1  # nothing sent while banned
    assert adapter.blocked_status() == 403
    clock.advance(301)
    assert "BTCUSDT" in (await run_cycle(adapter)).oi


@pytest.mark.parametrize("status", [451, 403])
async def test_region_block_is_reported_as_blocked(
    adapter: BybitAdapter, fake: FakeBybit, status: int
) -> None:
    fake.fault("*", "geo", times=None, status=status)
    with pytest.raises(VenueBlocked) as blocked:
        await run_cycle(adapter)
    assert blocked.value.status == status
    assert isinstance(blocked.value, ExchangeUnavailable)  # callers treating it as down work


async def test_error_code_in_the_envelope_is_an_exchange_error(
    adapter: BybitAdapter, fake: FakeBybit
) -> None:
    await adapter.universe()
    fake.fault(TICKERS, "error_code")
    with pytest.raises(ExchangeError, match="10016"):
        await run_cycle(adapter)


async def test_timeout_is_retried(fake: FakeBybit, clock: FakeClock) -> None:
    adapter = _adapter(fake, clock, request_timeout_seconds=SHORT_TIMEOUT)
    fake.fault(TICKERS, "timeout")
    cycle = await run_cycle(adapter)
    assert "BTCUSDT" in cycle.oi and fake.calls[TICKERS] == 2


async def test_malformed_answer(adapter: BybitAdapter, fake: FakeBybit) -> None:
    await adapter.universe()
    fake.fault(TICKERS, "malformed")
    with pytest.raises(MalformedResponse):
        await run_cycle(adapter)


async def test_row_missing_a_field_skips_that_symbol_only(
    adapter: BybitAdapter, fake: FakeBybit, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fault(TICKERS, "missing_fields", symbol="ETHUSDT")  # no markPrice
    with caplog.at_level(logging.WARNING):
        cycle = await run_cycle(adapter)
    assert "ETHUSDT" not in cycle.premium and "ETHUSDT" not in cycle.oi
    assert "BTCUSDT" in cycle.premium
    assert adapter.last_skipped == ["ETHUSDT (markPrice missing)"]
    assert "ETHUSDT" in caplog.text


async def test_delisted_symbol_leaves_the_tickers(adapter: BybitAdapter, fake: FakeBybit) -> None:
    fake.fault(TICKERS, "delisted", symbol="BTCUSDT")
    cycle = await run_cycle(adapter)
    assert "BTCUSDT" not in cycle.oi and "ETHUSDT" in cycle.oi
    with pytest.raises(SymbolUnavailable):
        await adapter.open_interest("BTCUSDT")


async def test_empty_instruments_keeps_the_cached_universe(
    adapter: BybitAdapter, fake: FakeBybit, clock: FakeClock
) -> None:
    first = await adapter.universe()
    fake.fault(INSTRUMENTS, "empty")
    clock.advance(3600)
    assert await adapter.universe() == first


async def test_empty_instruments_without_a_cache_fails(
    adapter: BybitAdapter, fake: FakeBybit
) -> None:
    fake.fault(INSTRUMENTS, "empty")
    with pytest.raises(MalformedResponse, match="no trading USDT perpetuals"):
        await run_cycle(adapter)


async def test_empty_tickers_gives_no_figures(adapter: BybitAdapter, fake: FakeBybit) -> None:
    fake.fault(TICKERS, "empty")
    cycle = await run_cycle(adapter)
    assert cycle.premium == {} and cycle.oi == {}


async def test_failing_history_trips_the_breaker_and_says_so(
    fake: FakeBybit, clock: FakeClock
) -> None:
    fake.populate(5, history_hours=2)
    adapter = _adapter(fake, clock)
    fake.fault(OPEN_INTEREST, "5xx", times=None)
    now = clock.now_ms()
    with pytest.raises(ExchangeUnavailable):
        await adapter.open_interest_history("SYM0000USDT", start_ms=now - 3_600_000, end_ms=now)
    with pytest.raises(HistoryPaused):
        await adapter.open_interest_history("SYM0001USDT", start_ms=now - 3_600_000, end_ms=now)
    trouble = adapter.history_trouble()
    assert trouble is not None and trouble.startswith("bybit open-interest: HTTP 503 ×3")
    assert "backfill paused until" in trouble
    # The bulk call is a separate path: the cycle itself still works.
    assert "BTCUSDT" in (await run_cycle(adapter)).oi


async def test_a_closed_client_refuses_requests_and_opens_no_session(
    fake: FakeBybit, clock: FakeClock
) -> None:
    """At shutdown a task still running (a positioning round, a backfill) must fail
    fast, not open a session nothing would close ("Unclosed client session")."""
    client = venue_client(make_client, fake.url, clock)
    params = {"category": "linear"}
    await client.get_json(TICKERS, params, weight=1)
    await client.close()
    calls = dict(fake.calls)
    with pytest.raises(ExchangeUnavailable, match="client closed"):
        await client.get_json(TICKERS, params, weight=1)
    assert client._session is None and dict(fake.calls) == calls
