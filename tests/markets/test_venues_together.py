"""The three venues side by side: each adapter's figures in coin units and the
aggregate per coin, checked against figures computed straight from what the three fakes
serve (not from the adapters). The wiring (scorer, storage, scan) comes on top of this."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.cycle.venues import coins_across_venues, venue_sample
from bot.markets import bybit, okx
from bot.markets.base import BulkOpenInterest, Instrument
from bot.markets.binance import BinanceAdapter
from bot.scoring.aggregate import (
    Aggregate,
    VenueSample,
    aggregate,
)
from fakes.fake_binance import FakeBinance
from fakes.fake_bybit import FakeBybit
from fakes.fake_okx import FakeOkx
from tests.markets.conftest import FakeClock, make_client, make_settings
from tests.markets.venue_helpers import close_clients, served, venue_client, venue_settings

HOUR = 3_600_000


@pytest.fixture
async def fakes(clock: FakeClock) -> AsyncIterator[tuple[FakeBinance, FakeBybit, FakeOkx]]:
    async with (
        FakeBinance(now_ms=clock.now_ms) as fb,
        FakeBybit(now_ms=clock.now_ms) as fy,
        FakeOkx(now_ms=clock.now_ms) as fo,
    ):
        fb.add_symbol("BTCUSDT", mark=50_010.0, index=50_000.0, funding_rate=0.0001, oi=80_000.0)
        fy.add_symbol(
            "BTCUSDT",
            mark=50_020.0,
            index=50_000.0,
            funding_rate=0.0001,
            oi=50_000.0,
            funding_interval_hours=4,
        )
        fo.add_symbol(
            "BTC", mark=49_990.0, index=50_000.0, funding_rate=0.00005, oi=20_000.0, ct_val=0.01
        )
        fb.add_symbol("1000PEPEUSDT", mark=0.0121, index=0.012, funding_rate=0.0003, oi=4e6)
        fy.add_symbol("1000PEPEUSDT", mark=0.0120, index=0.012, funding_rate=0.0001, oi=2e6)
        fo.add_symbol(
            "PEPE", mark=0.0000119, index=0.000012, funding_rate=-0.0001, oi=3e9, ct_val=1e7
        )
        fb.add_symbol("ONLYUSDT", mark=1.0, index=1.0, funding_rate=0.0001, oi=1e6)
        now = clock.now_ms() // 300_000 * 300_000
        fb.set_oi_history("BTCUSDT", [(now - HOUR, 78_000.0)])
        fy.set_oi_history("BTCUSDT", [(now - HOUR, 50_500.0)])
        fo.set_oi_history("BTC-USDT-SWAP", [(now - HOUR, 19_000.0)])
        yield fb, fy, fo
    await close_clients()


def _adapters(fakes: tuple[FakeBinance, FakeBybit, FakeOkx], clock: FakeClock) -> list[Any]:
    fb, fy, fo = fakes
    settings = make_settings(fb)
    return [
        BinanceAdapter(make_client(settings, clock), settings, clock=clock.time),
        bybit.BybitAdapter(
            venue_client(bybit.make_client, fy.url, clock), venue_settings(), clock=clock.time
        ),
        okx.OkxAdapter(
            venue_client(okx.make_client, fo.url, clock), venue_settings(), clock=clock.time
        ),
    ]


async def _samples(adapter: Any, clock: FakeClock) -> tuple[list[Instrument], list[VenueSample]]:
    """One venue's cycle, as the wiring will run it, turned into coin-unit samples."""
    universe = await adapter.universe()
    premium = await adapter.premium_index()
    intervals = await adapter.funding_intervals()
    if isinstance(adapter, BulkOpenInterest):
        oi = {s: o.contracts for s, o in (await adapter.open_interest_all()).items()}
    else:
        oi = {i.symbol: (await adapter.open_interest(i.symbol)).contracts for i in universe}
    anchor = clock.now_ms() // 300_000 * 300_000 - HOUR
    samples = []
    for inst in universe:
        history = await adapter.open_interest_history(inst.symbol, start_ms=anchor, end_ms=anchor)
        then = {"1h": history[0].contracts if history else None}
        hours = intervals.get(inst.symbol, 8)
        samples.append(venue_sample(inst, premium[inst.symbol], oi[inst.symbol], hours, then))
    return universe, samples


