"""OkxAdapter against the fake: real shapes, contract sizes, four bulk calls, faults."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from bot.markets.base import (
    BulkOpenInterest,
    ExchangeAdapter,
    ExchangeError,
    ExchangeUnavailable,
    HistoryPaused,
    Instrument,
    MalformedResponse,
    SymbolUnavailable,
    VenueBlocked,
)
from bot.markets.okx import LIMITS, OkxAdapter, make_client
from fakes.fake_okx import (
    FUNDING_RATE,
    INDEX_TICKERS,
    INSTRUMENTS,
    MARK_PRICE,
    OI_HISTORY,
    OPEN_INTEREST,
    TICKERS,
    FakeOkx,
)
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
BTC, ETH, PEPE = "BTC-USDT-SWAP", "ETH-USDT-SWAP", "PEPE-USDT-SWAP"


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeOkx]:
    async with FakeOkx(now_ms=clock.now_ms, timeout_delay=2.0) as server:
        server.add_symbol(
            "BTC", mark=50_010.0, index=50_000.0, funding_rate=0.0001, oi=20_000.0, ct_val=0.01
        )
        server.add_symbol(
            "ETH",
            mark=2_999.0,
            index=3_000.0,
            funding_rate=-0.00005,
            oi=300_000.0,
            ct_val=0.1,
            funding_interval_hours=4,
        )
        server.add_symbol(
            "PEPE", mark=0.000012, index=0.00001199, funding_rate=0.0002, oi=4e9, ct_val=10_000_000
        )
        yield server


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    await close_clients()


def _adapter(fake: FakeOkx, clock: FakeClock, **overrides: object) -> OkxAdapter:
    client = venue_client(make_client, fake.url, clock, **overrides)
    return OkxAdapter(client, venue_settings(**overrides), clock=clock.time)


@pytest.fixture
def adapter(fake: FakeOkx, clock: FakeClock) -> OkxAdapter:
    return _adapter(fake, clock)


async def _served_rows(fake: FakeOkx, path: str, params: dict[str, str]) -> dict[str, dict]:  # type: ignore[type-arg]
    body = await served(fake.url, path, params)
    assert body["code"] == "0"
    return {row["instId"]: row for row in body["data"]}


# Protocol and universe.


def test_implements_the_protocol_and_bulk_oi(adapter: OkxAdapter) -> None:
    typed: ExchangeAdapter = adapter
    assert typed.name == "okx"
    assert isinstance(adapter, BulkOpenInterest)


async def test_universe_keeps_live_linear_usdt_crypto_swaps(adapter: OkxAdapter) -> None:
    universe = await adapter.universe()
    # Decoys: inverse, USDC-settled, suspended, preopen, pre-market and a metal swap.
    assert [i.symbol for i in universe] == [BTC, ETH, PEPE]
    assert universe[0] == Instrument("okx", BTC, "BTC", "USDT", 1_611_916_800_000)
    # quoteCcy is empty on swaps; the coin comes from ctValCcy, one coin per unit.
    assert (universe[2].coin, universe[2].multiplier) == ("PEPE", 1.0)


async def test_volume_floor_uses_24h_volume_in_usd(fake: FakeOkx, clock: FakeClock) -> None:
    fake.set_market(ETH, volume_coins=1_000.0)  # $3m a day at 2,999
    fake.set_market(PEPE, volume_coins=1e12)  # $12m: volume is in coins, priced per coin
    adapter = _adapter(fake, clock, min_quote_volume_usd=5_000_000)
    assert [i.symbol for i in await adapter.universe()] == [BTC, PEPE]
    assert fake.calls[TICKERS] == 1


# Four bulk calls per cycle.


async def test_a_cycle_is_four_bulk_calls(adapter: OkxAdapter, fake: FakeOkx) -> None:
    await run_cycle(adapter)
    for path in (OPEN_INTEREST, MARK_PRICE, INDEX_TICKERS, FUNDING_RATE):
        assert fake.calls[path] == 1, path
    assert fake.calls[INSTRUMENTS] == 1
    assert fake.calls[OI_HISTORY] == 0


async def test_figures_match_the_served_payloads(adapter: OkxAdapter, fake: FakeOkx) -> None:
    cycle = await run_cycle(adapter)
    instruments = await _served_rows(fake, INSTRUMENTS, {"instType": "SWAP"})
    oi = await _served_rows(fake, OPEN_INTEREST, {"instType": "SWAP"})
    marks = await _served_rows(fake, MARK_PRICE, {"instType": "SWAP"})
    indexes = await _served_rows(fake, INDEX_TICKERS, {"quoteCcy": "USDT"})
    funding = await _served_rows(fake, FUNDING_RATE, {"instId": "ANY"})
    for inst in (BTC, ETH, PEPE):
        coins = float(oi[inst]["oi"]) * float(instruments[inst]["ctVal"])
        assert cycle.oi[inst].contracts == pytest.approx(coins, rel=1e-12)
        assert cycle.oi[inst].contracts == pytest.approx(float(oi[inst]["oiCcy"]), rel=1e-9)
        assert cycle.premium[inst].mark_price == float(marks[inst]["markPx"])
        uly = instruments[inst]["uly"]
        assert cycle.premium[inst].index_price == float(indexes[uly]["idxPx"])
        assert cycle.premium[inst].funding_rate == float(funding[inst]["fundingRate"])
        # OKX's fundingRate is its prediction for the coming settlement: a rule's
        # funding_next_8h (the other venues publish none).
        assert cycle.premium[inst].predicted_funding_rate == float(funding[inst]["fundingRate"])
        span = int(funding[inst]["nextFundingTime"]) - int(funding[inst]["fundingTime"])
        assert cycle.intervals[inst] == span // 3_600_000
    assert cycle.oi[BTC].contracts == pytest.approx(20_000.0)  # 2,000,000 contracts of 0.01
    assert cycle.intervals[ETH] == 4


async def test_funding_interval_is_read_every_cycle(
    adapter: OkxAdapter, fake: FakeOkx, clock: FakeClock
) -> None:
    assert (await run_cycle(adapter)).intervals[BTC] == 8
    fake.set_market(BTC, funding_interval_hours=2)  # OKX shortened it
    clock.advance(300)
    assert (await run_cycle(adapter)).intervals[BTC] == 2
    assert fake.calls[FUNDING_RATE] == 2 and fake.calls[INSTRUMENTS] == 1


async def test_oi_before_the_universe_uses_the_coin_figure(adapter: OkxAdapter) -> None:
    oi = await adapter.open_interest_all()  # no ctVal known yet: oiCcy, already coins
    assert oi[BTC].contracts == pytest.approx(20_000.0)


# History (backfill only).


async def test_history_pages_back_with_end_in_coins(fake: FakeOkx, clock: FakeClock) -> None:
    names = fake.populate(1, history_hours=26)
    adapter = _adapter(fake, clock)
    await adapter.universe()
    now = clock.now_ms() // FIVE_MIN * FIVE_MIN
    start = now - 24 * 3_600_000
    points = await adapter.open_interest_history(names[0], start_ms=start, end_ms=now)
    truth = [(t, c) for t, c in fake.symbols[names[0]].history if start <= t <= now]
    assert [p.time_ms for p in points] == [t for t, _ in truth]
    assert [p.contracts for p in points] == pytest.approx([c for _, c in truth], rel=1e-9)
    assert len(points) == 288 and fake.calls[OI_HISTORY] == 3  # 100 rows a page
    ends = [int(p["end"]) for path, p in fake.requests_log if path == OI_HISTORY]
    assert ends == sorted(ends, reverse=True)


async def test_history_of_an_unknown_swap_is_symbol_unavailable(adapter: OkxAdapter) -> None:
    with pytest.raises(SymbolUnavailable, match="NOPE-USDT-SWAP"):
        await adapter.open_interest_history("NOPE-USDT-SWAP", start_ms=0, end_ms=FIVE_MIN)


async def test_backfill_stays_within_the_endpoint_limit(clock: FakeClock) -> None:
    """20 history requests at once: the client books them at most 5 per window (the
    endpoint's limit), and all are answered. Checked on the client's own schedule, on
    the test clock: arrival times at a loopback server depend on how busy the machine
    is, so the fake's own limiter is off here (its 429s are tested below)."""
    async with FakeOkx(now_ms=clock.now_ms, window_ms=0) as fake:
        names = fake.populate(20, history_hours=0.5)
        client = venue_client(make_client, fake.url, clock, request_timeout_seconds=5.0)
        booked: list[float] = []

        def on_booked(path: str, at: float) -> None:
            if path == OI_HISTORY:
                booked.append(at)

        client.throttle.on_booked = on_booked
        adapter = OkxAdapter(client, venue_settings(), clock=clock.time)
        now = clock.now_ms()
        await asyncio.gather(
            *(adapter.open_interest_history(n, start_ms=now - 1_800_000, end_ms=now) for n in names)
        )
    assert fake.calls[OI_HISTORY] == 20 and len(booked) == 20
    window = LIMITS.windows[OI_HISTORY]
    booked.sort()
    assert all(
        later - first >= window.seconds
        for first, later in zip(booked, booked[window.limit :], strict=False)
    ), booked


# Faults, each through a full cycle.


async def test_5xx_is_retried(adapter: OkxAdapter, fake: FakeOkx) -> None:
    fake.fault(MARK_PRICE, "5xx", times=2)
    cycle = await run_cycle(adapter)
    assert BTC in cycle.premium and fake.calls[MARK_PRICE] == 3


async def test_5xx_that_persists_fails_the_cycle(adapter: OkxAdapter, fake: FakeOkx) -> None:
    fake.fault(OPEN_INTEREST, "5xx", times=None)
    with pytest.raises(ExchangeUnavailable, match="HTTP 503"):
        await run_cycle(adapter)


@pytest.mark.parametrize("kind", ["rate_limit", "ban"])  # 429 + 50011; 50011 inside a 200
async def test_50011_backs_off_and_retries(
    adapter: OkxAdapter, fake: FakeOkx, clock: FakeClock, kind: str
) -> None:
    fake.fault(FUNDING_RATE, kind)
    cycle = await run_cycle(adapter)
    assert cycle.intervals[ETH] == 4
    assert fake.calls[FUNDING_RATE] == 2 and max(clock.sleeps) >= 1.0


async def test_own_pace_never_draws_a_50011(fake: FakeOkx, clock: FakeClock) -> None:
    adapter = _adapter(fake, clock)
    for _ in range(12):  # 12 cycles inside a few seconds of the fake's clock
        await run_cycle(adapter)
        clock.advance(0.1)
        adapter._marks._at = adapter._oi._at = float("-inf")  # force fresh bulk calls
        adapter._indexes._at = adapter._funding._at = float("-inf")
    assert fake.rejected == 0 and fake.calls[MARK_PRICE] == 12


@pytest.mark.parametrize("status", [451, 403])
async def test_region_block_is_reported_as_blocked(
    adapter: OkxAdapter, fake: FakeOkx, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fault("*", "geo", times=None, status=status)
    with caplog.at_level(logging.INFO), pytest.raises(VenueBlocked) as blocked:
        await run_cycle(adapter)
    assert blocked.value.status == status
    assert f"HTTP {status}" in str(blocked.value)
    assert not caplog.records  # the cycle logs it, once per venue
    sent = sum(fake.calls.values())
    with pytest.raises(VenueBlocked):
        await run_cycle(adapter)
    assert sum(fake.calls.values()) == sent  # nothing sent while blocked


async def test_error_code_is_an_exchange_error(adapter: OkxAdapter, fake: FakeOkx) -> None:
    await adapter.universe()
    fake.fault(INDEX_TICKERS, "error_code")
    with pytest.raises(ExchangeError, match="50026"):
        await run_cycle(adapter)


async def test_timeout_is_retried(fake: FakeOkx, clock: FakeClock) -> None:
    adapter = _adapter(fake, clock, request_timeout_seconds=SHORT_TIMEOUT)
    fake.fault(OPEN_INTEREST, "timeout")
    cycle = await run_cycle(adapter)
    assert BTC in cycle.oi and fake.calls[OPEN_INTEREST] == 2


async def test_malformed_answer(adapter: OkxAdapter, fake: FakeOkx) -> None:
    await adapter.universe()
    fake.fault(MARK_PRICE, "malformed")
    with pytest.raises(MalformedResponse):
        await run_cycle(adapter)


async def test_missing_index_row_field_skips_that_swap_only(
    adapter: OkxAdapter, fake: FakeOkx, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fault(INDEX_TICKERS, "missing_fields", symbol="ETH-USDT")  # keyed by underlying
    with caplog.at_level(logging.WARNING):
        cycle = await run_cycle(adapter)
    assert ETH not in cycle.premium and BTC in cycle.premium
    assert ETH in cycle.oi  # OI comes from its own call
    assert adapter.last_skipped == [ETH]
    assert ETH in caplog.text


async def test_missing_oi_field_skips_that_swap_only(adapter: OkxAdapter, fake: FakeOkx) -> None:
    fake.fault(OPEN_INTEREST, "missing_fields", symbol=BTC)
    cycle = await run_cycle(adapter)
    assert BTC not in cycle.oi and ETH in cycle.oi
    with pytest.raises(SymbolUnavailable):
        await adapter.open_interest(BTC)


async def test_delisted_swap_leaves_the_bulk_answers(adapter: OkxAdapter, fake: FakeOkx) -> None:
    fake.fault(MARK_PRICE, "delisted", symbol=PEPE)
    cycle = await run_cycle(adapter)
    assert PEPE not in cycle.premium and PEPE in cycle.oi


async def test_empty_instruments_keeps_the_cached_universe(
    adapter: OkxAdapter, fake: FakeOkx, clock: FakeClock
) -> None:
    first = await adapter.universe()
    fake.fault(INSTRUMENTS, "empty")
    clock.advance(3600)
    assert await adapter.universe() == first


async def test_empty_bulk_answer_gives_no_figures(adapter: OkxAdapter, fake: FakeOkx) -> None:
    fake.fault(OPEN_INTEREST, "empty")
    cycle = await run_cycle(adapter)
    assert cycle.oi == {} and BTC in cycle.premium


async def test_failing_history_trips_the_breaker_and_says_so(
    fake: FakeOkx, clock: FakeClock
) -> None:
    names = fake.populate(3, history_hours=2)
    adapter = _adapter(fake, clock)
    fake.fault(OI_HISTORY, "5xx", times=None)
    now = clock.now_ms()
    with pytest.raises(ExchangeUnavailable):
        await adapter.open_interest_history(names[0], start_ms=now - 3_600_000, end_ms=now)
    with pytest.raises(HistoryPaused):
        await adapter.open_interest_history(names[1], start_ms=now - 3_600_000, end_ms=now)
    trouble = adapter.history_trouble()
    assert trouble is not None and trouble.startswith("okx open-interest-history: HTTP 503 ×3")
    assert BTC in (await run_cycle(adapter)).oi
