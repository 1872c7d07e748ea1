"""RestClient against the fake: retries, rate limits, bans, budgets, errors."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from bot.config import ExchangeSettings
from bot.markets.base import (
    ExchangeUnavailable,
    HistoryBudgetExhausted,
    HistoryPaused,
    MalformedResponse,
)
from bot.markets.rest_client import (
    HISTORY_BREAKER_FAILURES,
    HISTORY_PAUSE_SECONDS,
    RestClient,
)
from bot.markets.rest_errors import ExchangeApiError
from fakes.fake_binance import (
    EXCHANGE_INFO,
    OPEN_INTEREST,
    OPEN_INTEREST_HIST,
    PREMIUM_INDEX,
    FakeBinance,
)
from tests.markets.conftest import FakeClock, make_client, make_settings


@pytest.fixture(autouse=True)
def _btc(fake: FakeBinance) -> None:
    fake.add_symbol("BTCUSDT", mark=50_010.0, index=50_000.0, funding_rate=0.0001, oi=8e4)


async def test_success_counts_weight_and_reads_server_header(
    client: RestClient, fake: FakeBinance
) -> None:
    rows = await client.get_json(PREMIUM_INDEX, weight=10)
    assert {r["symbol"] for r in rows} >= {"BTCUSDT"}
    await client.get_json(OPEN_INTEREST, {"symbol": "BTCUSDT"}, weight=1)
    assert client.requests() == 2
    assert client.weight_used() == 11
    assert client.server_used_weight() == 11 == fake.minute_weight()
    client.reset_counters()
    assert (client.requests(), client.weight_used(), client.history_calls()) == (0, 0, 0)


async def test_5xx_is_retried_with_bounded_backoff(
    client: RestClient, fake: FakeBinance, clock: FakeClock
) -> None:
    fake.fault(PREMIUM_INDEX, "5xx", times=2)
    rows = await client.get_json(PREMIUM_INDEX, weight=10)
    assert rows
    assert fake.calls[PREMIUM_INDEX] == 3
    assert len(clock.sleeps) == 2
    assert all(0 < s <= 5.0 for s in clock.sleeps)
    # Retries spend weight at Binance too.
    assert client.weight_used() == 30


async def test_5xx_forever_gives_up_naming_the_url(client: RestClient, fake: FakeBinance) -> None:
    fake.fault(PREMIUM_INDEX, "5xx", times=None, status=502)
    with pytest.raises(ExchangeUnavailable) as info:
        await client.get_json(PREMIUM_INDEX, weight=10)
    assert f"{fake.url}{PREMIUM_INDEX}" in str(info.value)
    assert "502" in str(info.value)
    assert fake.calls[PREMIUM_INDEX] == 3  # 1 + max_retries


async def test_429_waits_for_retry_after_then_succeeds(
    client: RestClient, fake: FakeBinance, clock: FakeClock
) -> None:
    fake.fault(OPEN_INTEREST, "rate_limit", retry_after=7)
    data = await client.get_json(OPEN_INTEREST, {"symbol": "BTCUSDT"}, weight=1)
    assert data["symbol"] == "BTCUSDT"
    assert clock.sleeps == [7.0]
    assert fake.calls[OPEN_INTEREST] == 2


async def test_429_pauses_other_requests_too(fake: FakeBinance, clock: FakeClock) -> None:
    fake.fault(OPEN_INTEREST, "rate_limit", retry_after=3)
    async with make_client(make_settings(fake, max_retries=0), clock) as client:
        with pytest.raises(ExchangeUnavailable, match="429"):
            await client.get_json(OPEN_INTEREST, {"symbol": "BTCUSDT"}, weight=1)
        # Hammering on after a 429 earns a 418: the next request waits out the pause.
        assert await client.get_json(PREMIUM_INDEX, weight=10)
    assert clock.sleeps == [3.0]


async def test_long_retry_after_fails_fast_instead_of_stalling(
    client: RestClient, fake: FakeBinance, clock: FakeClock
) -> None:
    fake.fault(PREMIUM_INDEX, "rate_limit", retry_after=600)
    with pytest.raises(ExchangeUnavailable, match="429"):
        await client.get_json(PREMIUM_INDEX, weight=10)
    assert clock.sleeps == []
    assert client.blocked_for() == pytest.approx(600)


async def test_418_blocks_every_request_until_the_ban_ends(
    client: RestClient, fake: FakeBinance, clock: FakeClock
) -> None:
    fake.fault(PREMIUM_INDEX, "ban", retry_after=120)
    with pytest.raises(ExchangeUnavailable, match="418"):
        await client.get_json(PREMIUM_INDEX, weight=10)
    before = sum(fake.calls.values())
    with pytest.raises(ExchangeUnavailable, match="ban"):
        await client.get_json(OPEN_INTEREST, {"symbol": "BTCUSDT"}, weight=1)
    assert sum(fake.calls.values()) == before  # failed fast, nothing sent
    assert clock.sleeps == []
    clock.advance(121)
    assert client.blocked_for() == 0
    assert await client.get_json(OPEN_INTEREST, {"symbol": "BTCUSDT"}, weight=1)


async def test_timeout_is_retried(fake: FakeBinance, clock: FakeClock) -> None:
    fake.fault(OPEN_INTEREST, "timeout", symbol="BTCUSDT")
    async with make_client(make_settings(fake, request_timeout_seconds=1.0), clock) as client:
        data = await client.get_json(OPEN_INTEREST, {"symbol": "BTCUSDT"}, weight=1)
    assert data["openInterest"] == "80000.00000000"
    assert fake.calls[OPEN_INTEREST] == 2


async def test_timeouts_forever_name_the_url(fake: FakeBinance, clock: FakeClock) -> None:
    fake.fault(EXCHANGE_INFO, "timeout", times=None)
    async with make_client(make_settings(fake, request_timeout_seconds=1.0), clock) as client:
        with pytest.raises(ExchangeUnavailable, match=r"no answer within 1(\.0)?s") as info:
            await client.get_json(EXCHANGE_INFO, weight=1)
    assert fake.url in str(info.value)


async def test_malformed_json_is_an_error_not_a_crash(
    client: RestClient, fake: FakeBinance
) -> None:
    fake.fault(PREMIUM_INDEX, "malformed")
    with pytest.raises(MalformedResponse, match="not JSON"):
        await client.get_json(PREMIUM_INDEX, weight=10)
    assert fake.calls[PREMIUM_INDEX] == 1
    assert await client.get_json(PREMIUM_INDEX, weight=10)


async def test_4xx_carries_binance_code_and_is_not_retried(
    client: RestClient, fake: FakeBinance
) -> None:
    with pytest.raises(ExchangeApiError) as info:
        await client.get_json(OPEN_INTEREST, {"symbol": "NOPEUSDT"}, weight=1)
    assert (info.value.status, info.value.code, info.value.msg) == (400, -1121, "Invalid symbol.")
    assert fake.calls[OPEN_INTEREST] == 1


async def test_unreachable_host_names_the_url(clock: FakeClock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ExchangeSettings(base_url=f"http://127.0.0.1:{port}", max_retries=1)
    async with make_client(settings, clock) as client:
        with pytest.raises(ExchangeUnavailable) as info:
            await client.get_json(EXCHANGE_INFO, weight=1)
    message = str(info.value)
    assert message.startswith(f"cannot reach http://127.0.0.1:{port}{EXCHANGE_INFO}")
    assert "Connection refused" in message
    assert len(clock.sleeps) == 1


async def test_near_the_weight_limit_waits_for_the_next_minute(
    fake: FakeBinance, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(fake)  # limit 2400, margin 300: sends stop at 2100
    fake.add_external_weight(2085)
    async with make_client(settings, clock) as client:
        await client.get_json(PREMIUM_INDEX, weight=10)  # server now reports 2095
        assert client.server_used_weight() == 2095
        with caplog.at_level(logging.WARNING, logger="bot.markets.throttle"):
            await asyncio.gather(*(client.get_json(PREMIUM_INDEX, weight=10) for _ in range(3)))
    assert clock.sleeps and clock.sleeps[0] == pytest.approx(50.25)
    warnings = [r for r in caplog.records if "weight" in r.getMessage()]
    assert len(warnings) == 1
    assert fake.minute_weight() == 30  # all three went out in the new minute
    assert fake.rejected_429 == 0


async def test_fake_enforces_the_weight_limit_and_client_honours_it(
    fake: FakeBinance, clock: FakeClock
) -> None:
    # Someone else on our IP spent the whole minute; we only learn it from the 429.
    fake.add_external_weight(2400)
    async with make_client(make_settings(fake, weight_safety_margin=0), clock) as client:
        assert await client.get_json(PREMIUM_INDEX, weight=10)
    assert fake.rejected_429 == 1
    assert clock.sleeps == [50.0]  # Retry-After: seconds to the next minute


async def test_history_budget_is_a_sliding_5_minute_window(
    fake: FakeBinance, clock: FakeClock
) -> None:
    async with make_client(make_settings(fake, history_calls_per_5m=3), clock) as client:
        params = {"symbol": "BTCUSDT", "period": "5m", "limit": 10}
        for _ in range(3):
            await client.get_json(OPEN_INTEREST_HIST, params, weight=0, history=True)
        assert client.history_budget_left(OPEN_INTEREST_HIST) == 0
        with pytest.raises(HistoryBudgetExhausted, match="3 calls per 5 min"):
            await client.get_json(OPEN_INTEREST_HIST, params, weight=0, history=True)
        assert fake.calls[OPEN_INTEREST_HIST] == 3
        assert client.history_calls() == 3
        clock.advance(301)
        await client.get_json(OPEN_INTEREST_HIST, params, weight=0, history=True)
        assert client.weight_used() == 0


async def test_concurrency_is_bounded(fake: FakeBinance, clock: FakeClock) -> None:
    fake.latency = 0.02
    async with make_client(make_settings(fake, concurrency=3), clock) as client:
        await asyncio.gather(
            *(client.get_json(OPEN_INTEREST, {"symbol": "BTCUSDT"}, weight=1) for _ in range(12))
        )
    assert fake.max_in_flight == 3


HIST_PARAMS = {"symbol": "BTCUSDT", "period": "5m", "limit": 30}


async def test_history_retries_count_against_the_budget_and_trip_the_breaker(
    fake: FakeBinance, clock: FakeClock
) -> None:
    settings = make_settings(fake, history_calls_per_5m=10, max_retries=2)
    async with make_client(settings, clock) as client:
        fake.fault(OPEN_INTEREST_HIST, "5xx", times=None, status=502)
        with pytest.raises(ExchangeUnavailable, match="HTTP 502"):
            await client.get_json(OPEN_INTEREST_HIST, HIST_PARAMS, weight=0, history=True)
        # Three attempts, three slots of the budget.
        assert fake.calls[OPEN_INTEREST_HIST] == 3 == HISTORY_BREAKER_FAILURES
        assert client.history_calls() == 3 and client.history_budget_left(OPEN_INTEREST_HIST) == 7
        # The breaker is open: nothing more is sent, and the error says why and how long.
        with pytest.raises(HistoryPaused, match=r"backfill paused until \d\d:\d\d:\d\d UTC"):
            await client.get_json(OPEN_INTEREST_HIST, HIST_PARAMS, weight=0, history=True)
        assert fake.calls[OPEN_INTEREST_HIST] == 3
        assert client.history_failures() == {"HTTP 502": 3}
        # Only history pauses: other endpoints carry on.
        assert await client.get_json(PREMIUM_INDEX, weight=10)
        # After the pause one probe goes out; a success closes the breaker.
        fake.clear_faults()
        clock.advance(HISTORY_PAUSE_SECONDS)
        assert client.history_paused_until() is None
        await client.get_json(OPEN_INTEREST_HIST, HIST_PARAMS, weight=0, history=True)
        assert fake.calls[OPEN_INTEREST_HIST] == 4


async def test_history_breaker_pause_doubles_while_the_endpoint_keeps_failing(
    fake: FakeBinance, clock: FakeClock
) -> None:
    settings = make_settings(fake, max_retries=2)
    async with make_client(settings, clock) as client:
        fake.fault(OPEN_INTEREST_HIST, "5xx", times=None, status=502)
        pauses = []
        for _ in range(3):
            with pytest.raises(ExchangeUnavailable):
                await client.get_json(OPEN_INTEREST_HIST, HIST_PARAMS, weight=0, history=True)
            until = client.history_paused_until()
            assert until is not None
            pauses.append(round(until - clock.time()))
            clock.advance(until - clock.time())
        assert pauses == [60, 120, 240]


async def test_a_symbol_error_from_history_does_not_trip_the_breaker(
    client: RestClient, fake: FakeBinance
) -> None:
    fake.delist("BTCUSDT")
    for _ in range(HISTORY_BREAKER_FAILURES + 1):
        with pytest.raises(ExchangeApiError):
            await client.get_json(OPEN_INTEREST_HIST, HIST_PARAMS, weight=0, history=True)
    assert client.history_paused_until() is None