async def _expected_from_payloads(
    fakes: tuple[FakeBinance, FakeBybit, FakeOkx],
) -> dict[str, dict[str, tuple[float, float, float, float]]]:
    """coin -> venue -> (coins, USD per coin, funding %/8h, basis %), from raw answers."""
    fb, fy, fo = fakes
    out: dict[str, dict[str, tuple[float, float, float, float]]] = {"BTC": {}, "PEPE": {}}
    premium = {r["symbol"]: r for r in await served(fb.url, "/fapi/v1/premiumIndex", {})}
    for symbol, coin, mult in (("BTCUSDT", "BTC", 1), ("1000PEPEUSDT", "PEPE", 1000)):
        oi = await served(fb.url, "/fapi/v1/openInterest", {"symbol": symbol})
        mark, index = float(premium[symbol]["markPrice"]), float(premium[symbol]["indexPrice"])
        f8 = float(premium[symbol]["lastFundingRate"]) * 100  # 8h on Binance here
        out[coin]["binance"] = (float(oi["openInterest"]) * mult, mark / mult, f8, _b(mark, index))
    tickers = await served(fy.url, "/v5/market/tickers", {"category": "linear"})
    rows = {r["symbol"]: r for r in tickers["result"]["list"]}
    for symbol, coin, mult in (("BTCUSDT", "BTC", 1), ("1000PEPEUSDT", "PEPE", 1000)):
        r = rows[symbol]
        mark, index = float(r["markPrice"]), float(r["indexPrice"])
        f8 = float(r["fundingRate"]) * 100 * 8 / int(r["fundingIntervalHour"])
        coins = float(r["openInterest"]) / 2 * mult  # both sides -> one
        out[coin]["bybit"] = (coins, mark / mult, f8, _b(mark, index))
    inst = {
        r["instId"]: r
        for r in (await served(fo.url, okx.INSTRUMENTS, {"instType": "SWAP"}))["data"]
    }
    ois = {
        r["instId"]: r
        for r in (await served(fo.url, okx.OPEN_INTEREST, {"instType": "SWAP"}))["data"]
    }
    marks = {
        r["instId"]: r for r in (await served(fo.url, okx.MARK_PRICE, {"instType": "SWAP"}))["data"]
    }
    idx = {
        r["instId"]: r
        for r in (await served(fo.url, okx.INDEX_TICKERS, {"quoteCcy": "USDT"}))["data"]
    }
    fund = {
        r["instId"]: r for r in (await served(fo.url, okx.FUNDING_RATE, {"instId": "ANY"}))["data"]
    }
    for inst_id, coin in (("BTC-USDT-SWAP", "BTC"), ("PEPE-USDT-SWAP", "PEPE")):
        mark = float(marks[inst_id]["markPx"])
        index = float(idx[inst[inst_id]["uly"]]["idxPx"])
        hours = (int(fund[inst_id]["nextFundingTime"]) - int(fund[inst_id]["fundingTime"])) / HOUR
        f8 = float(fund[inst_id]["fundingRate"]) * 100 * 8 / hours
        coins = float(ois[inst_id]["oi"]) * float(inst[inst_id]["ctVal"])
        out[coin]["okx"] = (coins, mark, f8, _b(mark, index))
    return out


def _b(mark: float, index: float) -> float:
    return (mark - index) / index * 100


async def test_each_coin_aggregates_as_the_formulas_say(
    fakes: tuple[FakeBinance, FakeBybit, FakeOkx], clock: FakeClock
) -> None:
    instruments: list[Instrument] = []
    samples: dict[tuple[str, str], VenueSample] = {}
    for adapter in _adapters(fakes, clock):
        universe, venue_samples = await _samples(adapter, clock)
        instruments += universe
        for inst, sample in zip(universe, venue_samples, strict=True):
            samples[(inst.coin, sample.venue)] = sample
    grouped = coins_across_venues(instruments)
    assert sorted(grouped) == ["BTC", "PEPE"]  # ONLY trades on Binance alone
    expected = await _expected_from_payloads(fakes)
    results: dict[str, Aggregate] = {}
    for coin, venues in grouped.items():
        agg = aggregate(coin, [samples[(coin, v)] for v in venues], windows=("1h",))
        assert agg is not None
        results[coin] = agg
        rows = expected[coin]
        usd = {v: c * p for v, (c, p, _, _) in rows.items()}
        assert agg.oi_coins == pytest.approx(sum(c for c, _, _, _ in rows.values()))
        assert agg.oi_usd == pytest.approx(sum(usd.values()))
        f8 = sum(rows[v][2] * usd[v] for v in rows) / sum(usd.values())
        basis = sum(rows[v][3] * usd[v] for v in rows) / sum(usd.values())
        assert agg.funding_8h_pct == pytest.approx(f8)
        assert agg.basis_pct == pytest.approx(basis)
        assert {s.venue: s.oi_coins for s in agg.venues} == pytest.approx(
            {v: c for v, (c, _, _, _) in rows.items()}
        )
    # BTC: one side everywhere, 80,000 + 50,000 + 20,000 coins; 1h ago 147,500.
    assert results["BTC"].oi_coins == pytest.approx(150_000.0)
    assert results["BTC"].oi_change_pct["1h"] == pytest.approx(2_500 / 147_500 * 100)
    # PEPE: 4e9 (Binance, 1000x) + 2e9 (Bybit, 1000x) + 3e9 (OKX) coins, priced per coin.
    assert results["PEPE"].oi_coins == pytest.approx(9e9)
    assert results["PEPE"].mark_price == pytest.approx(results["PEPE"].oi_usd / 9e9)
    assert 0.0000119 <= (results["PEPE"].mark_price or 0) <= 0.0000121
    assert results["PEPE"].oi_change_pct["1h"] is None  # no history served: unknown, not 0
