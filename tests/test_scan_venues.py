"""`pressurebot scan --json` against the three fakes together: each venue's rows and the
cross-venue aggregate, checked against figures computed from what the fakes serve
(docs/scoring.md, "Across venues"), not from the adapters or the aggregate code."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fakes.fake_binance import FakeBinance
from fakes.fake_bybit import FakeBybit
from fakes.fake_okx import FakeOkx
from tests.markets.test_venues_together import _expected_from_payloads
from tests.test_cli import cli_env, run_cli

HOUR = 3_600_000


def _env(tmp_path: Path, fb: FakeBinance, fy: FakeBybit, fo: FakeOkx) -> dict[str, str]:
    env = cli_env(tmp_path, fb.url)
    env.update(
        PRESSUREBOT_EXCHANGE__VENUES='["binance", "bybit", "okx"]',
        PRESSUREBOT_EXCHANGE__BYBIT_BASE_URL=fy.url,
        PRESSUREBOT_EXCHANGE__OKX_BASE_URL=fo.url,
    )
    return env


def _set_up(fb: FakeBinance, fy: FakeBybit, fo: FakeOkx) -> None:
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
    fo.add_symbol("PEPE", mark=0.0000119, index=0.000012, funding_rate=-0.0001, oi=3e9, ct_val=1e7)
    fb.add_symbol("ONLYUSDT", mark=1.0, index=1.0, funding_rate=0.0001, oi=1e6)
    anchor = int(time.time() * 1000) // 300_000 * 300_000 - HOUR
    fb.set_oi_history("BTCUSDT", [(anchor, 78_000.0)])
    fy.set_oi_history("BTCUSDT", [(anchor, 50_500.0)])
    fo.set_oi_history("BTC-USDT-SWAP", [(anchor, 19_000.0)])


@pytest.mark.slow
async def test_scan_json_gives_each_venue_and_the_aggregate_as_the_formulas(
    tmp_path: Path,
) -> None:
    async with FakeBinance() as fb, FakeBybit() as fy, FakeOkx() as fo:
        _set_up(fb, fy, fo)
        expected = await _expected_from_payloads((fb, fy, fo))
        env = _env(tmp_path, fb, fy, fo)
        code, out, err = await run_cli("scan", "--json", env=env)
        assert code == 0, err
        code_by, out_by, err_by = await run_cli("scan", "--json", "--exchange", "bybit", env=env)
        assert code_by == 0, err_by
        code_t, table, err_t = await run_cli("scan", "--limit", "1", env=env)
        assert code_t == 0, err_t
        code_bad, _, err_bad = await run_cli(
            "scan", "--exchange", "okx", env=cli_env(tmp_path, fb.url)
        )

    doc = json.loads(out)
    rows = {r["symbol"]: r for r in doc["rows"]}
    assert sorted(rows) == ["BTC", "PEPE"]  # ONLY trades on Binance alone: no aggregate
    for coin, row in rows.items():
        assert row["exchange"] == "all"
        parts = expected[coin]
        usd = {v: c * p for v, (c, p, _, _) in parts.items()}
        assert row["oi_contracts"] == pytest.approx(sum(c for c, _, _, _ in parts.values()))
        f8 = sum(parts[v][2] * usd[v] for v in parts) / sum(usd.values())
        basis = sum(parts[v][3] * usd[v] for v in parts) / sum(usd.values())
        assert row["funding_8h_pct"] == pytest.approx(f8)
        assert row["basis_pct"] == pytest.approx(basis)
        venues: dict[str, Any] = {v["venue"]: v for v in row["venues"]}
        assert sorted(venues) == ["binance", "bybit", "okx"]
        for venue, (coins, price, f8v, basis_v) in parts.items():
            assert venues[venue]["oi_coins"] == pytest.approx(coins)
            assert venues[venue]["oi_usd"] == pytest.approx(coins * price)
            assert venues[venue]["share"] == pytest.approx(usd[venue] / sum(usd.values()))
            assert venues[venue]["funding_8h_pct"] == pytest.approx(f8v)
            assert venues[venue]["basis_pct"] == pytest.approx(basis_v)
            assert venues[venue]["missing"] is False
    # 1h: sum of (now - then) over sum of then, in coins: (150,000 - 147,500) / 147,500.
    assert rows["BTC"]["oi_1h_pct"] == pytest.approx(2_500 / 147_500 * 100)
    assert rows["PEPE"]["oi_1h_pct"] is None  # no history served: unknown, never 0

    assert any(coin in table for coin in ("BTC", "PEPE")) and "USDT" not in table
    # Binance alone (the test helpers' default): okx is not a venue to show.
    assert code_bad == 2 and "--exchange okx: not in exchange.venues" in err_bad
    assert err_bad.count("\n") == 1

    by = {r["symbol"]: r for r in json.loads(out_by)["rows"]}
    assert sorted(by) == ["1000PEPEUSDT", "BTCUSDT"]
    assert {r["exchange"] for r in by.values()} == {"bybit"}
    assert by["BTCUSDT"]["oi_contracts"] == pytest.approx(expected["BTC"]["bybit"][0])
    assert by["BTCUSDT"]["funding_8h_pct"] == pytest.approx(expected["BTC"]["bybit"][2])


async def test_a_failing_venue_makes_aggregates_partial_then_leaves_them(
    db_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """On SQLite and, with PRESSUREBOT_TEST_POSTGRES_URL, on PostgreSQL."""
    from bot.config import Settings
    from bot.cycle.venues import VenueScorers
    from bot.markets.adapters import open_adapters
    from bot.service import Parts
    from bot.storage.db import session_factory
    from bot.views.market import latest_market

    now = [time.time()]  # the adapters' clock: a cycle later, their bulk answers are stale

    async with FakeBinance() as fb, FakeBybit() as fy, FakeOkx() as fo:
        _set_up(fb, fy, fo)
        settings = Settings(
            exchange={  # type: ignore[arg-type]
                "venues": ["binance", "bybit", "okx"],
                "base_url": fb.url,
                "bybit_base_url": fy.url,
                "okx_base_url": fo.url,
                "max_retries": 0,
                "venue_drop_after_cycles": 2,
            },
        )
        async with contextlib.AsyncExitStack() as stack:
            adapters = await open_adapters(settings, stack, clock=lambda: now[0])
            parts = Parts(settings, db_engine, session_factory(db_engine), adapters)
            scorer = parts.scorer()
            assert isinstance(scorer, VenueScorers)
            first = await scorer.run_cycle()
            assert first.exchange == "all" and not first.held
            fo.fault("/api/v5/public/instruments", "5xx", times=None)
            fo.fault("/api/v5/public/mark-price", "5xx", times=None)
            fo.fault("/api/v5/public/open-interest", "5xx", times=None)
            fo.fault("/api/v5/market/index-tickers", "5xx", times=None)
            fo.fault("/api/v5/public/funding-rate", "5xx", times=None)
            now[0] += 300
            second = await scorer.run_cycle()
            # The others still scored; the aggregates are shown, partial, held for alerts.
            assert {s.symbol for s in second.scores} == {"BTC", "PEPE"}
            assert second.held["BTC"] == "partial: okx failed this cycle"
            assert scorer.results["bybit"].symbols_fetched == 2
            async with parts.sessions() as session:
                snap = await latest_market(session, "all")
            assert snap is not None
            assert [(p.venue, p.missing) for p in snap.venues["BTC"]][-1] == ("okx", True)
            now[0] += 300
            third = await scorer.run_cycle()  # second failure in a row: okx leaves
            assert not third.held
            assert scorer.health.dropped().keys() == {"okx"}
            async with parts.sessions() as session:
                snap = await latest_market(session, "all")
            assert snap is not None
            assert {p.venue for p in snap.venues["BTC"]} == {"binance", "bybit"}
    assert sum("okx unavailable this cycle" in r.message for r in caplog.records) == 1
    assert sum("okx unreachable for 2 cycles" in r.message for r in caplog.records) == 1
