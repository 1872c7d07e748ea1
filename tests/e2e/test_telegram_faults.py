"""`pressurebot run` as a subprocess while the fake Bot API fails the way Telegram does:
a real outage (every call answers 502 for a minute), a slow Bot API (250 ms round
trips) under kill -9, and a headless run that later gets a token."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from fakes.fake_binance import FakeBinance
from fakes.fake_telegram import FakeTelegram
from fakes.ports import free_port
from fakes.service_process import ServiceProcess, service_env
from tests.e2e.test_full_service import USER, alerts_to, bot_env, seed_subscribers
from tests.e2e.test_headless_service import lean_market, stress_btc

pytestmark = pytest.mark.slow(seconds=110)

ALERT_CYCLE = r"cycle \d+: ok, \d+/\d+ symbols, [1-9]\d* alerts"


async def scrape(port: int) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        assert resp.status == 200
        return await resp.text()


async def subscribe(svc: ServiceProcess, tg: FakeTelegram) -> None:
    await svc.wait_for(r"cycle \d+: ok", n=1)
    tg.push_message(USER, "/subscribe BTCUSDT")
    [reply] = await tg.wait_for_messages(USER, 1, timeout=15)
    assert "ubscribed" in reply.visible
    seen = svc.count(r"cycle \d+: ")
    await svc.wait_for(r"cycle \d+: ok", n=seen + 2)


@pytest.mark.timeout(300)  # the outage itself lasts a minute, recovery up to another
async def test_a_one_minute_outage_delays_the_push_but_never_loses_it(tmp_path: Path) -> None:
    """Telegram answers 502 to everything (sends and polling) for 60 s while BTC crosses
    into stressed. The push arrives exactly once, within a minute of recovery, says how
    long ago it happened, and the log has one line per cause instead of tracebacks."""
    outage = 60.0
    async with FakeBinance() as fake, FakeTelegram() as tg:
        lean_market(fake)
        svc = await ServiceProcess(bot_env(tmp_path, fake, tg)).start()
        try:
            await subscribe(svc, tg)
            tg.outage(outage)
            stress_btc(fake)
            await svc.wait_for(ALERT_CYCLE, timeout=90)
            assert tg.down, "the alert cycle came after the outage"
            await tg.wait_until(lambda: len(alerts_to(tg, USER)) >= 1, timeout=outage + 75)
            recovered = tg.down_until
            [alert] = [m for m in tg.messages_to(USER) if "→" in m.visible]
            seen = svc.count(r"cycle \d+: ")
            await svc.wait_for(r"cycle \d+: ", n=seen + 3)
        finally:
            code = await svc.stop(signal.SIGTERM)
    delay = alert.ts - recovered
    print(f"\n--- push {delay:.1f} s after recovery; {tg.outage_502s} calls got 502 ---")
    print(alert.visible)
    assert 0 <= delay <= 60.0
    assert len(alerts_to(tg, USER)) == 1
    assert "stressed" in alert.visible and " ago" in alert.visible
    assert code == 0
    log = "\n".join(svc.lines)
    assert "Traceback" not in log
    assert svc.count("telegram unreachable") == 1
    assert svc.count("telegram reachable again") == 1
    polling = svc.count("polling for updates failed: NetworkError: Bad Gateway")
    assert 1 <= polling <= 15, polling  # PTB backs off 1 s, 1.5 s, ... up to 30 s
    with sqlite3.connect(tmp_path / "service.db") as conn:
        rows = conn.execute("SELECT status, attempts FROM deliveries").fetchall()
    assert [s for s, _ in rows] == ["sent"] and rows[0][1] > 5  # more than max_send_attempts


async def test_alerts_past_the_expiry_are_dropped_counted_and_not_sent(tmp_path: Path) -> None:
    port = free_port()
    async with FakeBinance() as fake, FakeTelegram() as tg:
        lean_market(fake)
        env = bot_env(tmp_path, fake, tg)
        env.update(
            PRESSUREBOT_HTTP__PORT=str(port),
            PRESSUREBOT_TELEGRAM__DELIVERY_EXPIRY_HOURS="0.001",  # 3.6 s
            PRESSUREBOT_TELEGRAM__RETRY_BACKOFF_MAX_SECONDS="2",
        )
        svc = await ServiceProcess(env).start()
        try:
            await subscribe(svc, tg)
            tg.outage(12)
            stress_btc(fake)
            await svc.wait_for(ALERT_CYCLE, timeout=90)
            await svc.wait_for(r"dropped 1 deliveries older than 0\.0 h \(stale\)", timeout=90)
            await tg.wait_until(lambda: not tg.down, timeout=90)
            seen = svc.count(r"cycle \d+: ")
            await svc.wait_for(r"cycle \d+: ", n=seen + 3)
            metrics = await scrape(port)
        finally:
            assert await svc.stop(signal.SIGTERM) == 0
    assert alerts_to(tg, USER) == []
    assert "pressurebot_deliveries_dropped_stale_total 1.0" in metrics
    assert 'pressurebot_deliveries{status="dropped"} 1.0' in metrics
    with sqlite3.connect(tmp_path / "service.db") as conn:
        rows = conn.execute("SELECT status, reason FROM deliveries").fetchall()
    assert rows == [("dropped", "stale")]


async def test_a_token_added_after_a_headless_run_sends_no_backlog(tmp_path: Path) -> None:
    async with FakeBinance() as fake, FakeTelegram() as tg:
        lean_market(fake)
        headless_env = service_env(tmp_path, fake.url)
        seed_subscribers(tmp_path / "service.db", range(USER, USER + 3))

        headless = await ServiceProcess(headless_env).start()
        try:
            await headless.wait_for(r"cycle \d+: ok", n=2)
            stress_btc(fake)
            await headless.wait_for("ALERT BTCUSDT lean -> stressed")
        finally:
            assert await headless.stop(signal.SIGTERM) == 0
        with sqlite3.connect(tmp_path / "service.db") as conn:
            queued = conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        assert queued == 0, "headless mode queued deliveries nobody could send"

        bot = await ServiceProcess(bot_env(tmp_path, fake, tg)).start()
        try:
            await bot.wait_for(r"cycle \d+: ok", n=3)
            await bot.wait_for("telegram bot @")
        finally:
            assert await bot.stop(signal.SIGTERM) == 0
    assert tg.sent == []
