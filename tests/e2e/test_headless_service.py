"""Headless `pressurebot run` (no token) against the fake exchange: the alert path end
to end, as an operator watching the log would see it."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from fakes.fake_binance import OPEN_INTEREST, FakeBinance
from fakes.ports import free_port
from fakes.service_process import ServiceProcess, service_env

pytestmark = pytest.mark.slow(seconds=55)


def lean_market(fake: FakeBinance) -> None:
    now = int(time.time() * 1000)
    # Flat OI for 25h, funding 0.03%/8h, basis +0.1%: score ~18, lean.
    fake.add_symbol("BTCUSDT", mark=50_050, index=50_000, funding_rate=0.0003, oi=1000)
    fake.set_oi_history("BTCUSDT", [(now - k * 300_000, 1000.0) for k in range(1, 301)])
    fake.add_symbol("ETHUSDT", mark=3000, index=3000, funding_rate=0.0001, oi=500)
    fake.set_oi_history("ETHUSDT", [(now - k * 300_000, 500.0) for k in range(1, 301)])


def stress_btc(fake: FakeBinance) -> None:
    # OI +30% on every window, funding 0.1%/8h, basis +0.5%: score ~93, Long crowded.
    fake.set_market("BTCUSDT", oi=1300, funding_rate=0.001, mark=50_250)


async def test_one_alert_line_when_a_symbol_goes_lean_to_stressed(tmp_path: Path) -> None:
    async with FakeBinance() as fake:
        lean_market(fake)
        svc = await ServiceProcess(service_env(tmp_path, fake.url)).start()
        try:
            await svc.wait_for("no Telegram token configured")
            await svc.wait_for(r"cycle \d+: ok", n=2)
            assert svc.count("ALERT") == 0  # first sightings initialise state silently

            stress_btc(fake)
            await svc.wait_for(r"ALERT BTCUSDT lean -> stressed score \d+ LONG Long crowded")
            seen = svc.count(r"cycle \d+: ")
            await svc.wait_for(r"cycle \d+: ", n=seen + 3)  # it stays stressed
            assert svc.count("ALERT BTCUSDT") == 1
            assert svc.count("ALERT") == 1
            assert svc.count("no Telegram token configured") == 1
        finally:
            code = await svc.stop(signal.SIGTERM)
    assert code == 0
    assert svc.count("stopped cleanly") == 1
    assert svc.count("Traceback") == 0


async def test_restart_does_not_repeat_an_alert(tmp_path: Path) -> None:
    async with FakeBinance() as fake:
        lean_market(fake)
        env = service_env(tmp_path, fake.url)
        first = await ServiceProcess(env).start()
        try:
            await first.wait_for(r"cycle \d+: ok", n=2)
            stress_btc(fake)
            await first.wait_for("ALERT BTCUSDT")
        finally:
            assert await first.stop(signal.SIGTERM) == 0

        second = await ServiceProcess(env).start()
        try:
            await second.wait_for(r"cycle \d+: ok", n=3)
        finally:
            assert await second.stop(signal.SIGINT) == 0
    assert second.count("ALERT") == 0


async def test_unreachable_exchange_keeps_retrying_and_stops_cleanly(tmp_path: Path) -> None:
    svc = await ServiceProcess(service_env(tmp_path, "http://127.0.0.1:9")).start()
    try:
        await svc.wait_for(r"exchange http://127\.0\.0\.1:9 unavailable: .*retrying")
    finally:
        code = await svc.stop(signal.SIGTERM)
    assert code == 0
    assert svc.count("Traceback") == 0


async def _db_counts(db: Path) -> tuple[int, int, str]:
    import aiosqlite

    async with aiosqlite.connect(db) as conn:
        events = (
            await (
                await conn.execute("SELECT count(*) FROM alert_events WHERE symbol = 'BTCUSDT'")
            ).fetchone()
        )[0]
        cycles = (await (await conn.execute("SELECT count(*) FROM cycles")).fetchone())[0]
        check = (await (await conn.execute("PRAGMA integrity_check")).fetchone())[0]
    return events, cycles, check


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
async def test_stop_mid_cycle_then_restart_commits_nothing_partial_and_alerts_once(
    tmp_path: Path, sig: int
) -> None:
    async with FakeBinance() as fake:
        lean_market(fake)
        env = service_env(tmp_path, fake.url)
        first = await ServiceProcess(env).start()
        try:
            await first.wait_for(r"cycle \d+: ok", n=2)
            # Make the next cycle hang in openInterest, move the market, and stop it while
            # it fetches. (Slowing every endpoint would not do: the cycle deadline, 80% of
            # the 1 s interval, would end it before it reached openInterest.)
            fake.fault(OPEN_INTEREST, "timeout", times=None, delay=5.0)
            stress_btc(fake)
            fake.reset_counters()
            await fake.wait_for_calls(OPEN_INTEREST, 1, within=10)
            code = await first.stop(sig)
        finally:
            await first.kill()
        fake.clear_faults()
        logged_cycles = first.count(r"cycle \d+: ")
        events, cycles, check = await _db_counts(tmp_path / "service.db")
        assert check == "ok"
        assert cycles == logged_cycles  # the interrupted cycle left no row behind
        if sig == signal.SIGTERM:
            assert code == 0 and first.count("abandoned the in-flight cycle") == 1

        second = await ServiceProcess(env).start()
        try:
            await second.wait_for("ALERT BTCUSDT", timeout=90)
            seen = second.count(r"cycle \d+: ")
            await second.wait_for(r"cycle \d+: ", n=seen + 2)
        finally:
            assert await second.stop() == 0
    total = first.count("ALERT BTCUSDT") + second.count("ALERT BTCUSDT")
    assert total == 1
    events, _, _ = await _db_counts(tmp_path / "service.db")
    assert events == 1


async def test_healthz_and_metrics(tmp_path: Path) -> None:
    import aiohttp

    port = free_port()
    async with FakeBinance() as fake:
        lean_market(fake)
        env = service_env(tmp_path, fake.url, PRESSUREBOT_HTTP__PORT=str(port))
        svc = await ServiceProcess(env).start()
        try:
            await svc.wait_for(r"cycle \d+: ok", n=1)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200
                    health = await resp.json()
                async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    assert resp.status == 200
                    metrics = await resp.text()
                # The web dashboard rides on the same server: its page and its API.
                async with http.get(f"http://127.0.0.1:{port}/") as resp:
                    assert resp.status == 200 and "text/html" in resp.content_type
                async with http.get(f"http://127.0.0.1:{port}/api/v1/top") as resp:
                    assert resp.status == 200
                    top = await resp.json()
        finally:
            assert await svc.stop() == 0
    assert health["status"] == "ok" and health["last_cycle_status"] == "ok"
    assert 'pressurebot_cycles_total{status="ok"}' in metrics
    assert "pressurebot_symbols_fetched 2.0" in metrics
    assert 'pressurebot_deliveries{status="pending"} 0.0' in metrics
    assert top["summary"]["symbols"] == 2 and len(top["rows"]) == 2
