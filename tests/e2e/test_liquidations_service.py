"""`pressurebot run` with the liquidation streams on: the service holds the streams
lease, subscribes on the three loopback stream fakes from the venues' universe (REST
fakes), stores what they push in one-minute buckets, and stops cleanly."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from fakes.fake_binance import FakeBinance
from fakes.fake_bybit import FakeBybit
from fakes.fake_liquidations import FakeBinanceLiq, FakeBybitLiq, FakeOkxLiq, Liq
from fakes.fake_okx import FakeOkx
from fakes.service_process import ServiceProcess, service_env
from tests.e2e.service_db import read_until
from tests.test_scan_venues import _set_up

pytestmark = pytest.mark.slow


def _stored_usd(db: Path) -> dict[str, float]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT venue, SUM(usd) FROM liq_buckets GROUP BY venue").fetchall()
    return {venue: usd for venue, usd in rows}


async def test_the_service_streams_and_stores_every_venues_liquidations(tmp_path: Path) -> None:
    streams = (FakeBinanceLiq(), FakeBybitLiq(), FakeOkxLiq())
    for fake in streams:
        await fake.start()
    lb, ly, lo = streams
    try:
        async with FakeBinance() as fb, FakeBybit() as fy, FakeOkx() as fo:
            _set_up(fb, fy, fo)
            env = service_env(
                tmp_path,
                fb.url,
                PRESSUREBOT_EXCHANGE__VENUES='["binance", "bybit", "okx"]',
                PRESSUREBOT_EXCHANGE__BYBIT_BASE_URL=fy.url,
                PRESSUREBOT_EXCHANGE__OKX_BASE_URL=fo.url,
                PRESSUREBOT_LIQUIDATIONS__ENABLED="true",
                PRESSUREBOT_LIQUIDATIONS__BINANCE_WS_URL=lb.url,
                PRESSUREBOT_LIQUIDATIONS__BYBIT_WS_URL=ly.url,
                PRESSUREBOT_LIQUIDATIONS__OKX_WS_URL=lo.url,
            )
            svc = await ServiceProcess(env).start()
            try:
                await svc.wait_for("holds the liquidation streams")
                for venue in ("binance", "bybit", "okx"):
                    await svc.wait_for(f"{venue} liquidations: live")
                await ly.wait(lambda f: "allLiquidation.BTCUSDT" in f.subscribed())
                now = int(time.time() * 1000)
                lb.liquidate(Liq("BTCUSDT", "long", 2.0, 50_000.0, now))
                lb.liquidate(Liq("NOTLISTEDUSDT", "long", 2.0, 1.0, now))  # not followed
                await lb.tick()
                await ly.push([Liq("BTCUSDT", "short", 1.0, 50_000.0, now)])
                await lo.push([Liq("BTC-USDT-SWAP", "long", 100, 50_000.0, now)])  # 1 BTC
                want = {"binance": 100_000.0, "bybit": 50_000.0, "okx": 50_000.0}
                stored = tmp_path / "service.db"
                await read_until(lambda: _stored_usd(stored), lambda got: got == want, timeout=30)
            finally:
                code = await svc.stop(signal.SIGTERM)
    finally:
        for fake in streams:
            await fake.stop()
    assert code == 0
    assert svc.count("released the liquidations lease") == 1
    assert svc.count("Traceback") == 0
    assert svc.count("Unclosed client session") == 0
