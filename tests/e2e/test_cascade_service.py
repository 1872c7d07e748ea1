"""A liquidation cascade, end to end: `pressurebot run` against the Bybit REST and stream
fakes and the fake Telegram Bot API. A 1,000-event burst of long liquidations on one
symbol reaches every `liquidations` subscriber exactly once, and keeps doing so however
many cycles the cascade stays on (docs/alerts.md, "Cascades").

The store starts with 26 hours of full stream coverage and a quiet normal ($10k an hour)
for BTCUSDT, as a service that has been running would have: without covered history
there is no "x normal", and no cascade alert (bot/alerts/cascade.py)."""

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
from fakes.fake_telegram import FakeTelegram
from fakes.service_process import ServiceProcess, service_env, venues_env
from tests.e2e.service_db import read_until
from tests.test_scan_venues import _set_up

pytestmark = pytest.mark.slow

PER_SYMBOL = (3001, 3002, 3003)
MARKET_WIDE = 3004
BOTH = 3005  # per-symbol and market-wide: still one push
BANDS_ONLY = 3006  # asked for no cascades
MINUTE = 60_000
# The loop's line for a whole cycle (with several venues, after the aggregate's).
LOOP_CYCLE = r"cycle \d+: \w+, \d+/\d+ symbols, \d+ alerts"
HOUR = 3_600_000


BYBIT_ONLY = (("bybit", "BTCUSDT"),)


def seed(
    db: Path,
    now_ms: int,
    *,
    recent: bool = True,
    keys: tuple[tuple[str, str], ...] = BYBIT_ONLY,
    view: tuple[str, str] = ("bybit", "BTCUSDT"),
) -> None:
    """Coverage of each venue in `keys` for every minute of the last 26 hours (and the
    next few; with `recent` False, none for the last 20 minutes: the stream was down),
    $10k of liquidations an hour per (venue, symbol), and the chats with their
    subscriptions on `view` (exchange, symbol)."""
    first = now_ms - now_ms % MINUTE - 26 * HOUR
    last = now_ms + 10 * MINUTE if recent else now_ms - now_ms % MINUTE - 20 * MINUTE
    minutes = range(first, last, MINUTE)
    hours = range(first - first % HOUR, now_ms - now_ms % HOUR, HOUR)
    exchange, symbol = view
    subs = [(c, symbol, "liquidations") for c in (*PER_SYMBOL, BOTH)]
    subs += [(c, "*", "liquidations") for c in (MARKET_WIDE, BOTH)]
    subs += [(BANDS_ONLY, symbol, "bands")]
    venues = sorted({v for v, _ in keys})
    chats = {c for c, _, _ in subs}
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO liq_coverage (venue, minute_ms, epoch, live_ms) VALUES (?, ?, 0, ?)",
            [(v, m, MINUTE) for v in venues for m in minutes],
        )
        conn.executemany(
            "INSERT INTO liq_buckets (venue, symbol, side, minute_ms, epoch, usd, qty, events)"
            " VALUES (?, ?, 'short', ?, 0, 10000.0, 0.2, 1)",
            [(v, sym, h) for v, sym in keys for h in hours],
        )
        conn.executemany(
            "INSERT INTO chats (id, type, active, min_band, direction, created_ms)"
            " VALUES (?, 'private', 1, 'stretched', 'both', ?)",
            [(c, now_ms) for c in sorted(chats)],
        )
        conn.executemany(
            "INSERT INTO subscriptions (chat_id, exchange, symbol, kind, created_ms)"
            " VALUES (?, ?, ?, ?, ?)",
            [(c, exchange, sym, kind, now_ms) for c, sym, kind in subs],
        )


