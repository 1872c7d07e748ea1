"""Long/short positioning through the three venue fakes and a real database: the values
each venue serves end up in the rows as docs/scoring.md defines them, the budget goes
to the subscribed and largest symbols first and then round the rest, and a failing or
rate-limited endpoint leaves its field null without failing the round or the cycle."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle.positioning import PositioningCollector
from bot.markets.adapters import open_adapters
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.markets.binance_constants import OPEN_INTEREST_HIST, POSITIONING_RESERVE
from bot.markets.rest_client import RestClient
from bot.service import Parts
from bot.storage import chat_repo
from bot.views import positioning as ls_view
from bot.views.market import latest_market, snapshot_to_json
from fakes.fake_binance import FakeBinance
from fakes.fake_bybit import FakeBybit
from fakes.fake_okx import FakeOkx
from fakes.fake_positioning import BINANCE_GLOBAL, BINANCE_TOP, BYBIT_ACCOUNT_RATIO, Ls
from fakes.fake_positioning import OKX_ACCOUNT_RATIO as OKX_PATH
from tests.markets.conftest import FakeClock
from tests.markets.venue_helpers import close_clients, venue_client, venue_settings
from tests.test_scan_venues import _set_up

Fakes = tuple[FakeBinance, FakeBybit, FakeOkx]


def _settings(fakes: Fakes) -> Settings:
    fb, fy, fo = fakes
    return Settings(
        exchange={
            "venues": ["binance", "bybit", "okx"],
            "base_url": fb.url,
            "bybit_base_url": fy.url,
            "okx_base_url": fo.url,
            "max_retries": 0,
        },
        scorer={"interval_seconds": 5},
    )


@contextlib.asynccontextmanager
async def _scored(fakes: Fakes, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Parts]:
    """The three venues scored once (the collector's targets come from that cycle)."""
    settings = _settings(fakes)
    async with contextlib.AsyncExitStack() as stack:
        adapters = await open_adapters(settings, stack)
        parts = Parts(settings, sessions.kw["bind"], sessions, adapters)
        result = await parts.scorer().run_cycle()
        assert result.status in ("ok", "partial")
        yield parts


async def _rows(sessions: async_sessionmaker[AsyncSession], exchange: str) -> dict[str, Any]:
    async with sessions() as session:
        snapshot = await latest_market(session, exchange)
        assert snapshot is not None
        ls = await ls_view.row_fields(session, snapshot)
    return {r["symbol"]: r for r in snapshot_to_json(snapshot, ls=ls)["rows"]}


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    async with FakeBinance() as fb, FakeBybit() as fy, FakeOkx() as fo:
        _set_up(fb, fy, fo)
        fb.ls["BTCUSDT"] = Ls(0.6, 0.55)
        fy.ls["BTCUSDT"] = Ls(0.7)
        fo.ls["BTC-USDT-SWAP"] = Ls(0.5)
        yield fb, fy, fo


async def test_each_venue_ratio_and_the_oi_weighted_aggregate_reach_the_rows(
    fakes: Fakes, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with _scored(fakes, sessions) as parts:
        rounds = await PositioningCollector(parts.adapters, parts.sessions).round()
    assert {v: r.stopped for v, r in rounds.items()} == dict.fromkeys(rounds)
    binance, bybit, okx = [await _rows(sessions, v) for v in ("binance", "bybit", "okx")]
    # Binance's longShortRatio as served; the top traders' position ratio beside it.
    assert binance["BTCUSDT"]["ls_account_ratio"] == pytest.approx(1.5, abs=1e-4)
    assert binance["BTCUSDT"]["ls_top_position_ratio"] == pytest.approx(0.55 / 0.45, abs=1e-4)
    # Bybit: buyRatio / sellRatio; no top-trader figure there.
    assert bybit["BTCUSDT"]["ls_account_ratio"] == pytest.approx(0.7 / 0.3, rel=1e-3)
    assert bybit["BTCUSDT"]["ls_top_position_ratio"] is None
    assert okx["BTC-USDT-SWAP"]["ls_account_ratio"] == pytest.approx(1.0, abs=1e-4)
    assert okx["BTC-USDT-SWAP"]["ls_top_position_ratio"] is None
    # The coin: the long shares weighted by each venue's OI in USD, back to a ratio.
    coin = (await _rows(sessions, "all"))["BTC"]
    oi = {v["venue"]: v["oi_usd"] for v in coin["venues"]}
    share = (0.6 * oi["binance"] + 0.7 * oi["bybit"] + 0.5 * oi["okx"]) / sum(oi.values())
    assert coin["ls_account_ratio"] == pytest.approx(share / (1 - share), rel=1e-3)
    assert coin["ls_top_position_ratio"] == pytest.approx(0.55 / 0.45, abs=1e-4)
    async with sessions() as session:
        status = await ls_view.positioning_status(
            session, ["binance", "bybit", "okx"], int(time.time() * 1000)
        )
    assert status.fresh == {"binance": (3, 3), "bybit": (2, 2), "okx": (2, 2)}


async def test_failing_and_rate_limited_endpoints_leave_their_fields_null(
    fakes: Fakes, sessions: async_sessionmaker[AsyncSession]
) -> None:
    fb, fy, fo = fakes
    fb.fault(BINANCE_TOP, "5xx", times=None)  # one Binance endpoint down
    fy.fault(BYBIT_ACCOUNT_RATIO, "rate_limit", times=None)  # retCode 10006
    fo.fault(OKX_PATH, "rate_limit", times=None)  # HTTP 429, code 50011
    async with _scored(fakes, sessions) as parts:
        collector = PositioningCollector(parts.adapters, parts.sessions)
        rounds = await collector.round()
        # Scoring goes on: the next cycle is whole whatever positioning met.
        assert (await parts.scorer().run_cycle()).status == "ok"
    assert rounds["binance"].stopped is None and len(rounds["binance"].fetched) == 3
    assert rounds["bybit"].stopped == "venue: HTTP 429" and rounds["bybit"].fetched == []
    assert rounds["okx"].stopped == "venue: HTTP 429" and rounds["okx"].fetched == []
    binance = (await _rows(sessions, "binance"))["BTCUSDT"]
    assert binance["ls_account_ratio"] == pytest.approx(1.5, abs=1e-4)
    assert binance["ls_top_position_ratio"] is None
    assert (await _rows(sessions, "bybit"))["BTCUSDT"]["ls_account_ratio"] is None
    assert (await _rows(sessions, "okx"))["BTC-USDT-SWAP"]["ls_account_ratio"] is None
    coin = (await _rows(sessions, "all"))["BTC"]  # Binance's alone
    assert coin["ls_account_ratio"] == pytest.approx(1.5, abs=1e-4)


async def test_a_symbol_the_venue_does_not_know_is_skipped_not_fatal(
    fakes: Fakes, sessions: async_sessionmaker[AsyncSession]
) -> None:
    fb, _, _ = fakes
    fb.fault(BINANCE_GLOBAL, "delisted", times=None, symbol="ONLYUSDT")
    fb.fault(BINANCE_TOP, "delisted", times=None, symbol="ONLYUSDT")
    async with _scored(fakes, sessions) as parts:
        rounds = await PositioningCollector(parts.adapters[:1], parts.sessions).round()
    assert rounds["binance"].stopped is None
    assert "ONLYUSDT" not in rounds["binance"].fetched
    rows = await _rows(sessions, "binance")
    assert rows["ONLYUSDT"]["ls_account_ratio"] is None
    assert rows["BTCUSDT"]["ls_account_ratio"] is not None


async def test_binance_budget_goes_to_subscribed_and_top_oi_first_then_round_the_rest(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeClock(start=time.time())
    async with FakeBinance(now_ms=clock.now_ms) as fb:
        names = fb.populate(30, seed=3)
        settings = Settings(exchange={"base_url": fb.url, "max_retries": 0})
        async with contextlib.AsyncExitStack() as stack:
            adapters = await open_adapters(settings, stack)
            parts = Parts(settings, sessions.kw["bind"], sessions, adapters)
            assert (await parts.scorer().run_cycle()).status == "ok"
        by_oi = sorted(names, key=lambda s: -float(fb.symbols[s].oi) * float(fb.symbols[s].mark))
        small = by_oi[-1]
        async with sessions() as session, session.begin():
            await chat_repo.upsert_chat(session, 7, "private", None, clock.now_ms())
            await chat_repo.subscribe(session, 7, "binance", small, ["bands"], 0, cap=10)
        client = venue_client(binance_client, fb.url, clock, history_calls_per_5m=900)
        try:
            await _rounds_go_round(fb, client, sessions, clock, small, by_oi)
        finally:
            await close_clients()


async def _rounds_go_round(
    fb: FakeBinance,
    client: RestClient,
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    small: str,
    by_oi: list[str],
) -> None:
    """Two rounds, five minutes apart, on a budget of ten symbols each."""
    adapter = BinanceAdapter(client, venue_settings(), clock=clock.time)
    collector = PositioningCollector([adapter], sessions, top_n=5, clock=clock.time)
    await _backfill_spends(client, 580)  # 20 calls (10 symbols) above the reserve left
    first = (await collector.round())["binance"]
    assert first.fetched[:6] == [small, *by_oi[:5]]  # subscribed, then the top 5 by OI
    assert len(first.fetched) == 10 and first.stopped == "budget spent"
    assert fb.calls[BINANCE_GLOBAL] + fb.calls[BINANCE_TOP] == 20
    assert client.history_budget_left(BINANCE_GLOBAL) == POSITIONING_RESERVE
    # Five minutes on: a new period and a refilled window. The priority again, then
    # the symbols not read yet, so the whole universe comes round in turn.
    clock.advance(301)
    await _backfill_spends(client, 580)
    second = (await collector.round())["binance"]
    assert second.fetched[:6] == first.fetched[:6]
    assert not set(second.fetched[6:]) & set(first.fetched)
    assert len(second.fetched) == 10


async def _backfill_spends(client: RestClient, calls: int) -> None:
    """The OI backfill's share of the /futures/data window, booked as it would be."""
    for _ in range(calls):
        await client.throttle.pace(OPEN_INTEREST_HIST, history=True)


async def test_a_window_that_refills_in_seconds_is_waited_for_not_given_up(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # OKX's ratio endpoint: 2 calls per 2 s on our side. Five swaps take a few seconds,
    # all in one round; Binance's 5-minute window would have ended it instead.
    async with FakeOkx() as fo:
        fo.populate(5, seed=1)
        settings = Settings(exchange={"venues": ["okx"], "okx_base_url": fo.url})
        async with contextlib.AsyncExitStack() as stack:
            adapters = await open_adapters(settings, stack)
            parts = Parts(settings, sessions.kw["bind"], sessions, adapters)
            assert (await parts.scorer().run_cycle()).status in ("ok", "partial")
            rounds = await PositioningCollector(adapters, sessions).round(deadline_seconds=30)
    assert rounds["okx"].stopped is None and len(rounds["okx"].fetched) == 5
    assert fo.rejected == 0  # paced under OKX's limit, never over it
