"""Each row's liquidation fields: a venue's symbol against its OI (OI x mark), and a
coin's aggregate row summing its venues' contracts."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.liquidations.events import LiqEvent
from bot.liquidations.figures import LiqReader
from bot.liquidations.ingest import LiqIngest
from bot.views.liquidations import row_fields
from bot.views.market import MarketRow, MarketSnapshot, Summary, VenuePart

NOW = 1_767_225_600_000 + 30 * 60_000

ROW = MarketRow(
    symbol="BTCUSDT", score=50, band="stretched", bias="LONG", regime="Net long bias building",
    oi_1h_pct=1.0, oi_4h_pct=2.0, oi_24h_pct=3.0, funding_pct=0.01, funding_interval_hours=8,
    funding_8h_pct=0.01, basis_pct=0.1, mark_price=50_000.0, index_price=50_000.0,
    oi_contracts=200.0, oi_build=0.5, funding_st=0.2, basis_st=0.1, bias_value=0.3, ts_ms=NOW,
)  # fmt: skip


def _snapshot(exchange: str, rows: list[MarketRow], venues: dict | None = None) -> MarketSnapshot:
    summary = Summary(len(rows), 50.0, 1, 0, 0)
    return MarketSnapshot(1, NOW, "ok", 0, rows, summary, exchange, venues or {})


async def _write(sessions: async_sessionmaker[AsyncSession], events: list[LiqEvent]) -> None:
    ingest = LiqIngest(sessions, lambda: 1, wall_ms=lambda: NOW)
    for venue in ("binance", "bybit", "okx"):
        ingest.clock_for(venue).up(NOW - 2 * 3_600_000)
    ingest.on_events(events, time.monotonic())
    await ingest.flush()


def ev(venue: str, symbol: str, side: str, usd: float) -> LiqEvent:
    return LiqEvent(venue, symbol, side, 1.0, usd, usd, NOW - 60_000)  # type: ignore[arg-type]


async def test_a_venue_row_and_a_coin_row(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _write(
        sessions,
        [
            ev("binance", "BTCUSDT", "long", 100_000.0),
            ev("bybit", "BTCUSDT", "short", 50_000.0),
            ev("okx", "BTC-USDT-SWAP", "long", 25_000.0),
            ev("binance", "ETHUSDT", "long", 7.0),  # another coin: not BTC's
        ],
    )
    reader = LiqReader()
    async with sessions() as session:
        venue = await row_fields(session, _snapshot("binance", [ROW]), reader)
        parts = [
            VenuePart("binance", "BTCUSDT", False, 200.0, 10e6, 0.5, 0.01, 0.1),
            VenuePart("bybit", "BTCUSDT", False, 100.0, 5e6, 0.25, 0.01, 0.1),
            VenuePart("okx", "BTC-USDT-SWAP", False, 100.0, 5e6, 0.25, 0.01, 0.1),
        ]
        coin = replace(ROW, symbol="BTC")
        both = await row_fields(session, _snapshot("all", [coin], {"BTC": parts}), reader)
    btc = venue["BTCUSDT"]
    assert btc["liq_1h_long_usd"] == 100_000.0 and btc["liq_1h_short_usd"] == 0.0
    assert btc["liq_1h_oi_pct"] == pytest.approx(1.0)  # 100k of 200 x 50k
    assert btc["liq_coverage_1h"] == 1.0 and btc["ls_account_ratio"] is None
    agg = both["BTC"]
    assert (agg["liq_1h_long_usd"], agg["liq_1h_short_usd"]) == (125_000.0, 50_000.0)
    assert agg["liq_1h_oi_pct"] == pytest.approx(175_000 / 20e6 * 100)
    assert agg["liq_24h_long_usd"] == 125_000.0
