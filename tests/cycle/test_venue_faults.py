"""A venue that fails, as docs/scoring.md ("Across venues") says it shows: the
aggregate cycle is partial, each aggregate row says `partial`, the venue stays in
`venues` with `missing: true`, a coin left with one live venue keeps its row, and a
venue that refuses us (403/451) is one log line. Against the three loopback venue fakes
and a real database."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.cycle.venues import VenueScorers
from bot.markets.adapters import open_adapters
from bot.service import Parts
from bot.storage.db import session_factory
from bot.views.market import latest_market, snapshot_to_json
from fakes.fake_binance import FakeBinance
from fakes.fake_bybit import FakeBybit
from fakes.fake_okx import FakeOkx
from tests.test_scan_venues import _set_up

Fakes = tuple[FakeBinance, FakeBybit, FakeOkx]


@pytest.fixture
async def venue_fakes() -> AsyncIterator[Fakes]:
    # A long "timeout" fault is a hang: the cycle deadline ends it, not the fake.
    async with FakeBinance() as fb, FakeBybit() as fy, FakeOkx(timeout_delay=60) as fo:
        _set_up(fb, fy, fo)
        # Listed on Binance and OKX only: with OKX down, one live venue is left.
        fo.add_symbol("ONLY", mark=1.0, index=1.0, funding_rate=0.0001, oi=1e6)
        yield fb, fy, fo


def _settings(fakes: Fakes, **exchange: Any) -> Settings:
    fb, fy, fo = fakes
    return Settings(
        exchange={  # type: ignore[arg-type]
            "venues": ["binance", "bybit", "okx"],
            "base_url": fb.url,
            "bybit_base_url": fy.url,
            "okx_base_url": fo.url,
            "max_retries": 0,
            **exchange,
        },
        # A hang ends at the deadline: 0.8 x 3 s.
        scorer={"interval_seconds": 3},  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def _scorer(
    settings: Settings, engine: AsyncEngine, clock: Callable[[], float]
) -> AsyncIterator[tuple[VenueScorers, Parts]]:
    """One service's scorer over the three venues (a second one is a restart)."""
    async with contextlib.AsyncExitStack() as stack:
        adapters = await open_adapters(settings, stack, clock=clock)
        parts = Parts(settings, engine, session_factory(engine), adapters)
        scorer = parts.scorer()
        assert isinstance(scorer, VenueScorers)
        yield scorer, parts


async def _aggregate_json(parts: Parts) -> dict[str, Any]:
    async with parts.sessions() as session:
        snapshot = await latest_market(session, "all")
    assert snapshot is not None
    return snapshot_to_json(snapshot)


def _assert_shown_partial_without_okx(doc: dict[str, Any]) -> None:
    assert doc["cycle"]["status"] == "partial"
    rows = {r["symbol"]: r for r in doc["rows"]}
    assert sorted(rows) == ["BTC", "ONLY", "PEPE"]  # ONLY: Binance alone answered
    for coin, row in rows.items():
        assert row["partial"] is True, coin
        venues = {v["venue"]: v for v in row["venues"]}
        assert venues["okx"]["missing"] is True and venues["okx"]["oi_coins"] is None
        assert venues["binance"]["missing"] is False
    assert rows["ONLY"]["oi_contracts"] == pytest.approx(1e6)  # Binance's figure alone


async def test_okx_rate_limited_for_a_cycle_makes_that_cycle_partial(
    db_engine: AsyncEngine, venue_fakes: Fakes
) -> None:
    """On SQLite and, with PRESSUREBOT_TEST_POSTGRES_URL, on PostgreSQL."""
    fo = venue_fakes[2]
    now = [time.time()]
    async with _scorer(_settings(venue_fakes), db_engine, lambda: now[0]) as (scorer, parts):
        first = await scorer.run_cycle()
        assert first.status == "ok" and not first.partial
        assert (await _aggregate_json(parts))["rows"][0]["partial"] is False
        fo.fault("*", "rate_limit", times=None)  # HTTP 429, code 50011
        now[0] += 300
        second = await scorer.run_cycle()
        assert second.status == "partial"
        assert second.partial == {c: ("okx",) for c in ("BTC", "ONLY", "PEPE")}
        assert set(second.held) == {"BTC", "ONLY", "PEPE"}  # shown, never alerted on
        _assert_shown_partial_without_okx(await _aggregate_json(parts))


async def test_a_venue_hanging_since_start_up_still_shows_its_coins_partial(
    db_engine: AsyncEngine, venue_fakes: Fakes
) -> None:
    """After a restart OKX hangs from the first cycle: the coins it listed when it last
    answered (the instruments table) keep their aggregate rows, with OKX missing."""
    fo = venue_fakes[2]
    settings = _settings(venue_fakes)
    async with _scorer(settings, db_engine, time.time) as (scorer, _):
        assert (await scorer.run_cycle()).status == "ok"
    fo.fault("*", "timeout", times=None)
    async with _scorer(settings, db_engine, time.time) as (scorer, parts):
        result = await scorer.run_cycle()
        assert result.status == "partial"
        assert scorer.results["bybit"].status == "ok"
        _assert_shown_partial_without_okx(await _aggregate_json(parts))


async def test_a_venue_that_refuses_us_is_one_log_line(
    db_engine: AsyncEngine, venue_fakes: Fakes, caplog: pytest.LogCaptureFixture
) -> None:
    """HTTP 403 on every OKX endpoint (a CDN's region block): the README promises one
    line; OKX leaves the aggregates at once, which are whole on the other two."""
    fo = venue_fakes[2]
    caplog.set_level(logging.INFO)
    now = [time.time()]
    async with _scorer(_settings(venue_fakes), db_engine, lambda: now[0]) as (scorer, _):
        assert (await scorer.run_cycle()).status == "ok"
        fo.fault("*", "geo", times=None, status=403)
        caplog.clear()
        now[0] += 300  # past the venues' 20 s reuse of their bulk answers
        second = await scorer.run_cycle()
        now[0] += 300
        third = await scorer.run_cycle()  # still blocked: nothing more to say
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1, loud
    assert loud[0].startswith("okx refuses us (") and "HTTP 403" in loud[0]
    assert loud[0].endswith("aggregates continue on the other venues")
    assert second.status == third.status == "ok"  # OKX left: whole again, not partial
    assert scorer.health.dropped().keys() == {"okx"}
