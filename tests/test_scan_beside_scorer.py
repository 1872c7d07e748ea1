"""`pressurebot scan` on a PostgreSQL database that a cluster of replicas scores.

What an operator would notice: a scan run next to the cluster still prints the market,
but stores no cycle of its own while a replica holds the scorer lease (a stray cycle
would sit between the scorer's cycles and move a takeover's first cycle); with no live
scorer it stores its cycle as always. Skipped without PRESSUREBOT_TEST_POSTGRES_URL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.service import scan_once
from bot.storage import leases
from bot.storage.db import create_engine, session_factory
from bot.storage.models import Cycle
from fakes.fake_binance import FakeBinance
from fakes.pg_database import fresh_database, postgres_url_or_skip


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as f:
        now = int(time.time() * 1000)
        for symbol, oi in (("BTCUSDT", 1000.0), ("ETHUSDT", 500.0)):
            f.add_symbol(symbol, mark=100.0, index=100.0, funding_rate=0.0001, oi=oi)
            f.set_oi_history(symbol, [(now - k * 300_000, oi) for k in range(1, 301)])
        yield f


async def _cycles(settings: Settings) -> int:
    engine = create_engine(settings.database)
    try:
        async with session_factory(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(Cycle)) or 0)
    finally:
        await engine.dispose()


async def _hold_scorer_lease(settings: Settings, holder: str) -> None:
    engine = create_engine(settings.database)
    try:
        async with session_factory(engine)() as session, session.begin():
            assert await leases.try_acquire(session, leases.SCORER, holder, 60_000) is not None
    finally:
        await engine.dispose()


async def test_scan_beside_a_live_scorer_prints_but_stores_no_cycle(fake: FakeBinance) -> None:
    async with fresh_database(postgres_url_or_skip()) as url:
        settings = Settings(
            exchange={"venues": ["binance"], "base_url": fake.url, "max_retries": 1},  # type: ignore[arg-type]
            database={"url": url},  # type: ignore[arg-type]
        )
        first = await scan_once(settings)  # no scorer yet: stored, as always
        assert first is not None and first.cycle_id > 0
        assert await _cycles(settings) == 1

        await _hold_scorer_lease(settings, "replica-a")
        second = await scan_once(settings)
        assert second is not None
        assert {r.symbol for r in second.rows} == {"BTCUSDT", "ETHUSDT"}
        assert await _cycles(settings) == 1  # the scorer's record is left alone


async def test_a_venues_scan_beside_a_live_scorer_prints_the_aggregate_unstored() -> None:
    from fakes.fake_bybit import FakeBybit
    from fakes.fake_okx import FakeOkx
    from tests.test_scan_venues import _set_up

    async with (
        fresh_database(postgres_url_or_skip()) as url,
        FakeBinance() as fb,
        FakeBybit() as fy,
        FakeOkx() as fo,
    ):
        _set_up(fb, fy, fo)
        settings = Settings(
            exchange={  # type: ignore[arg-type]
                "venues": ["binance", "bybit", "okx"],
                "base_url": fb.url,
                "bybit_base_url": fy.url,
                "okx_base_url": fo.url,
            },
            database={"url": url},  # type: ignore[arg-type]
        )
        await scan_once(settings)  # migrates; no scorer yet: four cycles stored
        assert await _cycles(settings) == 4
        await _hold_scorer_lease(settings, "replica-a")
        shown = await scan_once(settings)
        assert shown is not None and shown.exchange == "all" and shown.cycle_id == 0
        assert {r.symbol for r in shown.rows} == {"BTC", "PEPE"}
        assert await _cycles(settings) == 4  # nothing of the scan stored