def cascades_to(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [m.visible for m in tg.messages_to(chat_id) if "cascade" in m.visible]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("covered", [True, False], ids=["covered", "stream-was-down"])
async def test_a_1000_event_burst_is_one_cascade_alert_per_subscriber(
    tmp_path: Path, covered: bool
) -> None:
    """Covered: one push per subscriber. The stream down for most of the window (its
    coverage < 90%): the same burst pushes nothing, however many cycles follow."""
    ly = FakeBybitLiq()
    await ly.start()
    try:
        async with FakeBybit() as fy, FakeTelegram() as tg:
            # 50,000 BTC open at ~$50k: $2.5B of OI; the burst is 1,000 x 1 BTC = $50M, 2%.
            fy.add_symbol("BTCUSDT", mark=50_000.0, index=50_000.0, funding_rate=0.0001, oi=5e4)
            env = service_env(
                tmp_path,
                fy.url,
                PRESSUREBOT_EXCHANGE__VENUES='["bybit"]',
                PRESSUREBOT_EXCHANGE__BYBIT_BASE_URL=fy.url,
                PRESSUREBOT_TELEGRAM__TOKEN=tg.token,
                PRESSUREBOT_TELEGRAM__BASE_URL=tg.base_url,
                PRESSUREBOT_TELEGRAM__POLL_TIMEOUT_SECONDS="1",
                PRESSUREBOT_LIQUIDATIONS__ENABLED="true",
                PRESSUREBOT_LIQUIDATIONS__BYBIT_WS_URL=ly.url,
            )
            seed(tmp_path / "service.db", int(time.time() * 1000), recent=covered)

            svc = await ServiceProcess(env).start()
            try:
                await svc.wait_for("bybit liquidations: live")
                await ly.wait(lambda f: "allLiquidation.BTCUSDT" in f.subscribed())
                await svc.wait_for(r"cycle \d+: ok", n=2)
                assert not tg.sent  # a quiet market: nothing to say
                now = int(time.time() * 1000)
                burst = [Liq("BTCUSDT", "long", 1.0, 50_000.0, now + i % 500) for i in range(1000)]
                for i in range(0, 1000, 250):  # four 500 ms snapshots
                    await ly.push(burst[i : i + 250])
                wanted = (*PER_SYMBOL, MARKET_WIDE, BOTH)
                if covered:
                    await tg.wait_until(
                        lambda: all(cascades_to(tg, c) for c in wanted), timeout=120
                    )
                else:  # every event stored, then cycles that saw them
                    await svc.wait_for(r"cycle \d+: ", n=svc.count(r"cycle \d+: ") + 1)
                    await read_until(
                        lambda: _stored_longs(tmp_path / "service.db"),
                        lambda n: n >= 1000,
                        timeout=30,
                    )
                # The cascade stays on for the next cycles: no repeat.
                seen = svc.count(r"cycle \d+: ")
                await svc.wait_for(r"cycle \d+: ", n=seen + 5)
            finally:
                code = await svc.stop(signal.SIGTERM)
    finally:
        await ly.stop()
    assert code == 0
    assert svc.count("Traceback") == 0
    assert _stored_longs(tmp_path / "service.db") == 1000
    if not covered:
        assert not tg.sent
        return
    assert {c: len(cascades_to(tg, c)) for c in wanted} == dict.fromkeys(wanted, 1)
    assert not tg.messages_to(BANDS_ONLY)
    [push] = cascades_to(tg, PER_SYMBOL[0])
    assert "longs liquidated $50.00M" in push
    assert "2.00% of OI" in push and "× normal" in push
    assert "not a forecast" in push
    assert "partial" not in push  # the window was fully covered
    with sqlite3.connect(tmp_path / "service.db") as conn:
        events = conn.execute(
            "SELECT direction, side FROM alert_events WHERE kind = 'liquidations'"
        ).fetchall()
    assert events == [("enter", "long")]


def _stored_longs(db: Path) -> int:
    """Long liquidations the live stream stored (the seeded history is epoch 0)."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT SUM(events) FROM liq_buckets WHERE epoch > 0 AND side = 'long'"
        ).fetchone()
    return int(row[0] or 0)


@pytest.mark.timeout(240)
async def test_across_venues_the_coin_is_judged_on_its_venues_summed(tmp_path: Path) -> None:
    """Three venues: the aggregate ("all", keyed by coin) sums the venues' sides, normals
    and OI, so a burst on Bybit alone is a cascade of BTC, pushed once to the coin's
    subscribers."""
    streams = (FakeBinanceLiq(), FakeBybitLiq(), FakeOkxLiq())
    for fake in streams:
        await fake.start()
    lb, ly, lo = streams
    try:
        async with FakeBinance() as fb, FakeBybit() as fy, FakeOkx() as fo, FakeTelegram() as tg:
            _set_up(fb, fy, fo)  # about $6.5B of BTC OI across the three
            env = venues_env(
                tmp_path,
                fb.url,
                fy.url,
                fo.url,
                PRESSUREBOT_TELEGRAM__TOKEN=tg.token,
                PRESSUREBOT_TELEGRAM__BASE_URL=tg.base_url,
                PRESSUREBOT_TELEGRAM__POLL_TIMEOUT_SECONDS="1",
                PRESSUREBOT_LIQUIDATIONS__ENABLED="true",
                PRESSUREBOT_LIQUIDATIONS__BINANCE_WS_URL=lb.url,
                PRESSUREBOT_LIQUIDATIONS__BYBIT_WS_URL=ly.url,
                PRESSUREBOT_LIQUIDATIONS__OKX_WS_URL=lo.url,
            )
            keys = (("binance", "BTCUSDT"), ("bybit", "BTCUSDT"), ("okx", "BTC-USDT-SWAP"))
            seed(tmp_path / "service.db", int(time.time() * 1000), keys=keys, view=("all", "BTC"))
            svc = await ServiceProcess(env).start()
            try:
                await ly.wait(lambda f: "allLiquidation.BTCUSDT" in f.subscribed())
                await svc.wait_for(LOOP_CYCLE, n=2)
                now = int(time.time() * 1000)
                await ly.push([Liq("BTCUSDT", "long", 1.0, 50_000.0, now)] * 1000)
                wanted = (*PER_SYMBOL, MARKET_WIDE, BOTH)
                await tg.wait_until(lambda: all(cascades_to(tg, c) for c in wanted), timeout=120)
                seen = svc.count(LOOP_CYCLE)
                await svc.wait_for(LOOP_CYCLE, n=seen + 3)
            finally:
                code = await svc.stop(signal.SIGTERM)
    finally:
        for fake in streams:
            await fake.stop()
    assert code == 0
    assert {c: len(cascades_to(tg, c)) for c in wanted} == dict.fromkeys(wanted, 1)
    [push] = cascades_to(tg, PER_SYMBOL[0])
    assert push.startswith("🌊 BTC cascade: longs liquidated $50.00M in the last 15 min")
    assert "sample" in push  # Binance counts in the aggregate
    assert svc.count("Traceback") == 0
