"""Each venue's long/short ratio endpoint, read through its client from the venue fakes:
the figure as the venue defines it, and the venue's own ways of saying no (Binance's
shared /futures/data budget answered with 429 and -1003, its 418 ban; Bybit's retCode
10006; OKX's 50011)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.markets import positioning
from bot.markets.base import ExchangeUnavailable, SymbolUnavailable
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.markets.bybit import make_client as bybit_client
from bot.markets.okx import make_client as okx_client
from fakes.fake_binance import FakeBinance
from fakes.fake_bybit import FakeBybit
from fakes.fake_okx import FakeOkx
from fakes.fake_positioning import BINANCE_GLOBAL, OKX_ACCOUNT_RATIO, Ls
from tests.markets.conftest import FakeClock
from tests.markets.venue_helpers import close_clients, served, venue_client, venue_settings


@pytest.fixture(autouse=True)
async def _close() -> AsyncIterator[None]:
    yield
    await close_clients()


async def test_binance_gives_both_ratios_and_shares_the_futures_data_budget(
    clock: FakeClock,
) -> None:
    async with FakeBinance(now_ms=clock.now_ms) as fake:
        fake.add_symbol("BTCUSDT", mark=50_000, index=50_000, funding_rate=0.0001, oi=1e4)
        fake.ls["BTCUSDT"] = Ls(0.66, 0.4)
        client = venue_client(binance_client, fake.url, clock, max_retries=0)
        got = await positioning.binance(client, "BTCUSDT")
        rows = await served(fake.url, BINANCE_GLOBAL, {"symbol": "BTCUSDT", "period": "5m"})
        assert got.account is not None and got.top_position is not None
        assert got.account.value == pytest.approx(float(rows[-1]["longShortRatio"]))
        assert got.account.time_ms == rows[-1]["timestamp"]  # the newest row
        assert got.top_position.value == pytest.approx(0.4 / 0.6, abs=1e-4)
        # One window for openInterestHist and the ratios: the 1001st call of the family
        # in 5 minutes is refused in Binance's words, whichever endpoint it is.
        while fake.take_slot("history", 1000, 300_000):  # say, openInterestHist backfills
            pass
        with pytest.raises(ExchangeUnavailable):
            await positioning.binance(client, "BTCUSDT")
        body = await served(fake.url, BINANCE_GLOBAL, {"symbol": "BTCUSDT", "period": "5m"})
        assert body["code"] == -1003 and "1000 request weight per 5 MINUTE" in body["msg"]


async def test_binance_ban_and_unknown_symbol(clock: FakeClock) -> None:
    async with FakeBinance(now_ms=clock.now_ms) as fake:
        fake.add_symbol("BTCUSDT", mark=50_000, index=50_000, funding_rate=0.0001, oi=1e4)
        client = venue_client(binance_client, fake.url, clock, max_retries=0)
        with pytest.raises(SymbolUnavailable):
            await positioning.binance(client, "NOPEUSDT")  # -1121 Invalid symbol.
        fake.fault(BINANCE_GLOBAL, "ban")
        with pytest.raises(ExchangeUnavailable, match="418"):
            await positioning.binance(client, "BTCUSDT")
        assert client.blocked_for() > 0  # nothing more is sent during the ban


async def test_bybit_ratio_is_buy_over_sell_and_10006_is_a_rate_limit(clock: FakeClock) -> None:
    async with FakeBybit(now_ms=clock.now_ms) as fake:
        fake.add_symbol("BTCUSDT", mark=50_000, index=50_000, funding_rate=0.0001, oi=1e4)
        fake.ls["BTCUSDT"] = Ls(0.58)
        client = venue_client(bybit_client, fake.url, clock, max_retries=0)
        got = await positioning.bybit(client, "BTCUSDT")
        assert got.account is not None and got.top_position is None
        assert got.account.value == pytest.approx(0.58 / 0.42, rel=1e-3)
        with pytest.raises(SymbolUnavailable):
            await positioning.bybit(client, "NOPEUSDT")  # retCode 10001
        fake.fault("/v5/market/account-ratio", "rate_limit")
        with pytest.raises(ExchangeUnavailable, match="429"):
            await positioning.bybit(client, "BTCUSDT")


async def test_okx_ratio_as_sent_and_50011_is_a_rate_limit(clock: FakeClock) -> None:
    async with FakeOkx(now_ms=clock.now_ms) as fake:
        fake.add_symbol("BTC", mark=50_000, index=50_000, funding_rate=0.0001, oi=1e4, ct_val=0.01)
        fake.ls["BTC-USDT-SWAP"] = Ls(0.45)
        client = venue_client(okx_client, fake.url, clock, max_retries=0)
        got = await positioning.okx(client, "BTC-USDT-SWAP")
        assert got.account is not None
        assert got.account.value == pytest.approx(0.45 / 0.55, abs=1e-4)
        with pytest.raises(SymbolUnavailable):
            await positioning.okx(client, "NOPE-USDT-SWAP")  # 51001
        fake.fault(OKX_ACCOUNT_RATIO, "rate_limit")
        with pytest.raises(ExchangeUnavailable, match="429"):
            await positioning.okx(client, "BTC-USDT-SWAP")


async def test_the_ratios_leave_the_backfill_its_reserve_even_on_a_small_budget(
    clock: FakeClock,
) -> None:
    async with FakeBinance(now_ms=clock.now_ms) as fake:
        default = venue_client(binance_client, fake.url, clock, history_calls_per_5m=900)
        small = venue_client(binance_client, fake.url, clock, history_calls_per_5m=90)
        settings = venue_settings()
        assert BinanceAdapter(default, settings).positioning_budget() == (900 - 300, 2, 300.0)
        assert BinanceAdapter(small, settings).positioning_budget() == (90 - 30, 2, 300.0)
