"""`pressurebot run` over the three venue fakes, headless: every venue scores, the
aggregate follows, a venue going down is one line and then leaves the aggregates while
the others keep scoring, long/short positioning is fetched from each, and the service
stops cleanly (its three clients closed)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from fakes.fake_binance import FakeBinance
from fakes.fake_bybit import FakeBybit
from fakes.fake_okx import FakeOkx
from fakes.fake_positioning import BINANCE_GLOBAL, BYBIT_ACCOUNT_RATIO, OKX_ACCOUNT_RATIO
from fakes.service_process import ServiceProcess, venues_env
from tests.test_scan_venues import _set_up

pytestmark = pytest.mark.slow

OKX_BULK = (
    "/api/v5/public/mark-price",
    "/api/v5/public/open-interest",
    "/api/v5/market/index-tickers",
    "/api/v5/public/funding-rate",
)


async def test_a_venue_going_down_leaves_the_others_scoring(tmp_path: Path) -> None:
    async with FakeBinance() as fb, FakeBybit() as fy, FakeOkx() as fo:
        _set_up(fb, fy, fo)
        env = venues_env(
            tmp_path,
            fb.url,
            fy.url,
            fo.url,
            PRESSUREBOT_EXCHANGE__VENUE_DROP_AFTER_CYCLES="2",
            PRESSUREBOT_ALERTS__DEFAULT_MIN_BAND="lean",
        )
        svc = await ServiceProcess(env).start()
        try:
            await svc.wait_for(r"okx cycle \d+: ok, 2/2 symbols")
            await svc.wait_for(r"^.*cycle \d+: ok, 2/2 symbols, \d+ alerts")  # the aggregate
            # Long/short positioning is fetched beside the cycles, on every venue.
            await fb.wait_for_calls(BINANCE_GLOBAL, 3, within=30)
            await fy.wait_for_calls(BYBIT_ACCOUNT_RATIO, 2, within=30)
            await fo.wait_for_calls(OKX_ACCOUNT_RATIO, 2, within=30)
            # BTC crowds on every venue: one alert, from the aggregate (the headless
            # default subscriber follows it), none per venue.
            fb.set_market("BTCUSDT", oi=90_000, funding_rate=0.001, mark=50_250)
            fy.set_market("BTCUSDT", oi=60_000, funding_rate=0.0005, mark=50_250)
            fo.set_market("BTC-USDT-SWAP", oi=25_000, funding_rate=0.001, mark=50_250)
            await svc.wait_for(r"ALERT BTC neutral -> \w+ score", timeout=120)
            for path in OKX_BULK:
                fo.fault(path, "5xx", times=None)
            # The bulk answers are reused for 20 s within a venue (bot/markets/bulk_snapshot.py).
            await svc.wait_for("okx unreachable for 2 cycles", timeout=120)
            seen = svc.count(r"bybit cycle \d+: ok")
            await svc.wait_for(r"bybit cycle \d+: ok", n=seen + 2)
        finally:
            code = await svc.stop(signal.SIGTERM)
    assert code == 0
    assert svc.count("ALERT BTCUSDT") == 0 and svc.count("ALERT BTC-USDT-SWAP") == 0
    assert svc.count("okx unavailable this cycle") == 1
    assert svc.count("okx unreachable for 2 cycles") == 1
    assert svc.count("stopped cleanly") == 1
    assert svc.count("Traceback") == 0
    assert svc.count("Unclosed client session") == 0
